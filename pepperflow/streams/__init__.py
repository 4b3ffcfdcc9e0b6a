"""Change streams: the change events every store emits and the tools on them.

Observables here implement aioreactive's ``AsyncObservable`` /
``AsyncObserver`` protocols, so aioreactive's pure operators (``map``,
``filter``, ``scan``, ``choose``, ``starmap``, ``catch``) compose with
these with ``pipe``; the ``map`` and ``filter`` here fuse into one observer
when chained. The operators here run on any anyio backend; those
that need a task take the caller's ``task_group=``. See docs/streams.md.
"""

from aioreactive import pipe as pipe

from ._core import Operator as Operator
from .batching import buffer as buffer
from .batching import latest_per_key as latest_per_key
from .batching import window as window
from .bridge import ObservableIterator as ObservableIterator
from .bridge import from_async_iterable as from_async_iterable
from .bridge import to_async_iterator as to_async_iterator
from .combine import GroupedObservable as GroupedObservable
from .combine import combine_latest as combine_latest
from .combine import flat_map as flat_map
from .combine import group_by_key as group_by_key
from .combine import merge as merge
from .events import Change as Change
from .events import DeleteChange as DeleteChange
from .events import ExpireChange as ExpireChange
from .events import SetChange as SetChange
from .events import apply as apply
from .events import fold as fold
from .mapping import filter as filter
from .mapping import map as map
from .subjects import LatestSubject as LatestSubject
from .subjects import Subject as Subject
from .timeline import Timeline as Timeline
from .timeline import capture as capture
from .timing import debounce as debounce
from .timing import delay as delay
from .timing import sample as sample
from .timing import throttle as throttle
from .transform import distinct_until_changed as distinct_until_changed
from .transform import skip as skip
from .transform import take as take
from .transform import take_while as take_while

__all__ = [
    "Change",
    "DeleteChange",
    "ExpireChange",
    "GroupedObservable",
    "LatestSubject",
    "ObservableIterator",
    "Operator",
    "SetChange",
    "Subject",
    "Timeline",
    "apply",
    "buffer",
    "capture",
    "combine_latest",
    "debounce",
    "delay",
    "distinct_until_changed",
    "filter",
    "flat_map",
    "fold",
    "from_async_iterable",
    "group_by_key",
    "latest_per_key",
    "map",
    "merge",
    "pipe",
    "sample",
    "skip",
    "take",
    "take_while",
    "throttle",
    "to_async_iterator",
    "window",
]
