"""``check_store``: every check of the store contract, in the order of
:data:`STORE_CHECKS`, against stores from one ``make_store``.
"""

from __future__ import annotations

from ._bad_input import check_bad_keys, check_bad_ttl, check_unencodable_values
from ._basics import (
    check_basic_operations,
    check_compare_and_set,
    check_concurrent_compare_and_set,
    check_entry_bookkeeping,
    check_many,
    check_value_round_trip,
)
from ._feeds import (
    check_feed_ends_on_close,
    check_feed_live_and_replay,
    check_feed_overflow,
    check_feed_replay_under_writes,
)
from ._patterns import check_clear, check_patterns, check_scan_many
from ._properties import check_fold_property
from ._subscriptions import check_cancelled_writer, check_subscriber_writes, check_subscribers
from ._support import MakeStore, StoreCheck
from ._ttl import (
    check_expire_exactly_once,
    check_ttl_active,
    check_ttl_never_returned,
    check_ttl_replaced,
)
from ._whole import check_closed_store, check_snapshot_restore, check_statistics

#: Every check of the store contract, in the order :func:`check_store` runs
#: them: single keys first, then patterns, TTLs, subscribers, feeds, the
#: store as a whole, and last the property test that mixes them all. Each is
#: ``async def check_<name>(make_store) -> None``.
STORE_CHECKS: tuple[StoreCheck, ...] = (
    # reads, writes, values and versions
    check_basic_operations,
    check_value_round_trip,
    check_entry_bookkeeping,
    check_compare_and_set,
    check_concurrent_compare_and_set,
    check_many,
    # rejected input
    check_bad_keys,
    check_bad_ttl,
    check_unencodable_values,
    # key patterns
    check_patterns,
    check_scan_many,
    check_clear,
    # time to live
    check_ttl_active,
    check_ttl_never_returned,
    check_ttl_replaced,
    check_expire_exactly_once,
    # subscribers
    check_subscribers,
    check_subscriber_writes,
    check_cancelled_writer,
    # change feeds
    check_feed_live_and_replay,
    check_feed_replay_under_writes,
    check_feed_overflow,
    check_feed_ends_on_close,
    # the store as a whole
    check_snapshot_restore,
    check_statistics,
    check_closed_store,
    # the property that ties them together
    check_fold_property,
)


def _short_name(check: StoreCheck) -> str:
    """A check's short name: its function name without ``check_``."""
    return getattr(check, "__name__", repr(check)).removeprefix("check_")


async def check_store(make_store: MakeStore) -> None:
    """Run every check of :data:`STORE_CHECKS`, in order, on stores from ``make_store``.

    ``make_store()`` returns a new, empty, unopened store each call. Raises
    ``AssertionError`` (with the check's name in its notes) at the first
    failure.
    """
    for check in STORE_CHECKS:
        try:
            await check(make_store)
        except AssertionError as exc:
            exc.add_note(f"pepperflow.testing.check_store: check {_short_name(check)!r} failed")
            raise
