"""The soak's parent: one run of two child processes on one backend and one loop.

:func:`soak` makes the store's home (a durable private ``redis-server``, or a
SQLite file in a temporary directory), starts children ``A`` and ``B``
(``python -m _soak.child``), samples them every interval while the faults
of :func:`faults.plan` come, then stops their writers, has each check its
subscribers against the store's snapshot, and returns the
:class:`RunReport`. A child that crashes, or does not answer in time (a
hang: its threads' stacks are asked for with ``SIGUSR1`` and quoted), ends
the run with that finding.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.abc
import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from .faults import KILL_CHILD, RedisTarget, SqliteTarget, Target, plan
from .protocol import Backend, ChildConfig, Loop, Tick, Verdict
from .report import FaultRecord, RunReport, Sample, findings, intervals, memory, totals

__all__ = ["ChildFailed", "SoakFailed", "soak"]

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
START_TIMEOUT = 60.0  # seconds a child may take to open its store and subscribe
TICK_TIMEOUT = 15.0  # seconds a child may take to answer a tick
STOP_TIMEOUT = 45.0  # its writers finish their last write (the child waits 30 s)
CHECK_TIMEOUT = 90.0  # its check (the child gives up after 30 s of trying)
STDERR_LINES = 30  # lines of a failed child's stderr quoted

R = TypeVar("R")


class SoakFailed(Exception):
    """The run cannot go on: the message says why (a finding)."""


class ChildFailed(SoakFailed):
    """A child crashed, or did not answer in time."""


class ChildProcess:
    """Child ``slot``: its process (restarted as a new incarnation), its pipes, its stderr."""

    def __init__(self, config: ChildConfig, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.incarnation = -1
        self.lock = anyio.Lock()  # one conversation at a time; a kill waits its turn
        self._process: anyio.abc.Process | None = None
        self._stdout: BufferedByteReceiveStream | None = None

    @property
    def slot(self) -> str:
        return self.config.slot

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def stderr(self) -> Path:
        return self.directory / f"{self.slot}-{self.incarnation}.stderr"

    async def start(self) -> None:
        """Start a new incarnation and wait until it says ``ready`` (then :meth:`go`)."""
        self.incarnation += 1
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(BENCH), str(ROOT), env.get("PYTHONPATH")])
        )
        command = [sys.executable, "-m", "_soak.child", msgspec.json.encode(self.config).decode()]
        with self.stderr.open("wb") as errors:
            self._process = await anyio.open_process(command, stderr=errors, env=env, cwd=BENCH)
        assert self._process.stdout is not None
        self._stdout = BufferedByteReceiveStream(self._process.stdout)
        await self._answer(str, START_TIMEOUT, "open its store")

    async def go(self) -> None:
        """Start the writers."""
        assert self._process is not None and self._process.stdin is not None
        await self._process.stdin.send(b"go\n")

    async def request(self, command: str, kind: type[R], within: float) -> R:
        """Send ``command``; its answer (within ``within`` seconds), decoded as a ``kind``."""
        assert self._process is not None and self._process.stdin is not None
        try:
            await self._process.stdin.send(command.encode() + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise await self._failed(f"closed its stdin before {command!r}") from None
        return await self._answer(kind, within, f"answer {command!r}")

    async def _answer(self, kind: type[R], within: float, what: str) -> R:
        assert self._stdout is not None
        try:
            with anyio.fail_after(within):
                line = await self._stdout.receive_until(b"\n", 1 << 26)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            raise await self._failed(f"exited before it could {what}") from None
        except TimeoutError:
            raise await self._failed(f"did not {what} within {within:g} s (a hang?)") from None
        return msgspec.json.decode(line, type=kind)

    async def _failed(self, what: str) -> ChildFailed:
        """The error saying what went wrong, with the end of the child's stderr."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack
            await anyio.sleep(1)
        code = None if process is None else process.returncode
        tail = self.stderr.read_text(errors="replace").splitlines()[-STDERR_LINES:]
        return ChildFailed(
            f"child {self.slot} (incarnation {self.incarnation}, pid"
            f" {process.pid if process else '-'}, exit code {code}) {what}; its stderr ends:\n  "
            + "\n  ".join(tail)
        )

    async def kill(self) -> None:
        """SIGKILL the current incarnation and wait for it (no-op once it exited)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await process.aclose()


class Run:
    """One soak run: its target, its children, what it recorded."""

    def __init__(
        self,
        backend: Backend,
        loop: Loop,
        seconds: float,
        interval: float,
        faults: frozenset[str] | None,
    ) -> None:
        self.backend = backend
        self.loop = loop
        self.seconds = seconds
        self.plan = plan(backend, seconds, faults)
        self.ends = [min(interval * k, seconds) for k in range(1, int(-(-seconds // interval)) + 1)]
        self.samples: list[Sample] = []
        self.sizes: dict[float, int] = {}
        self.faults: list[FaultRecord] = []
        self.problems: list[str] = []
        self.children: list[ChildProcess] = []
        self.started = 0.0

    def now(self) -> float:
        return time.monotonic() - self.started

    async def tick(self, child: ChildProcess, at: float) -> None:
        tick = await child.request("tick", Tick, TICK_TIMEOUT)
        self.samples.append(Sample(at, child.slot, child.incarnation, tick))

    async def sample(self, target: Target) -> None:
        """Tick every child at the end of every interval, all at once; a child
        being restarted (its lock held) has no sample at that end."""
        for end in self.ends:
            await anyio.sleep(max(0.0, end - self.now()))
            async with anyio.create_task_group() as ticks:
                for child in self.children:
                    ticks.start_soon(self.tick_now, child, end)
            self.sizes[end] = target.size()

    async def tick_now(self, child: ChildProcess, end: float) -> None:
        """Tick ``child`` unless it is busy (being restarted): never wait for it."""
        try:
            child.lock.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            await self.tick(child, end)
        finally:
            child.lock.release()

    async def inject(self, target: Target) -> None:
        """Inject the planned faults, each at its time."""
        for at, fault in self.plan:
            await anyio.sleep(max(0.0, at - self.now()))
            started = self.now()
            try:
                said = await (self.restart_b() if fault == KILL_CHILD else target.inject(fault))
            except ChildFailed:
                raise
            except Exception as error:
                raise SoakFailed(
                    f"the fault {fault} at {started:.1f} s failed: {error!r}"
                ) from error
            self.faults.append(
                FaultRecord(round(started, 2), fault, said, round(self.now() - started, 2))
            )

    async def restart_b(self) -> str:
        """SIGKILL child B (after a last tick) and start it again."""
        child = self.children[1]
        async with child.lock:
            await self.tick(child, self.now())
            pid = child.pid
            await child.kill()
            started = self.now()
            await child.start()
            await child.go()
        return (
            f"SIGKILL child B (pid {pid}), restarted and replayed in {self.now() - started:.2f} s"
        )

    async def guarded(self, step: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
        """Run ``step``; its failure (a child's, a fault's) becomes a finding and ends the run."""
        try:
            await step()
        except* SoakFailed as failed:
            self.problems += [str(error) for error in failed.exceptions]
            scope.cancel()

    async def run(self, target: Target, directory: Path) -> list[Verdict]:
        for n, slot in enumerate("AB"):
            config = ChildConfig(slot, self.backend, self.loop, target.url, "soak", seed=n + 1)
            self.children.append(ChildProcess(config, directory))
        try:
            async with anyio.create_task_group() as starting:
                for child in self.children:
                    starting.start_soon(self.guarded, child.start, starting.cancel_scope)
            if self.problems:
                return []
            self.started = time.monotonic()
            for child in self.children:
                await child.go()
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self.guarded, lambda: self.inject(target), tasks.cancel_scope)
                await self.guarded(lambda: self.sample(target), tasks.cancel_scope)
            if self.problems:
                return []
            for child in self.children:
                tick = await child.request("stop", Tick, STOP_TIMEOUT)
                self.samples.append(Sample(self.now(), child.slot, child.incarnation, tick))
            return [await child.request("check", Verdict, CHECK_TIMEOUT) for child in self.children]
        except ChildFailed as error:
            self.problems.append(str(error))
            return []
        finally:
            for child in self.children:
                await child.kill()


async def soak(
    backend: Backend,
    loop: Loop,
    seconds: float,
    interval: float,
    faults: frozenset[str] | None = None,
    keep: Path | None = None,
) -> RunReport:
    """Run the soak on ``backend`` for ``seconds`` of writing, sampled every
    ``interval`` seconds, with the faults named in ``faults`` (all by default);
    its report. With ``keep``, the run's directory (the SQLite file, the
    children's stderr) is made there and kept."""
    wall = time.monotonic()
    run = Run(backend, loop, seconds, interval, faults)
    with contextlib.ExitStack() as stack:
        if keep is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pf-soak-")))
        else:
            directory = Path(tempfile.mkdtemp(prefix=f"{backend}-{loop}-", dir=keep))
        target: Target = SqliteTarget(directory) if backend == "sqlite" else RedisTarget()
        try:
            await target.start()
            verdicts = await run.run(target, directory)
        finally:
            target.close()
    writes, errors, logged = totals(run.samples)
    kills = sum(fault.fault == KILL_CHILD for fault in run.faults)
    return RunReport(
        backend=backend,
        loop=loop,
        seconds=seconds,
        wall=round(time.monotonic() - wall, 1),
        intervals=intervals(run.samples, run.sizes, run.faults, run.ends),
        faults=run.faults,
        writes=dict(writes),
        errors=dict(errors),
        logged=dict(logged),
        memory=memory(run.samples, run.ends, seconds),
        verdicts=verdicts,
        problems=run.problems + findings(backend, verdicts, writes, errors, kills),
    )
