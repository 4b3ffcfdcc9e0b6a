"""A namespace's commands on one driver.

Scripts run by ``EVALSHA`` on the namespace's bookkeeping keys, the keys
they declare and the store's arguments (:mod:`._scripts`; :mod:`._running`
runs them). What keeps Redis from answering comes out as
:class:`~pepperflow.StoreUnavailable`, whose message says whether the
command may have been applied and whether a retry can help:

- a lost connection: a write whose reply was lost may or may not have been
  applied, so writes are never retried; reads are, briefly;
- Redis loading its dataset (``LOADING``, after a restart): nothing was
  applied; reads are retried briefly, a write may be retried once it loaded;
- a Redis Cluster not running the command now (``CLUSTERDOWN`` during a
  failover, no node reachable; ``TRYAGAIN`` during a slot migration once
  :mod:`._running` has waited it out for 10 s): nothing was applied; reads
  are retried briefly, a write may be retried;
- the server refusing this client (a wrong password, an ACL's ``NOPERM``):
  :class:`~pepperflow.StoreAccessDenied` (a StoreUnavailable), never retried.

A script that refuses its arguments (``PFARG``; every write script checks
them before its first write) raises ``ValueError``: nothing was written.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import msgspec

from ..._errors import StoreAccessDenied, StoreUnavailable
from ._drivers import Driver
from ._protocol import LogEntry, Reply, StatusArgs, StatusHead, argv
from ._replicated import NotReplicated
from ._running import run_script, settled
from ._scripts import SCRIPTS, STATUS, Script

__all__ = ["Commands"]

A = TypeVar("A", bound=msgspec.Struct)
H = TypeVar("H")
_T = TypeVar("_T")

_READ_RETRIES = 3
#: write scripts that do not wait for a replica under durability="replicated":
#: what they write is derived, and done again if a failover loses it (an
#: expiry sweep: the deadlines are replicated with the keys; an index build)
_DERIVED = frozenset({"sweep", "index_build"})
#: error replies of a cluster that did not run the command (a failover, a
#: slot migration): a blocked XREAD woken, the slot down or unstable
_NOT_RUN = ("UNBLOCKED", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN")
_FOLLOW_COUNT = 1000  # changelog entries per XREAD
#: an error reply refusing a command or key to this user: the client's
#: NOPERM errors, the driver's own connection's, a script's refused command
_ACL_REFUSAL = re.compile(r"^NOPERM|no permissions|can't run this command")


class Commands:
    """The commands of namespace ``namespace``, on :attr:`driver` while the
    store is open (``check_open`` raises the store's error otherwise).

    ``writing`` counts the write scripts of this process awaiting their reply.
    """

    __slots__ = (
        "_args",
        "_check_open",
        "_index_keys",
        "_keys",
        "_namespace",
        "_old_seq_key",
        "_term_prefix",
        "driver",
        "ix_key",
        "log_key",
        "marks_key",
        "owner",
        "prefix",
        "wait",
        "writing",
    )

    def __init__(
        self, namespace: str, changelog_length: int, owner: str, check_open: Callable[[], None]
    ) -> None:
        tag = f"pf:{{{namespace}}}:"
        self.log_key = tag + "log"
        self.prefix = tag + "k:"  # an entry's key is this + the store's key
        self.marks_key = tag + "marks"  # the sinks' marks (apply, mark)
        self.ix_key = tag + "ix"  # the index's hash (lua/index.lua)
        self._index_keys = [self.ix_key, tag + "cr", tag + "lex"]
        self._term_prefix = tag + "t:"
        self._keys = [self.log_key, tag + "meta", tag + "exp"]
        self._args: list[Any] = [namespace, changelog_length, self.prefix]
        self._namespace = namespace
        self._old_seq_key = tag + "seq"  # an earlier layout's; refused
        self.owner = owner
        self._check_open = check_open
        self.driver: Driver | None = None
        self.writing = 0
        #: (replicas, timeout in ms) a write waits for (``durability="replicated"``)
        self.wait: tuple[int, int] | None = None

    def _driver(self) -> Driver:
        driver = self.driver
        if driver is None:
            self._check_open()
            raise AssertionError("unreachable: a closed store has no driver")
        return driver

    async def opening(self, step: Callable[[Driver], Awaitable[_T]]) -> _T:
        """``step(driver)`` while the store opens: what keeps Redis from
        answering raises StoreUnavailable (StoreAccessDenied for a refusal)."""
        driver = self._driver()
        try:
            return await step(driver)
        except _unavailable_errors(driver) as exc:
            await _cancellation_first()
            lost = "cannot reach Redis"
            raise self._unavailable(driver, exc, "while opening the store", lost=lost) from exc
        except driver.refusal_errors as exc:
            self._check_refused(driver, exc)
            raise

    async def load_scripts(self) -> None:
        """``SCRIPT LOAD`` every script; StoreUnavailable when Redis is unreachable."""
        await self.opening(_load_scripts)

    async def cluster_enabled(self) -> bool:
        """Whether the server is a Redis Cluster node (``INFO cluster``);
        False when an ACL refuses ``INFO`` (write ``redis+cluster://`` then).

        Raises:
            StoreUnavailable: Redis did not answer.
        """
        return await self.opening(_cluster_enabled)

    async def probe(self) -> StatusHead:
        """The namespace's figures, once the server and the namespace's layout
        are checked: StoreUnavailable for a server older than Redis 6.2 or
        a namespace in an earlier development build's layout."""
        args = StatusArgs(True, self._old_seq_key)
        head = (await self.call(STATUS, args, [self.ix_key, self._old_seq_key])).head
        if not head.supported:
            raise StoreUnavailable(
                f"{self.owner}: the Redis server lacks ZMSCORE and SET ... PXAT;"
                " RedisStore needs Redis 6.2 or newer"
            )
        if head.old_layout:
            raise StoreUnavailable(
                f"{self.owner}: namespace {self._namespace!r} holds keys in the layout of an"
                f" earlier pepperflow development build ({self._old_seq_key} exists);"
                f" delete its keys (pf:{{{self._namespace}}}:*) or use another namespace"
            )
        return head

    def index_keys(self, indexed: bool, terms: Iterable[str] = ()) -> list[str]:
        """The index's keys a script declares: for a store with ``index=``
        (``indexed``) its hash, its keys by created_at and in order, and the
        sets of ``terms``; for one without, its hash alone (the scripts read
        whether the namespace keeps an index)."""
        if not indexed:
            return [self.ix_key]
        prefix = self._term_prefix
        return [*self._index_keys, *(prefix + term for term in dict.fromkeys(terms))]

    async def call(self, script: Script[A, H], args: A, keys: Sequence[str] = ()) -> Reply[H]:
        """Run ``script`` with ``args`` on the bookkeeping keys + ``keys``
        (every other key it touches: :mod:`._scripts`)."""
        driver = self._driver()
        all_keys = [*self._keys, *keys]
        all_args = [*self._args, *argv(args)]
        writes = script.writes
        wait = self.wait if writes and script.name not in _DERIVED else None
        if writes:
            self.writing += 1
        try:
            raw = await run_script(driver, script, all_keys, all_args, wait, self.owner)
        except NotReplicated as exc:
            raise StoreUnavailable(
                f"{self.owner}: the {script.name} was applied on the primary, but not"
                f" replicated in time ({exc}): it may be lost if the primary fails before a"
                " replica has it (durability='replicated')"
            ) from exc
        except _unavailable_errors(driver) as exc:
            await _cancellation_first()
            raise self._unavailable(driver, exc, f"during {script.name}", writes) from exc
        except driver.refusal_errors as exc:
            self._check_refused(driver, exc)
            if "PFARG" not in str(exc):
                raise
            raise ValueError(
                f"{self.owner}: the {script.name} script refused its arguments, so nothing"
                f" was written: {exc}"
            ) from None
        finally:
            if writes:
                self.writing -= 1
        return script.reply(raw)

    def _unavailable(
        self,
        driver: Driver,
        exc: BaseException,
        doing: str,
        write: bool = False,
        lost: str = "the connection to Redis failed",
    ) -> StoreUnavailable:
        """The StoreUnavailable of ``exc`` (one of :func:`_unavailable_errors`)
        for the command made ``doing`` (``write``: a write script; ``lost``:
        what a connection error means there)."""
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, driver.not_run_errors) and isinstance(cause, driver.login_errors):
            exc = cause  # a cluster client that could not log in to any node
        if isinstance(exc, driver.loading_error):
            return StoreUnavailable(
                f"{self.owner}: Redis refused a command {doing}: it is loading its dataset"
                f" (after a restart); the command was not applied: retry once Redis has"
                f" loaded ({exc})"
            )
        if isinstance(exc, driver.not_run_errors):
            return StoreUnavailable(
                f"{self.owner}: the Redis Cluster did not run a command {doing}"
                f" ({_with_cause(exc)}); the command was not applied: retry once the cluster"
                " has settled (a failover or a slot migration under way), or check that its"
                " nodes are reachable"
            )
        if isinstance(exc, driver.login_errors):
            return StoreAccessDenied(
                f"{self.owner}: Redis refused the login {doing}: nothing was applied, and a"
                f" retry fails the same way until the URL's user and password are right ({exc});"
                " check the user and the password (in the URL, or the variable of password_env)"
            )
        outcome = "; the write was not acknowledged: it may or may not have been applied"
        why = _why(exc)
        return StoreUnavailable(f"{self.owner}: {lost} {doing}: {why}" + (outcome if write else ""))

    async def read(self, script: Script[A, H], args: A, keys: Sequence[str] = ()) -> Reply[H]:
        """A read-only script, retried when Redis is unavailable before giving up."""
        return await self._retrying(partial(self.call, script, args, keys))

    async def get(self, key: str) -> bytes | None:
        """The entry of the store's ``key`` (its encoded last set), retried
        when Redis is unavailable before giving up."""
        return await self._retrying(partial(self._get, self.prefix + key))

    async def _get(self, entry_key: str) -> bytes | None:
        driver = self._driver()
        try:
            get = partial(driver.get, entry_key)
            return await (settled(driver, get) if driver.migration_errors else get())
        except _unavailable_errors(driver) as exc:
            await _cancellation_first()
            raise self._unavailable(driver, exc, "while reading") from exc
        except driver.refusal_errors as exc:
            self._check_refused(driver, exc)
            raise

    async def xread(self, after: int, block_ms: int) -> list[LogEntry]:
        """The changelog's entries after seq ``after``, waiting up to ``block_ms``."""
        driver = self._driver()
        try:
            return await driver.xread(self.log_key, f"0-{after}", _FOLLOW_COUNT, block_ms)
        except _unavailable_errors(driver) as exc:
            await _cancellation_first()
            raise self._unavailable(driver, exc, "while reading the changelog") from exc
        except driver.refusal_errors as exc:
            self._check_refused(driver, exc)
            raise

    def _check_refused(self, driver: Driver, exc: BaseException) -> None:
        """Raise StoreAccessDenied if ``exc`` is an ACL refusing this client;
        StoreUnavailable if it redirects a single server's driver to a
        cluster node (the server is a cluster node, and INFO was refused),
        or says a cluster did not run the command or stopped a script."""
        if str(exc).startswith(_NOT_RUN):
            raise StoreUnavailable(
                f"{self.owner}: the Redis Cluster did not run a command ({exc}); it was not"
                " applied: retry once the cluster has settled (a failover or a slot migration"
                " under way)"
            ) from exc
        if "Script attempted to access" in str(exc):
            raise StoreUnavailable(
                f"{self.owner}: the Redis Cluster stopped a script part way ({exc}): part of"
                " the write may have been applied; a slot of the namespace was being migrated"
            ) from exc
        if str(exc).startswith(("MOVED ", "ASK ")):
            raise StoreUnavailable(
                f"{self.owner}: Redis answered {exc}: the server is a node of a Redis Cluster,"
                " which the store could not tell when it opened (INFO was refused): write the"
                " URL as redis+cluster://host:port/ (or grant the user +info)"
            ) from exc
        if _ACL_REFUSAL.search(str(exc)):
            raise StoreAccessDenied(
                f"{self.owner}: Redis refused this client: {exc}; grant the user the store's"
                f" commands on the keys pf:{{{self._namespace}}}:* (the ACL SETUSER line of"
                " docs/security.md)"
            ) from exc

    async def _retrying(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``read``; when Redis is unavailable retry it with a short
        backoff, then give up (at once for StoreAccessDenied: a refusal stays one)."""
        for attempt in range(_READ_RETRIES - 1):
            try:
                return await read()
            except StoreAccessDenied:
                raise
            except StoreUnavailable:
                await anyio.sleep(0.05 * 2**attempt)
        return await read()


async def _load_scripts(driver: Driver) -> None:
    for script in SCRIPTS:
        await driver.script_load(script.source)


async def _cluster_enabled(driver: Driver) -> bool:
    try:
        return await driver.cluster_enabled()
    except driver.refusal_errors as exc:
        if "not allowed in cluster mode" in str(exc):
            return True  # SELECT of a database other than 0, on a cluster node
        if _ACL_REFUSAL.search(str(exc)):
            return False
        raise


def _unavailable_errors(driver: Driver) -> tuple[type[BaseException], ...]:
    """What ``driver`` raises when Redis does not run a command: a lost
    connection, ``LOADING``, a cluster not running it, a refused login."""
    return (
        *driver.connection_errors,
        driver.loading_error,
        *driver.not_run_errors,
        *driver.login_errors,
    )


def _why(exc: BaseException) -> str:
    """``exc``'s text, and the TLS error under it if it does not say it (coredis)."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if cause is None or str(cause) in str(exc):
        return str(exc)
    return f"{exc} (TLS: {cause})"


def _with_cause(exc: BaseException) -> str:
    """``exc``'s text, and its cause's (a cluster client's: its last node's error)."""
    cause = exc.__cause__ or exc.__context__
    return str(exc) if cause is None else f"{exc}: {cause!r}"


async def _cancellation_first() -> None:
    """Raise the caller's cancellation, if it was cancelled, instead of a connection error.

    coredis turns the cancellation of a connection attempt into its
    ``ConnectionError`` ("Unable to establish a connection"), and on trio a
    new connection is made in its caller's cancel scope: a read whose
    ``move_on_after`` ran out while the pool connected would otherwise raise
    :class:`~pepperflow.StoreUnavailable` out of that scope.
    """
    await anyio.lowlevel.checkpoint_if_cancelled()
