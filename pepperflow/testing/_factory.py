"""How the store checks make the stores of one backend: :class:`StoreFactory`.

Every check takes one ``make_store``. The checks of untyped behaviour call
``make_store()``; the typed checks call ``make_store(type=T,
metadata_type=M)``; the checks of a restart call ``reopen(store, type=T)``
for a new store object over the data ``store`` wrote. A plain callable is
taken as it is (:meth:`StoreFactory.of`): typed when its signature takes
``type=`` and ``metadata_type=`` (a store class does), without ``reopen``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs

from ..stores.base import Store

__all__ = ["MakeStore", "Reopen", "StoreFactory"]

#: ``make_store(**options)``: a new, empty, unopened store. ``options`` are
#: ``type=`` and ``metadata_type=`` (none: an untyped store).
MakeStore = Callable[..., Store[Any]]

#: ``reopen(store, **options)``: a new, unopened store object over the data
#: of ``store`` (the same file or server, the same namespace), with the
#: store options ``type=`` and ``metadata_type=``. ``store`` may be closed
#: (a restart) or still open (another process reading it).
Reopen = Callable[..., Store[Any]]


def _takes_types(make: Callable[..., object]) -> bool:
    """Whether ``make`` accepts the keyword options ``type`` and ``metadata_type``."""
    try:
        parameters = inspect.signature(make).parameters
    except (TypeError, ValueError):  # a callable without a signature
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return "type" in parameters and "metadata_type" in parameters


@attrs.frozen
class StoreFactory:
    """The stores of one backend, as the checks need them.

    Attributes:
        make: ``make(**options)`` returns a new, empty, unopened store
            (:data:`MakeStore`).
        reopen: for a persistent or shared backend, ``reopen(store,
            **options)`` returns a new store object over ``store``'s data
            (:data:`Reopen`); ``None`` (the default) skips the checks of a
            restart, of another reader and of schema evolution across
            store objects.
        typed: whether ``make`` takes ``type=`` and ``metadata_type=``;
            ``False`` skips the typed checks. By default, whether its
            signature takes them.
    """

    make: MakeStore
    reopen: Reopen | None = None
    typed: bool = attrs.field(
        default=attrs.Factory(lambda self: _takes_types(self.make), takes_self=True)
    )

    def __call__(self, **options: Any) -> Store[Any]:
        """A new, empty, unopened store with ``options`` (``type=``, ``metadata_type=``)."""
        return self.make(**options)

    @classmethod
    def of(cls, make_store: MakeStore) -> StoreFactory:
        """``make_store`` itself when it is a factory, else a factory around it."""
        return make_store if isinstance(make_store, StoreFactory) else cls(make_store)
