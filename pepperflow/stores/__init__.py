"""Stores: the store contract, its backends and its errors.

``MemoryStore`` here is the in-process backend of the store contract. (The
top-level name ``pepperflow.MemoryStore`` is R055's memory protocol.) Open a
store from a URL with :func:`pepperflow.open_store`. The store errors are
the ones :mod:`pepperflow` exports (the same classes), so that
``from pepperflow.stores import SqliteStore, VersionConflict`` works.
"""

from .._errors import FeedOverflow as FeedOverflow
from .._errors import InvalidKey as InvalidKey
from .._errors import InvalidPattern as InvalidPattern
from .._errors import InvalidTTL as InvalidTTL
from .._errors import InvalidValue as InvalidValue
from .._errors import MissingExtra as MissingExtra
from .._errors import PepperflowError as PepperflowError
from .._errors import StoreAccessDenied as StoreAccessDenied
from .._errors import StoreUnavailable as StoreUnavailable
from .._errors import UndecodableValue as UndecodableValue
from .._errors import UnencodableValue as UnencodableValue
from .._errors import UnknownStoreURL as UnknownStoreURL
from .._errors import UnsupportedDriver as UnsupportedDriver
from .._errors import VersionConflict as VersionConflict
from ._apply import Mark as Mark
from ._hub import Subscription as Subscription
from ._lookup import IndexTerms as IndexTerms
from ._lookup import Lookup as Lookup
from ._lookup import Order as Order
from ._records import FeedFigures as FeedFigures
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
from .url import StoreOpening as StoreOpening

__all__ = [
    "BACKENDS",
    "ChangeFeed",
    "Durability",
    "Entry",
    "FeedFigures",
    "FeedOverflow",
    "FeedStatistics",
    "IndexTerms",
    "InvalidKey",
    "InvalidPattern",
    "InvalidTTL",
    "InvalidValue",
    "Lookup",
    "Mark",
    "MemoryStore",
    "MissingExtra",
    "Order",
    "Overflow",
    "PepperflowError",
    "RedisStore",
    "Snapshot",
    "SqliteStore",
    "Store",
    "StoreAccessDenied",
    "StoreOpening",
    "StoreStatistics",
    "StoreUnavailable",
    "Subscription",
    "UndecodableValue",
    "UnencodableValue",
    "UnknownStoreURL",
    "UnsupportedDriver",
    "VersionConflict",
]
