"""SqliteStore passes the public conformance suite, check by check.

``reopen`` opens the same file and namespace again: the checks of a
restart, of another store object following the writes, and of schema
evolution across store objects.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from pepperflow.stores.base import Store
from pepperflow.stores.sqlite import SqliteStore
from pepperflow.testing import STORE_CHECKS, StoreCheck, StoreFactory
from tests.conformance import CHECK_IDS, skip_if_untyped, takes_types

pytestmark = pytest.mark.anyio

_files = itertools.count()


def reopen(store: Store[Any], **options: Any) -> SqliteStore[Any]:
    """A new SqliteStore over the file and namespace of ``store``."""
    assert isinstance(store, SqliteStore)
    return SqliteStore(store.path, namespace=store.name, **options)


@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_sqlite_store(check: StoreCheck, tmp_path: Path) -> None:
    skip_if_untyped(check, SqliteStore)
    await check(
        StoreFactory(
            lambda **options: SqliteStore(tmp_path / f"store-{next(_files)}.db", **options),
            reopen,
            takes_types(SqliteStore),
        )
    )


@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_sqlite_store_namespaces_of_one_file(check: StoreCheck, tmp_path: Path) -> None:
    """Many stores in one file: each namespace behaves as a store of its own."""
    skip_if_untyped(check, SqliteStore)
    path = tmp_path / "shared.db"
    await check(
        StoreFactory(
            lambda **options: SqliteStore(path, namespace=f"ns{next(_files)}", **options),
            reopen,
            takes_types(SqliteStore),
        )
    )
