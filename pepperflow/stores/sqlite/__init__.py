"""SqliteStore: the store contract in one SQLite file.

The event-loop side is :mod:`.store` (the contract, the one state, delivery)
with :mod:`._options` (its options, checked) and :mod:`._background`
(following other processes, and the retries of the commits no caller
awaits); the thread side is :mod:`._connection` (the sqlite3 connection),
:mod:`._transaction` and :mod:`._jobs` (group commits and the writes in
them), over :mod:`._thread` (the thread and its turns with the loop). Rows
are decoded with the store's types by :mod:`._rows`; the file layout and
its migrations are :mod:`._schema`; a file that cannot serve is told by
:mod:`._faults`.
"""

from ._rows import UndecodableSet as UndecodableSet
from .store import Durability as Durability
from .store import SqliteStore as SqliteStore

__all__ = ["Durability", "SqliteStore", "UndecodableSet"]
