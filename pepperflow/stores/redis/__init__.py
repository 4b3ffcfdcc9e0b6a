"""RedisStore: state shared across processes and machines (see :mod:`.store`).

The package's rooms: :mod:`.store` the contract's methods; :mod:`._writes`
the writes' scripts and replies; :mod:`._decoding` the stored bytes read as
the store's types; :mod:`._follower` the changelog follower and ordered
delivery; :mod:`._sweeper` the expiry sweeper and the key counts;
:mod:`._commands` the namespace's commands;
:mod:`._scripts` the Lua scripts (``lua/``) and :mod:`._protocol` what each
takes and replies; :mod:`._drivers`, :mod:`._kept` and :mod:`._wire` the
connections to Redis.
"""

from ._drivers import DriverName as DriverName
from .store import RedisStore as RedisStore

__all__ = ["DriverName", "RedisStore"]
