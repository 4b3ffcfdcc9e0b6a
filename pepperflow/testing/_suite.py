"""``check_store``: every check of the store contract, in the order of
:data:`STORE_CHECKS`, against stores from one ``make_store`` (and, for a
persistent or shared backend, its ``reopen``).
"""

from __future__ import annotations

from ._apply import check_apply_changes
from ._bad_input import check_bad_input, check_text_keys
from ._basics import (
    check_basic_operations,
    check_compare_and_set,
    check_concurrent_compare_and_set,
    check_entry_bookkeeping,
    check_many,
    check_value_round_trip,
)
from ._factory import MakeStore, Reopen, StoreFactory
from ._feeds import (
    check_feed_ends_on_close,
    check_feed_live_and_replay,
    check_feed_overflow,
    check_feed_replay_under_writes,
)
from ._patterns import check_clear, check_exact_subscriptions, check_patterns, check_scan_many
from ._properties import check_fold_property
from ._restart import check_schema_evolution, check_typed_other_reader, check_typed_restart
from ._subscriptions import (
    check_cancelled_writer,
    check_hung_callback,
    check_subscriber_writes,
    check_subscribers,
)
from ._support import StoreCheck
from ._ttl import (
    check_expire_exactly_once,
    check_ttl_active,
    check_ttl_never_returned,
    check_ttl_replaced,
)
from ._typed import (
    check_typed_metadata,
    check_typed_restore,
    check_typed_round_trip,
    check_wrong_type_refused,
)
from ._untyped import check_untyped_rule, check_values_are_copied
from ._whole import check_closed_store, check_snapshot_restore, check_statistics

#: Every check of the store contract, in the order :func:`check_store` runs
#: them: single keys first, then value types, patterns, TTLs, subscribers,
#: feeds, the store as a whole, several store objects over the same data,
#: and last the property test that mixes them all. Each is ``async def
#: check_<name>(make_store) -> None``; the typed checks call
#: ``make_store(type=..., metadata_type=...)`` and are skipped when it takes
#: no such options, the checks across store objects need a ``reopen``
#: (:class:`StoreFactory`).
STORE_CHECKS: tuple[StoreCheck, ...] = (
    # reads, writes, values and versions
    check_basic_operations,
    check_value_round_trip,
    check_entry_bookkeeping,
    check_compare_and_set,
    check_concurrent_compare_and_set,
    check_many,
    # values: the untyped rule, the copy rule, declared types
    check_untyped_rule,
    check_values_are_copied,
    check_typed_round_trip,
    check_typed_metadata,
    # input at the edge: the bad-input table, keys of any text
    check_bad_input,
    check_text_keys,
    check_wrong_type_refused,
    # key patterns
    check_patterns,
    check_exact_subscriptions,
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
    check_hung_callback,
    # change feeds
    check_feed_live_and_replay,
    check_feed_replay_under_writes,
    check_feed_overflow,
    check_feed_ends_on_close,
    # the store as a whole
    check_snapshot_restore,
    check_typed_restore,
    check_apply_changes,
    check_statistics,
    check_closed_store,
    # several store objects over the same data (persistent and shared backends)
    check_typed_restart,
    check_typed_other_reader,
    check_schema_evolution,
    # the property that ties them together
    check_fold_property,
)


def _short_name(check: StoreCheck) -> str:
    """A check's short name: its function name without ``check_``."""
    return getattr(check, "__name__", repr(check)).removeprefix("check_")


async def check_store(make_store: MakeStore, *, reopen: Reopen | None = None) -> None:
    """Run every check of :data:`STORE_CHECKS`, in order, on stores from ``make_store``.

    ``make_store(**options)`` returns a new, empty, unopened store each
    call; ``options`` are ``type=`` and ``metadata_type=`` (the typed checks
    are skipped when it takes none, e.g. ``lambda: MyStore()``).
    ``reopen(store, **options)``, for a persistent or shared backend,
    returns a new store object over ``store``'s data (the checks of a
    restart, of another reader and of schema evolution across store
    objects are skipped without it). ``make_store`` may also be a
    :class:`StoreFactory`. Raises ``AssertionError`` (with the check's name
    in its notes) at the first failure.
    """
    factory = StoreFactory.of(make_store)
    if reopen is not None:
        factory = StoreFactory(factory.make, reopen, factory.typed)
    for check in STORE_CHECKS:
        try:
            await check(factory)
        except AssertionError as exc:
            exc.add_note(f"pepperflow.testing.check_store: check {_short_name(check)!r} failed")
            raise
