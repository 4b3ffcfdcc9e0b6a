"""The wheel and the sdist build, pass ``twine check --strict``, and hold what users need.

``python -m build`` (with the build backend installed in the environment,
no download) builds both into a temporary directory as a real process; then
what a user of the package would look for is checked in the files: the
license, the project URLs, ``py.typed`` for type checkers, and the docs the
docstrings and error messages point to (``docs/*.md``) in the sdist.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    subprocess.run(build, capture_output=True, text=True, timeout=300, check=True)
    return out


def _one(dist: Path, pattern: str) -> Path:
    [found] = dist.glob(pattern)
    return found


def test_twine_check_strict_passes_on_the_wheel_and_the_sdist(dist: Path) -> None:
    files = [str(_one(dist, "*.whl")), str(_one(dist, "*.tar.gz"))]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_ships_the_license_the_urls_and_py_typed(dist: Path) -> None:
    with zipfile.ZipFile(_one(dist, "*.whl")) as wheel:
        names = set(wheel.namelist())
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(wheel.read(metadata).decode("utf-8"))
    assert "pepperflow/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert fields["License-Expression"] == "MIT"
    urls = dict(url.split(", ", 1) for url in fields.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
    assert not any(name.startswith(("tests/", "docs/")) for name in names)


def test_the_sdist_ships_the_docs_the_docstrings_point_to(dist: Path) -> None:
    with tarfile.open(_one(dist, "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    docs = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert docs <= names, f"missing from the sdist: {sorted(docs - names)}"
    assert {"LICENSE", "README.md", "mkdocs.yml", "pepperflow/py.typed"} <= names
