"""MemoryStore passes the public conformance suite, check by check.

MemoryStore is neither persistent nor shared: the checks across store
objects (restart, another reader, schema evolution across a restart) have
no ``reopen`` and check only what applies (schema evolution through
``restore``).
"""

from __future__ import annotations

import pytest

from pepperflow.stores import MemoryStore
from pepperflow.testing import STORE_CHECKS, StoreCheck, check_store
from tests.conformance import CHECK_IDS

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_memory_store(check: StoreCheck) -> None:
    await check(MemoryStore)


async def test_check_store_runs_every_check() -> None:
    await check_store(lambda: MemoryStore("whole-suite"))


async def test_check_store_runs_the_typed_checks_when_make_store_takes_a_type() -> None:
    await check_store(lambda **options: MemoryStore("typed-suite", **options))
