"""The figures of one RedisStore: ``statistics()`` and ``undecodable_changes``."""

from __future__ import annotations

from .._hub import ChangeHub
from ..base import StoreStatistics
from ._follower import Follower
from ._sweeper import Counts, Sweeper

__all__ = ["Figures"]


class Figures:
    """What :class:`~pepperflow.stores.redis.RedisStore` tells of itself."""

    name: str
    backend: str
    _counts: Counts
    _follower: Follower
    _hub: ChangeHub
    _sweeper: Sweeper
    _state: str

    @property
    def undecodable_changes(self) -> int:
        """How many times this process's delivery skipped a change (or a
        replayed entry) that does not decode as the store's types: once as
        it is delivered, and again for each feed that replays it. Each skip
        is logged on the ``"pepperflow"`` logger, naming the store, the key
        and the seq."""
        return self._follower.undecodable

    def statistics(self) -> StoreStatistics:
        """The figures this process knows: ``keys``/``ttl_keys`` as of its last
        sweep (at least every ``sweep_interval``) plus its own writes since
        (a write cancelled or failed before its reply came counts from the
        next sweep on), ``seq`` the newest change it has seen."""
        return StoreStatistics(
            store=self.name,
            backend=self.backend,
            keys=self._counts.keys,
            seq=self._follower.seq,
            ttl_keys=self._counts.ttl_keys,
            subscriptions=self._hub.subscriptions,
            feeds=len(self._hub.feeds),
            callback_errors=self._hub.callback_errors,
            feed_figures=self._hub.feed_figures(),
            expired=self._sweeper.expired,
            expiry_errors=self._sweeper.errors,
            running=self._state == "open",
            closed=self._state == "closed",
        )
