"""The code examples in README.md and docs/*.md: every one is complete and runs.

Every ``python`` block is one of:

- a **program** (the default): it runs as a child process (``python -W
  error``) in a scratch directory and must exit 0 with nothing on stderr;
- a **test module** (it defines ``test_`` functions): pytest runs it, with
  warnings as errors, and it must pass;
- a **notebook cell**: the README's "In a notebook" section, run cell by
  cell in a real kernel by ``tests/test_notebook.py``, and in docs/*.md a
  block with a top-level ``await``: a page's cells run in order in one
  kernel (``test_every_pages_notebook_cells_run_in_a_kernel``);
- **not run**, only where the line before the block says why
  (``<!-- not run: ... -->``): it needs what the tests cannot start. It
  must still compile.

Redis examples take their URL from one environment variable,
``PEPPERFLOW_REDIS_URL``, with a default; the tests set it to the session's
private server. A ``rediss://`` example shows the URL a reader would write
as the default of ``PEPPERFLOW_REDIS_TLS_URL``, which the tests set to the
same URL on a private TLS server of theirs (:mod:`tests.support.tls_examples`).
Every block also compiles (a syntax error names its line).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support.kernel import WARNINGS_AS_ERRORS, execute, notebook_of
from tests.support.redis_server import RedisServer
from tests.support.tls_examples import TLSServers, example_env, tls_url_default

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_TEST_MODULE = re.compile(r"^(async )?def test_", re.M)
_NOT_RUN = re.compile(r"<!-- not run: [^>]+ -->\n$")
#: The one way an example names its Redis server.
REDIS_URL = 'os.environ.get("PEPPERFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")'


class Block(NamedTuple):
    where: str  # file:line
    code: str
    kind: str  # "program", "test module", "notebook cell" or "not run"


def _notebook_section(doc: Path, text: str) -> range:
    """Where the README's notebook session is (tests/test_notebook.py runs it)."""
    start = text.find("\n## In a notebook\n") if doc.name == "README.md" else -1
    if start < 0:
        return range(0)
    end = text.find("\n## ", start + 1)
    return range(start, end if end >= 0 else len(text))


def _awaits_at_top(code: str) -> bool:
    """Whether ``code`` is a cell: it compiles only with a top-level ``await``."""
    try:
        compile(code, "<cell>", "exec", dont_inherit=True)
    except SyntaxError:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        compile(code, "<cell>", "exec", flags=flags, dont_inherit=True)
        return True
    return False


def _blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        cells = _notebook_section(doc, text)
        for match in _BLOCK.finditer(text):
            where = f"{doc.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 2}"
            code = match.group(1)
            if match.start() in cells or (doc.name != "README.md" and _awaits_at_top(code)):
                kind = "notebook cell"
            elif _NOT_RUN.search(text, 0, match.start()):
                kind = "not run"
            elif _TEST_MODULE.search(code):
                kind = "test module"
            else:
                kind = "program"
            found.append(Block(where, code, kind))
    return found


BLOCKS = _blocks()


def _of(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind == kind]


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServers]:
    """The private TLS servers of the ``rediss://`` examples, started when one runs."""
    with TLSServers.running(tmp_path_factory.mktemp("tls")) as servers:
        yield servers


def _run(
    command: list[str], cwd: Path, redis_server: RedisServer, env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess[str]:
    redis_server.ensure_running()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEPPERFLOW_REDIS_URL": redis_server.url, **env}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _tls_env(block: Block, request: pytest.FixtureRequest) -> dict[str, str]:
    """What runs ``block`` on a private TLS server, if it names one; else nothing."""
    default = tls_url_default(block.code)
    if default is None:
        return {}
    return example_env(default, request.getfixturevalue("tls_servers"))


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_example_compiles(block: Block) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if block.kind == "notebook cell" else 0
    compile(block.code, block.where, "exec", flags=flags, dont_inherit=True)


PROGRAMS = _of("program")


@pytest.mark.parametrize("block", PROGRAMS, ids=[block.where for block in PROGRAMS])
def test_every_program_runs(
    block: Block, tmp_path: Path, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    env = _tls_env(block, request)
    result = _run([sys.executable, "-W", "error", str(script)], tmp_path, redis_server, env)
    assert result.returncode == 0 and not result.stderr, (
        f"{block.where} failed (exit {result.returncode}):\n{result.stderr}"
    )


TEST_MODULES = _of("test module")


@pytest.mark.parametrize("block", TEST_MODULES, ids=[block.where for block in TEST_MODULES])
def test_every_test_module_passes(block: Block, tmp_path: Path, redis_server: RedisServer) -> None:
    (tmp_path / "test_example.py").write_text(block.code, encoding="utf-8")
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"]
    result = _run([*pytest_run, "test_example.py"], tmp_path, redis_server)
    assert result.returncode == 0, f"{block.where} failed:\n{result.stdout}{result.stderr}"


def test_the_notebook_cells_are_the_ones_tests_notebook_runs() -> None:
    from tests.test_notebook import readme_session

    readme = [block for block in _of("notebook cell") if block.where.startswith("README.md:")]
    cells = [block.code.rstrip("\n") for block in readme]
    assert cells == [cell.source for cell in readme_session()]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_redis_examples_take_the_url_from_one_variable(block: Block) -> None:
    rest = block.code.replace(REDIS_URL, "REDIS_URL")
    assert "127.0.0.1:6379" not in rest and "localhost:6379" not in rest, (
        f"{block.where}: take the Redis URL from {REDIS_URL}"
    )


PAGES = sorted({block.where.split(":")[0] for block in _of("notebook cell")} - {"README.md"})


@pytest.mark.parametrize("page", PAGES)
def test_every_pages_notebook_cells_run_in_a_kernel(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    monkeypatch.setenv("PEPPERFLOW_REDIS_URL", redis_server.url)
    sources = [b.code for b in _of("notebook cell") if b.where.split(":")[0] == page]
    notebook = notebook_of([WARNINGS_AS_ERRORS, *sources])
    execute(notebook, tmp_path, monkeypatch)  # a cell that raises fails it
    for cell in notebook.cells:
        for output in cell.outputs:
            assert output.output_type != "stream" or output.name != "stderr", output.text
