"""Stores: the store contract and its backends.

``MemoryStore`` here is the in-process backend of the store contract. (The
top-level name ``pepperflow.MemoryStore`` is reserved for the R055 memory
protocol.) Open a store from a URL with :func:`pepperflow.open_store`.
"""

from ._hub import Subscription as Subscription
from .base import Entry as Entry
from .base import Snapshot as Snapshot
from .base import Store as Store
from .base import StoreStatistics as StoreStatistics
from .feed import ChangeFeed as ChangeFeed
from .feed import FeedStatistics as FeedStatistics
from .feed import Overflow as Overflow
from .memory import MemoryStore as MemoryStore
from .redis import RedisStore as RedisStore
from .sqlite import Durability as Durability
from .sqlite import SqliteStore as SqliteStore
from .url import BACKENDS as BACKENDS

__all__ = [
    "BACKENDS",
    "ChangeFeed",
    "Durability",
    "Entry",
    "FeedStatistics",
    "MemoryStore",
    "Overflow",
    "RedisStore",
    "Snapshot",
    "SqliteStore",
    "Store",
    "StoreStatistics",
    "Subscription",
]
