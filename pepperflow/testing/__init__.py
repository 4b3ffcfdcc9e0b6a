"""Public conformance suites: ``check_store(make_store)`` for any backend,
``check_stream(make_operator)`` for any operator, and their helpers: marble
diagrams (``cold``, ``to_marbles``, ``record``) and virtual time
(``virtual_time_backend``); see docs/stores.md and docs/streams.md.

::

    from pepperflow.testing import check_store

    async def test_my_store():          # run it on asyncio and on trio
        await check_store(lambda: MyStore(...))

``make_store(**options)`` returns a new, **empty**, unopened store each
call (``options``: ``type=`` and ``metadata_type=``, for the typed checks);
the suite opens it with ``async with``. A persistent or shared backend also
passes ``reopen=``: ``reopen(store, **options)`` returns a new store object
over ``store``'s data, for the checks of a restart, of another reader and of
schema evolution; :class:`StoreFactory` holds both. :data:`STORE_CHECKS` is the ordered
tuple of the checks ``check_store`` runs, each ``async def
check_<name>(make_store)``, so a test suite can parametrize over them for
one report line each.

The suite runs without pytest; it needs Hypothesis (``pip install
hypothesis``) for its property test: random operations, after which the
store's state must equal the fold of the changes it emitted, and a feed
that replayed then followed it (joined mid-way) must converge to the same
state.
"""

from .._virtual_time import virtual_time_backend as virtual_time_backend
from ..streams._checks import MakeOperator as MakeOperator
from ..streams._checks import check_stream as check_stream
from ..streams._marbles import ColdObservable as ColdObservable
from ..streams._marbles import MarbleError as MarbleError
from ..streams._marbles import cold as cold
from ..streams._marbles import record as record
from ..streams._marbles import to_marbles as to_marbles
from ._factory import MakeStore as MakeStore
from ._factory import Reopen as Reopen
from ._factory import StoreFactory as StoreFactory
from ._patterns import PATTERN_CASES as PATTERN_CASES
from ._suite import STORE_CHECKS as STORE_CHECKS
from ._suite import check_store as check_store
from ._support import StoreCheck as StoreCheck

__all__ = [
    "ColdObservable",
    "MakeOperator",
    "MakeStore",
    "MarbleError",
    "PATTERN_CASES",
    "Reopen",
    "STORE_CHECKS",
    "StoreCheck",
    "StoreFactory",
    "check_store",
    "check_stream",
    "cold",
    "record",
    "to_marbles",
    "virtual_time_backend",
]
