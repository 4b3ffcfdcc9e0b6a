"""The exceptions pepperflow raises.

Each names the condition, subclasses the builtin it refines, and its message
says what was wrong, where, and how to fix it::

    Exception
    └── PepperflowError
        ├── VersionConflict            compare-and-set lost (if_version)
        ├── InvalidKey (ValueError)    a key that is not a non-empty str
        ├── InvalidPattern (ValueError)  a malformed glob, e.g. unclosed '['
        ├── InvalidDuration (ValueError, TypeError)  not a positive duration
        │   └── InvalidTTL             a store's ttl that is not one
        ├── UnencodableValue (TypeError)  a value or metadata msgspec cannot encode
        │   └── InvalidValue            a value that is not the store's type
        ├── UndecodableValue (ValueError)  stored bytes that do not fit the store's type
        ├── FeedOverflow               a change feed with overflow="error" fell behind
        ├── UnknownStoreURL (ValueError)  open_store() got a URL it cannot open
        ├── UnsupportedDriver (ValueError, RuntimeError)  a Redis driver the loop cannot run
        ├── MissingExtra (ImportError)    a backend needs an optional extra
        ├── StoreUnavailable (ConnectionError)  a server unreachable, a SQLite file unusable
        │   └── StoreAccessDenied (PermissionError)  its server refused the user or password
        ├── DuplicateProvider (ValueError)  a provider name already registered
        ├── UnknownProvider (ValueError)    no provider registered under a name
        ├── UnknownStore (ValueError)   no memory store registered under a name
        ├── UnknownContentType (ValueError)  no storage provider for a content type
        ├── ItemNotFound (KeyError)     a storage load of a key that holds no item
        └── InvalidTags (TypeError)     storage tags that are not str -> str

Operations on a closed store raise :class:`anyio.ClosedResourceError`.
Nothing is stored when any of these is raised by a write, except
:class:`StoreUnavailable`: the write was not acknowledged and may or may not
have been applied.
"""

from __future__ import annotations

#: How a message says to fix text that is not valid Unicode (a lone
#: surrogate), which no backend can store as a key, a value or a pattern.
NOT_UNICODE_FIX = (
    "decode the source with errors='replace' (or 'backslashreplace'), not 'surrogateescape'"
)


def _listed(known: list[str]) -> str:
    """What a lookup error says is registered."""
    return ", ".join(repr(name) for name in known) if known else "none"


class PepperflowError(Exception):
    """Base class of every exception pepperflow defines."""


class VersionConflict(PepperflowError):
    """A write with ``if_version=n`` found the key at another version.

    Attributes:
        key: the key written.
        expected: the version the caller asked for (0 means "must not exist").
        actual: the version the key has (0 when it does not exist).
    """

    def __init__(self, store: str, key: str, expected: int, actual: int) -> None:
        self.store = store
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"store {store!r}: key {key!r} is at version {actual}, not {expected}"
            " as if_version required; read the key again and retry"
        )


class InvalidKey(PepperflowError, ValueError):
    """A key that is not a non-empty ``str``."""


class InvalidPattern(PepperflowError, ValueError):
    """A pattern that cannot be parsed (for example an unclosed ``[``)."""


class InvalidDuration(PepperflowError, ValueError, TypeError):
    """A duration (a ttl, a timeout, an interval) that is not a positive
    number of seconds or ``timedelta`` of at most 100 years.

    It is a ``ValueError`` for a bad number and a ``TypeError`` for a value
    of another type, so either ``except`` catches it.
    """


class InvalidTTL(InvalidDuration):
    """A store's ttl that is not a positive number of seconds or timedelta of at most 100 years."""


class UnencodableValue(PepperflowError, TypeError):
    """A value or metadata that msgspec cannot encode; nothing was stored."""


class InvalidValue(UnencodableValue):
    """A value or metadata that is not the store's declared type; nothing was stored.

    The message names the store, the key, the type and what did not fit
    (msgspec's path into the value, e.g. ``at `$.role```).
    """


class UndecodableValue(PepperflowError, ValueError):
    """Stored bytes that do not decode as the store's type.

    The type changed since the entry was written in a way msgspec's schema
    evolution does not cover (a new field without a default, a field whose
    type changed), or the bytes are not msgpack at all (corrupted, or
    written by something else). The message names the store and, where
    known, the key, and says which; other keys stay readable.
    """


class FeedOverflow(PepperflowError):
    """A change feed opened with ``overflow="error"`` fell behind the writers.

    Raised to the consumer, never to the writer, after the changes that were
    buffered before the overflow have been delivered.
    """


class UnknownStoreURL(PepperflowError, ValueError):
    """``open_store()`` got a URL whose scheme or options it does not know."""


class UnsupportedDriver(PepperflowError, ValueError, RuntimeError):
    """A RedisStore's driver that does not run on the running async library:
    redis-py's asyncio client (``driver="redis-py"``, in a URL
    ``?driver=redis-py``, or a ``redis.asyncio`` client) on trio.

    Raised when the store opens, before anything connects (the async
    library is known only then). It is a ``ValueError``, as a bad option of
    the store is, and a ``RuntimeError``, the type this was raised as
    before it had a name of its own. The message says what to use instead.
    """


class MissingExtra(PepperflowError, ImportError):
    """A backend needs an optional dependency that is not installed."""


class StoreUnavailable(PepperflowError, ConnectionError):
    """A remote store's server could not be reached, the connection dropped,
    or the server would not run the command; or a SQLite file cannot serve
    as a store.

    Raised by a write whose reply never came: the write was not
    acknowledged, so it may or may not have been applied (read the key to
    find out; subscribers see it if it was). Raised too when the server
    refused the command without applying it, because it is loading its
    dataset (retry once it has loaded); the message says which. Reads raise
    it only after their retries fail. The store reconnects on the next
    operation.

    A SqliteStore raises it when its file cannot be opened (a directory,
    permission denied), is not a store (another kind of file, another
    application's schema) or is corrupt (truncated, overwritten, a broken
    changelog row): the message names the file, what is wrong and what to
    do, and nothing was written to the file.
    """


class StoreAccessDenied(StoreUnavailable, PermissionError):
    """A remote store's server refused this client: a wrong user or password,
    or an ACL that lacks a command the store runs or the namespace's keys.

    Retrying does not help (reads and the store's opening do not retry
    it); the message names what was refused and how to grant it. A write
    that raises it was refused before it ran, unless the user's ACL lacks
    a command a write's script runs midway (see docs/security.md for the
    ACL that grants every command the store runs).
    """


class DuplicateProvider(PepperflowError, ValueError):
    """``ProviderManager.register`` got a provider whose name is already taken.

    Attributes:
        name: the provider name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"a provider named {name!r} is already registered (or being registered);"
            " unregister it first, or give the new one another metadata.name"
        )


class UnknownProvider(PepperflowError, ValueError):
    """No provider is registered under the name asked for.

    Attributes:
        name: the provider name.
        known: the names registered when the lookup failed, sorted.
    """

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        registered = _listed(known)
        super().__init__(
            f"no provider named {name!r} is registered (registered: {registered});"
            " register it first, or check the name"
        )


class UnknownStore(PepperflowError, ValueError):
    """A :class:`~pepperflow.MemoryManager` has no store under the name asked for.

    Attributes:
        name: the store name, or ``None`` when none was given and there is
            no default store.
        known: the names registered when the lookup failed, sorted.
    """

    def __init__(self, name: str | None, known: list[str]) -> None:
        self.name = name
        self.known = known
        registered = _listed(known)
        if name is None:
            message = (
                f"no store given and no default store (registered: {registered});"
                " pass store=NAME, or register one with register_store(name, store,"
                " default=True)"
            )
        else:
            message = (
                f"no memory store named {name!r} is registered (registered: {registered});"
                " register it with register_store(name, store), or check the name"
            )
        super().__init__(message)


class UnknownContentType(PepperflowError, ValueError):
    """A :class:`~pepperflow.UnifiedStorageManager` has no provider for a content type.

    Attributes:
        content_type: the content type asked for.
        known: the content types registered when the lookup failed, sorted.
    """

    def __init__(self, content_type: object, known: list[str]) -> None:
        self.content_type = content_type
        self.known = known
        registered = _listed(known)
        super().__init__(
            f"no storage provider is registered for content type {content_type!r}"
            f" (registered: {registered}); register one with"
            " manager.register_provider(content_type, provider), or check the name"
        )


class ItemNotFound(PepperflowError, KeyError):
    """A storage ``load`` found no item under the key (absent, deleted or expired),
    or one of another content type than asked for.

    Attributes:
        key: the key.
        content_type: the content type asked for (``None``: any).
        provider: how the provider is named.
    """

    def __init__(self, key: str, content_type: str | None, provider: str) -> None:
        self.key = key
        self.content_type = content_type
        self.provider = provider
        what = "item" if content_type is None else f"item of content type {content_type!r}"
        super().__init__(
            f"{provider}: no {what} under key {key!r} (never saved, deleted or expired);"
            " save it first, or check the key"
        )

    def __str__(self) -> str:  # KeyError's own shows the message quoted, as a key
        return str(self.args[0])


class InvalidTags(PepperflowError, TypeError):
    """Storage tags that are not a mapping of ``str`` to ``str``; nothing was stored."""
