"""The documentation site builds with warnings as errors, and has what a reader looks for.

``mkdocs build --strict`` runs as a real process into a temporary directory:
a broken link or anchor, a page left out of the nav, or a docstring the API
reference cannot parse fails the build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    # Material's notice about MkDocs 2.0 is a banner, not a build warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr}"
    return out


def test_the_site_builds_strict_with_every_page(site: Path) -> None:
    pages = {page.stem for page in (ROOT / "docs").glob("*.md")} - {"index"}
    built = {page.parent.name for page in site.glob("*/index.html")}
    assert pages <= built, f"pages not built: {sorted(pages - built)}"


def test_the_api_reference_is_generated_from_the_docstrings(site: Path) -> None:
    reference = (site / "reference" / "pepperflow" / "index.html").read_text(encoding="utf-8")
    for name in ["open_store", "StateManagerFactory", "MemoryManager", "DefaultResourceManager"]:
        assert f'id="pepperflow.{name}"' in reference, name
    stores = (site / "reference" / "stores" / "index.html").read_text(encoding="utf-8")
    assert 'id="pepperflow.stores.VersionConflict"' in stores
    assert ":class:<code>" not in stores  # Sphinx roles became references (docs/_site/hooks.py)


def test_the_guide_names_every_api_in_one_table(site: Path) -> None:
    guide = (site / "which-api" / "index.html").read_text(encoding="utf-8")
    assert guide.count("<table>") == 1
    for api in [
        "Store",
        "MemoryManager",
        "StateManager",
        "UnifiedStorageManager",
        "ProviderManager",
        "ResourceManager",
    ]:
        assert f"<code>{api}</code>" in guide, api
