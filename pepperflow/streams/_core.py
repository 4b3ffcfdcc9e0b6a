"""The plumbing every pepperflow observable and operator shares.

pepperflow speaks aioreactive's protocols: an :class:`AsyncObservable` has
``subscribe_async(observer)`` returning an :class:`AsyncDisposable`; an
:class:`AsyncObserver` has ``asend``, ``athrow`` and ``aclose``. What is
added here, once for every operator:

* :class:`Observable`: ``subscribe_async`` accepting an observer or plain
  ``send``/``throw``/``close`` coroutine functions (a missing ``throw``
  logs the error instead of dropping it, unlike aioreactive's default).
* :class:`Sink`: an operator's observer of its upstream, which is also the
  disposable of the subscription. It keeps the Rx grammar
  (``asend* (athrow | aclose)?``, nothing after a terminal or a dispose),
  routes an exception raised by the downstream observer's ``asend`` to that
  observer's ``athrow``, and disposes its upstream when it terminates.
* :func:`piped`: the operator a factory returns, a :class:`Piped` per
  source (each subscription makes a new sink).
* :class:`~pepperflow.streams._serial.Serializer` (its own module): one
  delivery at a time to an observer fed by several producers.
* :class:`TakesRuns`: an observer that takes a run of values in one call
  (the fused ``map``/``filter``), which a store's feed hands the changes
  one write committed together.
* :func:`send_or_fail`: a value for an observer that is not behind a
  :class:`Sink` (a subject's subscriber, a test's player); an exception from
  its ``asend`` stops it and goes to its ``athrow``.
* :func:`throw_to` / :func:`close_to`: a terminal for an observer; if the
  observer's own ``athrow``/``aclose`` raises, nobody downstream is left to
  tell, so the error is logged on the ``"pepperflow"`` logger.

Disposing never waits: ``dispose_async`` does only synchronous work (it
unsubscribes and cancels scopes), so it is safe in a cancelled scope and
from inside the observer it disposes.
"""

from __future__ import annotations

import inspect
import logging
from abc import abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeAlias, TypeVar

from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

__all__ = [
    "FunctionObserver",
    "Observable",
    "Operator",
    "Piped",
    "Sink",
    "SyncDisposable",
    "TakesRuns",
    "as_observer",
    "close_to",
    "logger",
    "piped",
    "send_or_fail",
    "throw_to",
]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_In = TypeVar("_In")
_Out = TypeVar("_Out")
_X = TypeVar("_X")

#: An operator: a function from one observable to another, composed with ``pipe``.
Operator: TypeAlias = Callable[[AsyncObservable[_In]], AsyncObservable[_Out]]

logger = logging.getLogger("pepperflow")


class TakesRuns:
    """An observer that also takes a run of values in one call (a base class:
    only observers that say so are handed runs)."""

    @abstractmethod
    async def asend_from(self, values: deque[Any]) -> None:
        """Take the values off the left of ``values`` and send each as
        ``asend`` would, until none is left (the caller may empty it to stop
        early); once the observer ended the rest are dropped. Cancelled, the
        values not yet taken stay in ``values``, in order."""


async def throw_to(observer: AsyncObserver[Any], error: Exception) -> None:
    """``await observer.athrow(error)``; log what that raises (nobody else can get it)."""
    try:
        await observer.athrow(error)
    except Exception as exc:
        logger.error(
            "an observer's athrow raised while receiving %r; the stream had already ended for it",
            error,
            exc_info=exc,
        )


async def close_to(observer: AsyncObserver[Any]) -> None:
    """``await observer.aclose()``; log what that raises (nobody else can get it)."""
    try:
        await observer.aclose()
    except Exception as exc:
        logger.error(
            "an observer's aclose raised; the stream had already ended for it", exc_info=exc
        )


async def send_or_fail(observer: AsyncObserver[_T], value: _T, stop: Callable[[], object]) -> bool:
    """Send ``value`` to ``observer``; True once its ``asend`` returned.

    If ``asend`` raises, ``stop()`` runs first (the caller then sends the
    observer nothing more), and the exception goes to the observer's
    ``athrow`` (see :func:`throw_to`); the result is False.
    """
    try:
        await observer.asend(value)
    except Exception as exc:
        stop()
        await throw_to(observer, exc)
        return False
    return True


class FunctionObserver(AsyncObserver[_T]):
    """An observer made of up to three coroutine functions.

    A missing ``send`` or ``close`` does nothing; a missing ``throw`` logs
    the error on the ``"pepperflow"`` logger, so it is never silently lost.
    """

    __slots__ = ("_close", "_send", "_throw")

    def __init__(
        self,
        send: Callable[[_T], Awaitable[None]] | None = None,
        throw: Callable[[Exception], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        for name, fn in (("send", send), ("throw", throw), ("close", close)):
            if fn is not None and not inspect.iscoroutinefunction(fn):
                raise TypeError(
                    f"subscribe_async: {name} must be a coroutine function (async def), got {fn!r}"
                )
        self._send = send
        self._throw = throw
        self._close = close

    async def asend(self, value: _T) -> None:
        if self._send is not None:
            await self._send(value)

    async def athrow(self, error: Exception) -> None:
        if self._throw is not None:
            await self._throw(error)
        else:
            logger.error("a stream failed and its observer has no throw function", exc_info=error)

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()


def as_observer(
    send: Callable[[_T], Awaitable[None]] | AsyncObserver[_T] | None = None,
    throw: Callable[[Exception], Awaitable[None]] | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> AsyncObserver[_T]:
    """The observer ``subscribe_async`` was given, or one made of the functions."""
    if isinstance(send, AsyncObserver):
        if throw is not None or close is not None:
            raise TypeError("subscribe_async: pass an observer, or send/throw/close functions")
        return send
    return FunctionObserver(send, throw, close)


class SyncDisposable(AsyncDisposable):
    """A disposable running a synchronous action once (it never waits)."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], object]) -> None:
        self._action: Callable[[], object] | None = action

    async def dispose_async(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


class Observable(AsyncObservable[_T_co]):
    """Base of pepperflow's observables: implement :meth:`_subscribe`."""

    __slots__ = ()

    async def subscribe_async(
        self,
        send: Callable[[_T_co], Awaitable[None]] | AsyncObserver[_T_co] | None = None,
        throw: Callable[[Exception], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncDisposable:
        """Subscribe an observer (or ``send``/``throw``/``close`` functions).

        Returns the subscription: ``await sub.dispose_async()`` (or
        ``async with sub:``) unsubscribes; after it returns, the observer
        receives nothing more.
        """
        return await self._subscribe(as_observer(send, throw, close))

    @abstractmethod
    async def _subscribe(self, observer: AsyncObserver[_T_co]) -> AsyncDisposable:
        """Start delivering to ``observer``; return what unsubscribes it."""


class Sink(AsyncObserver[_In], AsyncDisposable, Generic[_In, _Out]):
    """An operator's observer of its upstream and the disposable of its subscription.

    Subclasses implement :meth:`asend` (checking ``self._done`` first and
    sending downstream with :meth:`_send`) and may override
    :meth:`_on_error` / :meth:`_on_close` to flush what they hold before
    the terminal, and :meth:`_on_dispose` to cancel their tasks.
    """

    def __init__(self, downstream: AsyncObserver[_Out]) -> None:
        self._down = downstream
        #: True once a terminal went (or is going) downstream, or after dispose.
        self._done = False
        self._upstream: AsyncDisposable | None = None

    async def attach(self, source: AsyncObservable[_In]) -> Sink[_In, _Out]:
        """Subscribe to ``source``; a sink that ended during it disposes it at once."""
        try:
            upstream = await source.subscribe_async(self)
        except BaseException:
            await self.dispose_async()
            raise
        if self._done:
            await upstream.dispose_async()
        else:
            self._upstream = upstream
        return self

    async def _send(self, value: _Out) -> bool:
        """Send downstream; on an exception from the observer, fail it. False once done."""
        try:
            await self._down.asend(value)
        except Exception as exc:
            await self._fail(exc)
            return False
        return not self._done

    async def athrow(self, error: Exception) -> None:
        if not self._done:
            await self._on_error(error)

    async def aclose(self) -> None:
        if not self._done:
            await self._on_close()

    async def _on_error(self, error: Exception) -> None:
        """The upstream failed; by default, fail downstream."""
        await self._fail(error)

    async def _on_close(self) -> None:
        """The upstream ended; by default, close downstream."""
        await self._finish()

    async def _fail(self, error: Exception) -> None:
        """End with ``error`` downstream (once), after unsubscribing upstream."""
        if self._done:
            return
        self._done = True
        await self._release()
        await throw_to(self._down, error)

    async def _finish(self) -> None:
        """End downstream (once), after unsubscribing upstream."""
        if self._done:
            return
        self._done = True
        await self._release()
        await close_to(self._down)

    async def _release(self) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await upstream.dispose_async()

    async def dispose_async(self) -> None:
        """Unsubscribe: nothing more goes downstream; tasks are cancelled, not awaited."""
        self._done = True
        await self._release()
        self._on_dispose()

    def _on_dispose(self) -> None:
        """Cancel the sink's tasks, if any (synchronously; may run more than once)."""


class Piped(Observable[_Out], Generic[_In, _Out]):
    """The observable an operator returns: each subscription is a new sink on ``source``."""

    __slots__ = ("_make_sink", "_source")

    def __init__(
        self,
        source: AsyncObservable[_In],
        make_sink: Callable[[AsyncObserver[_Out]], Sink[_In, _Out]],
    ) -> None:
        self._source = source
        self._make_sink = make_sink

    async def _subscribe(self, observer: AsyncObserver[_Out]) -> AsyncDisposable:
        return await self._make_sink(observer).attach(self._source)


def piped(make_sink: Callable[[AsyncObserver[_Out]], Sink[_In, _Out]]) -> Operator[_In, _Out]:
    """The operator that pipes a source into a new ``make_sink(downstream)`` per subscription.

    An operator factory validates its arguments, then returns
    ``piped(lambda down: _MySink(down, ...))``.
    """

    def _operator(source: AsyncObservable[_In]) -> AsyncObservable[_Out]:
        return Piped(source, make_sink)

    return _operator
