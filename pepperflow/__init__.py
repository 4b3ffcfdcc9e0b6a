"""pepperflow: state, memory and storage for async applications.

Every piece of state is a stream of change events; every store is the latest
value per key materialized from that stream. Runs on any anyio backend.

The names here are the public API, each exported once. Stores live in
:mod:`pepperflow.stores`, change events and stream tools in
:mod:`pepperflow.streams`, conformance suites in :mod:`pepperflow.testing`.
"""

from ._errors import FeedOverflow as FeedOverflow
from ._errors import InvalidKey as InvalidKey
from ._errors import InvalidPattern as InvalidPattern
from ._errors import InvalidTTL as InvalidTTL
from ._errors import MissingExtra as MissingExtra
from ._errors import PepperflowError as PepperflowError
from ._errors import StoreUnavailable as StoreUnavailable
from ._errors import UnencodableValue as UnencodableValue
from ._errors import UnknownStoreURL as UnknownStoreURL
from ._errors import VersionConflict as VersionConflict
from .stores.url import open_store as open_store

__version__ = "0.1.0"

__all__ = [
    "FeedOverflow",
    "InvalidKey",
    "InvalidPattern",
    "InvalidTTL",
    "MissingExtra",
    "PepperflowError",
    "StoreUnavailable",
    "UnencodableValue",
    "UnknownStoreURL",
    "VersionConflict",
    "open_store",
]
