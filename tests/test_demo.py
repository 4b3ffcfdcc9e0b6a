"""The README's demo runs as a real process on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).parent.parent / "examples" / "demo.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_prints_the_changes_and_the_expiry(backend: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(DEMO), backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    feed = [line.split()[1:3] for line in lines if line.strip().startswith("feed")]
    assert feed == [
        ["SetChange", "user:1"],
        ["SetChange", "session:42"],
        ["SetChange", "user:1"],
        ["DeleteChange", "user:1"],
        ["ExpireChange", "session:42"],
    ]
    assert any("callback  ExpireChange  session:42" in line for line in lines)
    assert "state now: []" in done.stdout
