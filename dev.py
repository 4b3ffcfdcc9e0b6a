#!/usr/bin/env python3
"""pepperflow's developer commands; needs only Python 3.11+ and pip.

    python3 dev.py demo     run the demo (examples/demo.py)
    python3 dev.py test     ruff, mypy --strict and the whole test suite, with coverage
    python3 dev.py bench    the benchmarks in bench/

Each command first creates ``.venv`` and installs pepperflow with its
``dev`` extra there (again only when pyproject.toml changed). ``test`` also
needs ``redis-server`` (the Redis tests start private servers); when it is
missing and this runs as root on Debian, it is installed with apt-get.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)


def ensure_venv(extra: str) -> None:
    """Create .venv and install pepperflow[extra] unless already done."""
    if not PYTHON.exists():
        created = subprocess.run([sys.executable, "-m", "venv", VENV]).returncode == 0
        if not created or not (BIN / "pip").exists():
            # Debian's python3 without python3-venv has no ensurepip: make the
            # venv without pip and install into it with this Python's pip.
            shutil.rmtree(VENV, ignore_errors=True)
            run(sys.executable, "-m", "venv", "--without-pip", VENV)
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if (BIN / "pip").exists():
        pip = [PYTHON, "-m", "pip"]
    else:
        pip = [sys.executable, "-m", "pip", "--python", PYTHON]
    run(*pip, "install", "--quiet", "--disable-pip-version-check", "-e", f".[{extra}]")
    stamp.write_text(digest)


def ensure_redis_server() -> None:
    if shutil.which("redis-server"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "redis-server", env=env)
        return
    sys.exit(
        "the tests need redis-server (they start private servers on loopback);"
        " install it, e.g. `sudo apt-get install redis-server`, then run again"
    )


def demo() -> None:
    ensure_venv("dev")
    run(PYTHON, "examples/demo.py")


def test() -> None:
    ensure_venv("dev")
    ensure_redis_server()
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    # Statement and branch coverage of pepperflow (the tests' own processes;
    # child processes are not measured), reported after the tests.
    run(PYTHON, "-m", "pytest", "-q", "--cov", "--cov-report=term", *sys.argv[2:])


def bench() -> None:
    ensure_venv("dev")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        run(PYTHON, script, *sys.argv[2:])


COMMANDS = {"demo": demo, "test": test, "bench": bench}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
