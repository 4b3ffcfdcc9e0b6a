"""How a benchmark draws how a cost grows: one SVG per figure, next to its table.

Every bench script that measures a cost at several scales calls :func:`plot`
with its rows; the SVG goes to ``docs/img/`` and docs/performance.md shows it
beside the table printed by the same run. matplotlib (the ``bench`` extra)
draws it, headless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["IMAGES", "plot"]

#: Where the figures go: docs/performance.md links them from here.
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "img"


def plot(
    name: str,
    title: str,
    xlabel: str,
    ylabel: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    logx: bool = True,
    logy: bool = False,
) -> Path:
    """Draw one line per series (label -> (x, y) points) to ``docs/img/NAME.svg``.

    Returns the file's path. The x axis is logarithmic by default, as scales
    here grow by factors of ten.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for label, points in series.items():
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        ax.plot(xs, ys, marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.svg"
    # A fixed hash salt and no date keep the SVG the same for the same figures.
    plt.rcParams["svg.hashsalt"] = "pepperflow"
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path
