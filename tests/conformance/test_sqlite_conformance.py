"""SqliteStore passes the public conformance suite, check by check."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pepperflow.stores.sqlite import SqliteStore
from pepperflow.testing import STORE_CHECKS, StoreCheck
from tests.conformance import CHECK_IDS

pytestmark = pytest.mark.anyio

_files = itertools.count()


@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_sqlite_store(check: StoreCheck, tmp_path: Path) -> None:
    await check(lambda: SqliteStore(tmp_path / f"store-{next(_files)}.db"))


@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_sqlite_store_namespaces_of_one_file(check: StoreCheck, tmp_path: Path) -> None:
    """Many stores in one file: each namespace behaves as a store of its own."""
    path = tmp_path / "shared.db"
    await check(lambda: SqliteStore(path, namespace=f"ns{next(_files)}"))
