"""pepperflow: state, memory and storage for async applications.

Every piece of state is a stream of change events; every store is the latest
value per key materialized from that stream. Runs on any anyio backend.

The names here are the public API, each exported once. Stores live in
:mod:`pepperflow.stores`, change events and stream tools in
:mod:`pepperflow.streams`, conformance suites in :mod:`pepperflow.testing`.
"""

from ._errors import DuplicateProvider as DuplicateProvider
from ._errors import FeedOverflow as FeedOverflow
from ._errors import InvalidDuration as InvalidDuration
from ._errors import InvalidKey as InvalidKey
from ._errors import InvalidPattern as InvalidPattern
from ._errors import InvalidTags as InvalidTags
from ._errors import InvalidTTL as InvalidTTL
from ._errors import InvalidValue as InvalidValue
from ._errors import ItemNotFound as ItemNotFound
from ._errors import MissingExtra as MissingExtra
from ._errors import PepperflowError as PepperflowError
from ._errors import StoreAccessDenied as StoreAccessDenied
from ._errors import StoreUnavailable as StoreUnavailable
from ._errors import UndecodableValue as UndecodableValue
from ._errors import UnencodableValue as UnencodableValue
from ._errors import UnknownContentType as UnknownContentType
from ._errors import UnknownProvider as UnknownProvider
from ._errors import UnknownStore as UnknownStore
from ._errors import UnknownStoreURL as UnknownStoreURL
from ._errors import UnsupportedDriver as UnsupportedDriver
from ._errors import VersionConflict as VersionConflict
from ._store_specs import default_state_path as default_state_path
from .memory._types import MemoryEntry as MemoryEntry
from .memory._types import MemoryStore as MemoryStore
from .memory.manager import MemoryManager as MemoryManager
from .memory.stores import BaseMemoryStore as BaseMemoryStore
from .memory.stores import LocalMemoryStore as LocalMemoryStore
from .memory.stores import RedisMemoryStore as RedisMemoryStore
from .providers._types import Provider as Provider
from .providers._types import ProviderMetadata as ProviderMetadata
from .providers._types import ProviderRecord as ProviderRecord
from .providers._types import ProviderStatus as ProviderStatus
from .providers._types import ProviderType as ProviderType
from .providers.manager import ProviderManager as ProviderManager
from .providers.memory import MemoryProvider as MemoryProvider
from .providers.monitor import ProviderMonitor as ProviderMonitor
from .providers.store import StoreProvider as StoreProvider
from .resources._types import ResourceManager as ResourceManager
from .resources._types import ResourceRecord as ResourceRecord
from .resources._types import ResourceStatus as ResourceStatus
from .resources.managed import managed_resource as managed_resource
from .resources.manager import DefaultResourceManager as DefaultResourceManager
from .resources.metrics import ResourceMetrics as ResourceMetrics
from .sinks.metrics import MetricSample as MetricSample
from .sinks.metrics import MetricsRegistry as MetricsRegistry
from .sinks.metrics import MetricsSink as MetricsSink
from .state._types import StateEntry as StateEntry
from .state._types import StateManager as StateManager
from .state._types import StateType as StateType
from .state.factory import StateManagerFactory as StateManagerFactory
from .state.managers import BaseStateManager as BaseStateManager
from .state.managers import PersistentStateManager as PersistentStateManager
from .state.managers import SharedStateManager as SharedStateManager
from .storage._types import StorageEvent as StorageEvent
from .storage._types import StorageItem as StorageItem
from .storage._types import StorageMetadata as StorageMetadata
from .storage._types import StorageQuery as StorageQuery
from .storage._types import StorageResult as StorageResult
from .storage.content import ContentStorage as ContentStorage
from .storage.manager import UnifiedStorageManager as UnifiedStorageManager
from .storage.monitor import StorageMonitor as StorageMonitor
from .storage.provider import StorageProvider as StorageProvider
from .storage.stores import LocalStorageProvider as LocalStorageProvider
from .storage.stores import RedisStorageProvider as RedisStorageProvider
from .storage.stores import SqliteStorageProvider as SqliteStorageProvider
from .stores.url import open_store as open_store

__version__ = "0.1.0"

__all__ = [
    "BaseMemoryStore",
    "BaseStateManager",
    "ContentStorage",
    "DefaultResourceManager",
    "DuplicateProvider",
    "FeedOverflow",
    "InvalidDuration",
    "InvalidKey",
    "InvalidPattern",
    "InvalidTTL",
    "InvalidTags",
    "InvalidValue",
    "ItemNotFound",
    "LocalMemoryStore",
    "LocalStorageProvider",
    "MemoryEntry",
    "MemoryManager",
    "MemoryProvider",
    "MemoryStore",
    "MetricSample",
    "MetricsRegistry",
    "MetricsSink",
    "MissingExtra",
    "PepperflowError",
    "PersistentStateManager",
    "Provider",
    "ProviderManager",
    "ProviderMetadata",
    "ProviderMonitor",
    "ProviderRecord",
    "ProviderStatus",
    "ProviderType",
    "RedisMemoryStore",
    "RedisStorageProvider",
    "ResourceManager",
    "ResourceMetrics",
    "ResourceRecord",
    "ResourceStatus",
    "SharedStateManager",
    "SqliteStorageProvider",
    "StateEntry",
    "StateManager",
    "StateManagerFactory",
    "StateType",
    "StorageEvent",
    "StorageItem",
    "StorageMetadata",
    "StorageMonitor",
    "StorageProvider",
    "StorageQuery",
    "StorageResult",
    "StoreAccessDenied",
    "StoreProvider",
    "StoreUnavailable",
    "UndecodableValue",
    "UnencodableValue",
    "UnifiedStorageManager",
    "UnknownContentType",
    "UnknownProvider",
    "UnknownStore",
    "UnknownStoreURL",
    "UnsupportedDriver",
    "VersionConflict",
    "default_state_path",
    "managed_resource",
    "open_store",
]
