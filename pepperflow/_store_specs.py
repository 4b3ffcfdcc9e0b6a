"""What the seed façades accept as "the store to use", and the default location.

A *store spec* is one of:

* a :class:`~pepperflow.stores.Store`: used as it is; the application opens
  and closes it;
* a store URL (``"memory://"``, ``"sqlite:///state.db"``,
  ``"redis://host:6379/0?namespace=app"``): a store of its own is built for
  each view, named after it (:func:`named_url`), and the view opens and
  closes it;
* a path (``str`` without ``://``, or ``os.PathLike``): a
  :class:`~pepperflow.stores.SqliteStore` in that file, with the view's name
  as its namespace;
* a callable ``make(name) -> Store``: called for each view's store.

The persistent default is :func:`default_state_path`.

A view may declare its values' type (``type=Msg``): a store built from a
URL or a path is then built with that type (so every backend decodes a
``Msg``), and a store given as it is, or made by ``make(name)``, must have
been built with the same type (:func:`check_type`).

A view given a :class:`~pepperflow.MetricsRegistry` (its ``metrics=``)
builds its stores from a URL or a path with it, so they report the
standard store metrics into it too (:func:`store_options`). A store given
as it is, or made by ``make(name)``, reports where it was made to.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._redact import redacted
from .sinks.metrics import MetricsRegistry
from .stores.base import Store
from .stores.memory import MemoryStore
from .stores.sqlite import SqliteStore
from .stores.url import store_from_url

__all__ = [
    "ENVIRONMENT_HOME",
    "StoreSpec",
    "check_record_store",
    "check_spec",
    "check_type",
    "default_memory",
    "default_state_path",
    "named_url",
    "resolve",
    "store_options",
    "type_name",
]

#: A store, a store URL, a SQLite file path, or ``make(name) -> Store``.
StoreSpec: TypeAlias = "Store[Any] | str | os.PathLike[str] | Callable[[str], Store[Any]]"

#: The environment variable naming the directory of the default state file.
ENVIRONMENT_HOME = "PEPPERFLOW_HOME"


def default_state_path() -> Path:
    """Where PERSISTENT state goes when no store is given: ``state.db`` in a directory.

    The directory is ``$PEPPERFLOW_HOME`` when that environment variable is
    set (and not empty), else ``.pepperflow`` in the current working
    directory. Read when called (a factory reads it when it is made), never
    at import; the directory is created when the store first opens.
    """
    home = os.environ.get(ENVIRONMENT_HOME)
    directory = Path(home) if home else Path.cwd() / ".pepperflow"
    return directory.absolute() / "state.db"


def named_url(url: str, name: str | None) -> str:
    """``url`` with its store named ``name``, or ``<the URL's own name>:<name>``.

    The name is the ``namespace`` option of sqlite and redis URLs and the
    ``name`` of memory URLs (``memory://NAME`` or ``?name=``). With ``name``
    ``None`` the URL is returned as it is.
    """
    if name is None:
        return url
    head, _, query_text = url.partition("?")
    option = "name" if head.lower().startswith("memory:") else "namespace"
    query = parse_qsl(query_text, keep_blank_values=True)
    base = next((value for key, value in query if key == option), "")
    if option == "name" and not base:
        base = urlsplit(head).netloc
    rest = [(key, value) for key, value in query if key != option]
    full = f"{base}:{name}" if base else name
    return f"{head}?{urlencode([*rest, (option, full)])}"


def store_options(value_type: Any, metrics: MetricsRegistry | None) -> dict[str, Any]:
    """The keyword arguments of a store built here: the value type ``value_type``
    (none for ``Any``: an untyped store) and the registry it reports into
    (none for ``None``)."""
    options: dict[str, Any] = {} if value_type is Any else {"type": value_type}
    if metrics is not None:
        options["metrics"] = metrics
    return options


def type_name(value_type: Any) -> str:
    """How errors name a value type (``Any``, ``Msg``, ``list[int]``)."""
    if value_type is Any:
        return "Any"
    if isinstance(value_type, types.GenericAlias) or not isinstance(value_type, type):
        return repr(value_type)  # list[int], Msg | None, ...
    return value_type.__qualname__


def check_type(store: Store[Any], value_type: Any, *, what: str) -> Store[Any]:
    """``store`` if it keeps values of type ``value_type`` (any store for ``Any``).

    Raises:
        TypeError: the store was built with another type (or none).
    """
    kept = store.codec.value_type
    if value_type is Any or kept == value_type:
        return store
    name = type_name(value_type)
    raise TypeError(
        f"{what}: the store {store!r} keeps values of type {type_name(kept)}, not {name};"
        f" build it with type={name} (e.g. MemoryStore(..., type={name})), or leave out"
        " type= to use the store's"
    )


def check_record_store(store: Store[Any], record_type: type, *, what: str) -> Store[Any]:
    """``store`` if it can keep a façade's records: typed ``record_type``, or untyped.

    An untyped store keeps a record as a dict (the façade converts it on
    reading); a store of any other type could not hold it.

    Raises:
        TypeError: the store keeps values of another type.
    """
    kept = store.codec.value_type
    if kept is Any or kept == record_type:
        return store
    name = record_type.__qualname__
    raise TypeError(
        f"{what}: the store {store!r} keeps values of type {type_name(kept)}; the records"
        f" need a store made with type={name} (e.g. MemoryStore(..., type={name})), or an"
        " untyped one"
    )


def default_memory(
    value_type: Any, metrics: MetricsRegistry | None = None
) -> Callable[[str], Store[Any]]:
    """``make(name)``: an in-process MemoryStore named ``name`` keeping
    ``value_type``, reporting into ``metrics``."""
    options = store_options(value_type, metrics)

    def make(name: str) -> Store[Any]:
        return MemoryStore(name, **options)

    return make


def check_spec(spec: object, *, what: str) -> None:
    """Raise unless ``spec`` is a store spec; URLs are parsed (user functions are not called).

    Raises:
        UnknownStoreURL: an unknown scheme or option in a URL.
        TypeError: ``spec`` is none of the accepted kinds.
        ValueError: an empty path.
    """
    if isinstance(spec, Store) or callable(spec):
        return
    if isinstance(spec, str) and "://" in spec:
        store_from_url(named_url(spec, "check"), shown=spec)  # builds, does not open
    elif isinstance(spec, str | os.PathLike):
        if not os.fspath(spec):
            raise ValueError(f"{what}: an empty path; name a file, e.g. 'state.db'")
    else:
        raise TypeError(
            f"{what} must be a pepperflow store, a store URL ('sqlite:///state.db',"
            f" 'redis://host:6379/0'), a SQLite file path or a function name -> store;"
            f" got {type(spec).__name__}: {redacted(spec)}"
        )


def resolve(
    spec: object,
    name: str | None,
    *,
    what: str,
    value_type: Any = Any,
    metrics: MetricsRegistry | None = None,
) -> tuple[Store[Any], Callable[[], Store[Any]] | None]:
    """The store ``spec`` describes for the view ``name``, and how to build another.

    The second item is ``None`` for a Store given as it is (the
    application's); otherwise the view owns the store, and builds a new one
    with it when the store failed to open. A store built from a URL or a
    path keeps values of ``value_type`` and reports into ``metrics``; a
    given or user-made one must keep ``value_type`` (:func:`check_type`).

    Raises:
        TypeError: as :func:`check_spec` and :func:`check_type` say, or
            msgspec cannot decode ``value_type``.
    """
    check_spec(spec, what=what)
    if isinstance(spec, Store):
        return check_type(spec, value_type, what=what), None
    make: Callable[[], Store[Any]]
    options = store_options(value_type, metrics)
    if isinstance(spec, str | os.PathLike):
        text = os.fspath(spec)
        if isinstance(text, str) and "://" in text:
            url = named_url(text, name)

            def make() -> Store[Any]:
                return store_from_url(url, shown=text, **options)

        else:
            path, namespace = text, name if name is not None else "default"

            def make() -> Store[Any]:
                return SqliteStore(path, namespace=namespace, **options)

    else:
        assert callable(spec)
        factory = spec

        def make() -> Store[Any]:
            store = factory(name if name is not None else "default")
            if not isinstance(store, Store):
                raise TypeError(
                    f"{what}: {factory!r} returned {type(store).__name__}, not a"
                    " pepperflow store (e.g. pepperflow.stores.SqliteStore(...))"
                )
            return check_type(store, value_type, what=what)

    return make(), make
