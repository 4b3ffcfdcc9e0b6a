"""A soak run's figures and findings, from what the parent recorded.

The parent records a :class:`Sample` (a child's :class:`Tick`) of every
child at the end of every interval, and one just before it kills a child;
the store's size (the server's RSS, or the file's) at the same moments; the
faults; and the children's :class:`Verdict`. From these come the writes per
second of every interval, the memory judgement (the mean RSS of the last
third against the middle third's) and the findings that fail the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from statistics import fmean

import msgspec

from .protocol import EXPECTED_ERRORS, Backend, Loop, Tick, Verdict

__all__ = [
    "FaultRecord",
    "Interval",
    "Memory",
    "RunReport",
    "Sample",
    "findings",
    "intervals",
    "memory",
    "totals",
]

MIB = 1024 * 1024
GROWTH_MIB = 2.0  # memory grew when the last third's mean is this much above the middle's...
GROWTH_FRACTION = 0.05  # ...and this fraction of it


class Sample(msgspec.Struct, frozen=True):
    """A child's counters at ``t`` seconds from the start."""

    t: float
    slot: str
    incarnation: int  # 0, then 1 after its first restart, ...
    tick: Tick


class FaultRecord(msgspec.Struct, frozen=True):
    at: float  # seconds from the start
    fault: str
    said: str  # what was done
    took: float  # seconds


class Interval(msgspec.Struct, frozen=True):
    end: float  # seconds from the start
    writes: dict[str, float]  # writes per second by child slot (all its incarnations)
    rss_mib: dict[str, float]  # each child's RSS at the end
    lag: dict[str, int]  # changes each child's subscribers are behind the newest seq at the end
    slowest: dict[str, float]  # seconds of each child's slowest write in the interval
    store_mib: float  # the Redis server's RSS or the SQLite file's size at the end
    faults: list[str]  # faults that started in the interval


class Memory(msgspec.Struct, frozen=True):
    """One child's RSS once steady: the middle third's mean against the last third's."""

    slot: str
    middle_mib: float | None
    last_mib: float | None
    grew: (
        bool | None
    )  # None: its last incarnation did not span both thirds (restarted, or the run ended early)

    @property
    def growth_mib(self) -> float | None:
        if self.middle_mib is None or self.last_mib is None:
            return None
        return self.last_mib - self.middle_mib


class RunReport(msgspec.Struct, frozen=True):
    backend: Backend
    loop: Loop
    seconds: float  # the writing phase
    wall: float  # the whole run, start to verdicts
    intervals: list[Interval]
    faults: list[FaultRecord]
    writes: dict[str, int]  # acknowledged writes by kind, every process
    errors: dict[str, int]  # failed writes by "kind:ExceptionType"
    logged: dict[str, int]  # log records by "LEVEL logger"
    memory: list[Memory]
    verdicts: list[Verdict]
    problems: list[str]  # the findings; the run passed when there are none

    @property
    def ok(self) -> bool:
        return not self.problems


def _cumulative(samples: list[Sample], t: float) -> int:
    """Writes an incarnation (its ``samples``, in order) had completed at ``t``."""
    done = 0
    for sample in samples:
        if sample.t > t:
            break
        done = sum(sample.tick.ops.values())
    return done


def _incarnations(samples: Iterable[Sample]) -> dict[tuple[str, int], list[Sample]]:
    series: dict[tuple[str, int], list[Sample]] = {}
    for sample in sorted(samples, key=lambda sample: sample.t):
        series.setdefault((sample.slot, sample.incarnation), []).append(sample)
    return series


def _slowest(
    series: dict[tuple[str, int], list[Sample]], start: float, end: float
) -> dict[str, float]:
    """Each slot's slowest write reported by its ticks in ``(start, end]``."""
    slowest: dict[str, float] = {}
    for (slot, _), incarnation in series.items():
        for sample in incarnation:
            if start < sample.t <= end:
                slowest[slot] = max(slowest.get(slot, 0.0), sample.tick.slowest)
    return slowest


def intervals(
    samples: list[Sample],
    sizes: dict[float, int],
    faults: list[FaultRecord],
    ends: list[float],
) -> list[Interval]:
    """The figures of each interval ending at one of ``ends``."""
    series = _incarnations(samples)
    slots = sorted({slot for slot, _ in series})
    rows = []
    sampled = {sample.t for sample in samples}
    for start, end in zip([0.0, *ends], ends, strict=False):
        if end not in sampled:
            break  # the run ended early
        writes = dict.fromkeys(slots, 0.0)
        for (slot, _), incarnation in series.items():
            done = _cumulative(incarnation, end) - _cumulative(incarnation, start)
            writes[slot] += done / (end - start)
        ticks = {s.slot: s.tick for s in samples if s.t == end}
        newest = max(tick.seq for tick in ticks.values())
        rows.append(
            Interval(
                end=end,
                writes=writes,
                rss_mib={slot: tick.rss / MIB for slot, tick in ticks.items()},
                lag={slot: newest - tick.delivered for slot, tick in ticks.items()},
                slowest=_slowest(series, start, end),
                store_mib=sizes.get(end, 0) / MIB,
                faults=[f.fault for f in faults if start < f.at <= end],
            )
        )
    return rows


def memory(samples: list[Sample], ends: list[float], seconds: float) -> list[Memory]:
    """Each child's memory judgement, on its last incarnation's regular samples."""
    series = _incarnations(s for s in samples if s.t in ends)
    last = {slot: (slot, n) for slot, n in sorted(series)}  # the highest incarnation wins
    verdicts = []
    for slot, key in last.items():
        middle = [s.tick.rss / MIB for s in series[key] if seconds / 3 <= s.t < 2 * seconds / 3]
        final = [s.tick.rss / MIB for s in series[key] if s.t >= 2 * seconds / 3]
        if not middle or not final or series[key][0].t > seconds / 3:
            verdicts.append(Memory(slot, None, None, None))
            continue
        m, f = fmean(middle), fmean(final)
        grew = f - m > max(GROWTH_MIB, GROWTH_FRACTION * m)
        verdicts.append(Memory(slot, round(m, 1), round(f, 1), grew))
    return verdicts


def totals(samples: list[Sample]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Writes by kind, errors and log records of every incarnation (its last sample)."""
    writes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    logged: Counter[str] = Counter()
    for incarnation in _incarnations(samples).values():
        tick = incarnation[-1].tick
        writes.update(tick.ops)
        errors.update(tick.errors)
        logged.update(tick.logged)
    return writes, errors, logged


def findings(
    backend: Backend,
    verdicts: list[Verdict],
    writes: Counter[str],
    errors: Counter[str],
    kills: int,
) -> list[str]:
    """What fails the run: a subscriber whose state is not the snapshot, children
    whose snapshots differ, a writer's unexpected error, a lost update."""
    problems = []
    for verdict in verdicts:
        if not verdict.settled:
            problems.append(
                f"{verdict.slot}: the store did not go quiet, or a subscriber did not"
                f" catch up, within {verdict.waited:g} s of the writers stopping"
            )
        for sub in verdict.subscribers:
            if not sub.ok:
                problems.append(
                    f"{verdict.slot} {sub.name}: {sub.mismatched} of {sub.expected_keys} keys"
                    f" differ from the snapshot, {sub.out_of_order} changes out of order"
                    + (f", {sub.ended}" if sub.ended else "")
                    + "".join(f"\n    {example}" for example in sub.examples)
                )
    if len({(v.seq, v.digest) for v in verdicts}) > 1:
        seen = ", ".join(f"{v.slot}: seq {v.seq} digest {v.digest}" for v in verdicts)
        problems.append(f"the children's snapshots differ ({seen})")
    unexpected = {
        name: n
        for name, n in errors.items()
        if name.split(":", 1)[1] not in EXPECTED_ERRORS[backend]
    }
    if unexpected:
        problems.append(f"unexpected write errors: {unexpected}")
    problems += _lost_updates(verdicts, writes, errors, kills)
    return problems


def _lost_updates(
    verdicts: list[Verdict], writes: Counter[str], errors: Counter[str], kills: int
) -> list[str]:
    """The compare-and-set counters hold at least every acknowledged increment and,
    when no writer was killed, at most those and the ones whose reply was lost."""
    if not verdicts:
        return []
    total = verdicts[0].counters
    acknowledged = writes["cas"]
    unknown = sum(
        n for name, n in errors.items() if name.startswith("cas:") and "Conflict" not in name
    )
    if total < acknowledged:
        return [
            f"lost updates: the counters sum to {total},"
            f" {acknowledged} increments were acknowledged"
        ]
    if not kills and total > acknowledged + unknown:
        return [
            f"phantom updates: the counters sum to {total}, but only {acknowledged}"
            f" increments were acknowledged and {unknown} failed without a reply"
        ]
    return []
