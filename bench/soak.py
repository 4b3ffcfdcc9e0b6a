"""The soak: two processes writing and subscribing to one store, with faults, for minutes.

    python bench/soak.py [--seconds 180] [--backend both] [--loop both] [--interval 5]
                         [--faults NAME,...] [--keep DIR] [--json]

For each backend (SQLite, Redis) and each event loop (asyncio, trio), one
run of ``--seconds`` divided by the number of runs: two child processes
open the same store (a SQLite file in a temporary directory; a private,
durable ``redis-server`` on a free port of 127.0.0.1, append-only file with
fsync always) and each runs five writer tasks (set, set_many, delete, sets
with a ttl, compare-and-set increments) and five subscribers (a callback,
an async callback, two ``changes(replay=True)`` feeds, one with a buffer of
8, and a ``subscribe_async`` observer), while the parent injects faults:

- Redis: ``CLIENT KILL`` of every client connection, ``kill -9`` and
  ``SHUTDOWN NOSAVE`` of the server, each restarted a second later with its
  append-only file;
- SQLite: child B killed with SIGKILL and started again (in the first
  quarter), another connection holding the write lock for 2 s (later).

Then the writers stop and, once the store is quiet, every subscriber's
state (its replay, then :func:`pepperflow.streams.events.apply` of every
change it received) must equal the store's snapshot, and both children's
snapshots must agree; the compare-and-set counters must hold every
acknowledged increment; a writer may fail only with the errors a fault
explains. Prints, per run and every interval, each process's writes per
second (a ``set_many`` counts as one), its RSS, how many changes its
subscribers are behind the newest ``seq``, its slowest write (one still in
flight counts for as long as it has been), and the server's RSS or the
file's size; then the faults, whether memory grew once steady (the last
third's mean RSS against the middle third's) and the findings. ``--json``
prints the reports as JSON instead. Exits 1 when a run has a finding, 0
otherwise. ``--faults`` picks faults by name (see ``--help``), ``--keep``
keeps each run's directory (the SQLite file, the children's stderr).
Linux only (RSS from ``/proc``); results: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

import anyio
import msgspec
from _soak.faults import FAULTS
from _soak.parent import soak
from _soak.protocol import Backend, Loop
from _soak.report import RunReport


def render(report: RunReport) -> str:
    """The run as a table and a few lines."""
    slots = sorted({slot for row in report.intervals for slot in row.writes})
    store = "server MiB" if report.backend == "redis" else "file MiB"
    lines = [
        f"{report.backend} on {report.loop}: {report.seconds:g} s of writing,"
        f" {len(slots)} processes (whole run {report.wall:g} s)",
        "  ".join(
            [
                f"{'t (s)':>6}",
                *(f"{s + ' w/s':>8}" for s in slots),
                "all w/s".rjust(8),
                *(f"{s + ' MiB':>6}" for s in slots),
                *(f"{s + ' lag':>7}" for s in slots),
                *(f"{s + ' max s':>7}" for s in slots),
                f"{store:>10}",
                "faults",
            ]
        ),
    ]
    for row in report.intervals:
        cells = [f"{row.end:6.1f}", *(f"{row.writes.get(s, 0):8.0f}" for s in slots)]
        cells.append(f"{sum(row.writes.values()):8.0f}")
        cells += [f"{row.rss_mib[s]:6.1f}" if s in row.rss_mib else f"{'-':>6}" for s in slots]
        cells += [f"{row.lag[s]:7}" if s in row.lag else f"{'-':>7}" for s in slots]
        cells += [f"{row.slowest[s]:7.2f}" if s in row.slowest else f"{'-':>7}" for s in slots]
        cells += [f"{row.store_mib:10.1f}", ", ".join(row.faults)]
        lines.append("  ".join(cells).rstrip())
    lines.append("writes: " + _counts(report.writes) + f" (total {sum(report.writes.values()):,})")
    lines.append("failed writes: " + (_counts(report.errors) or "none"))
    lines.append("log records: " + (_counts(report.logged) or "none"))
    lines += [f"fault at {f.at:g} s: {f.said} ({f.took:g} s)" for f in report.faults]
    lines += [_memory_line(report)]
    for verdict in report.verdicts:
        good = sum(sub.ok for sub in verdict.subscribers)
        received = sum(sub.received for sub in verdict.subscribers)
        lines.append(
            f"child {verdict.slot}: {good}/{len(verdict.subscribers)} subscribers equal to the"
            f" snapshot (seq {verdict.seq:,}, {verdict.keys} keys, digest {verdict.digest});"
            f" {received:,} changes received; quiet after {verdict.waited:g} s"
        )
    lines += [f"FINDING: {problem}" for problem in report.problems]
    lines.append("PASS" if report.ok else "FAIL")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))


def _memory_line(report: RunReport) -> str:
    parts = []
    for m in report.memory:
        if m.grew is None:
            parts.append(f"{m.slot}: not judged (its last life missed the middle third)")
        else:
            verdict = "GREW" if m.grew else "steady"
            parts.append(
                f"{m.slot}: {m.middle_mib:.1f} -> {m.last_mib:.1f} ({m.growth_mib:+.1f}) {verdict}"
            )
    return "memory, mean RSS MiB of the middle third -> the last third: " + "; ".join(parts)


def main() -> int:
    faults = "; ".join(
        f"{backend}: " + ", ".join(f"{name} ({what})" for name, what in named.items())
        for backend, named in FAULTS.items()
    )
    parser = argparse.ArgumentParser(
        description="Soak pepperflow's SQLite and Redis stores: two processes, faults, checks.",
        epilog=f"Faults: {faults}. Exits 1 when a run has a finding. See docs/reliability.md.",
    )
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="total writing time, shared by the runs (180)"
    )
    parser.add_argument("--backend", choices=[*get_args(Backend), "both"], default="both")
    parser.add_argument("--loop", choices=[*get_args(Loop), "both"], default="both")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (5)")
    parser.add_argument(
        "--faults",
        type=lambda names: frozenset(names.split(",")) - {""},
        help="only these faults, comma-separated (all by default; none: --faults '')",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each run's directory (SQLite file, children's stderr) under this one",
    )
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args()
    unknown = (args.faults or frozenset()).difference(*FAULTS.values())
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; see the list below --help")
    backends: list[Backend] = list(get_args(Backend)) if args.backend == "both" else [args.backend]
    loops: list[Loop] = list(get_args(Loop)) if args.loop == "both" else [args.loop]
    runs = [(backend, loop) for backend in backends for loop in loops]
    seconds = args.seconds / len(runs)
    if seconds < 3 * args.interval:
        parser.error(f"{seconds:g} s per run is less than three intervals of {args.interval:g} s")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    reports = []
    for backend, loop in runs:
        print(f"soak: {backend} on {loop} for {seconds:g} s ...", file=sys.stderr, flush=True)
        report = anyio.run(
            soak, backend, loop, seconds, args.interval, args.faults, args.keep, backend=loop
        )
        reports.append(report)
        if not args.json:
            print(render(report), end="\n\n", flush=True)
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(reports)).decode())
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
