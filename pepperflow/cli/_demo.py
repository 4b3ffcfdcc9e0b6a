"""``pepperflow demo``: a small reactive agent pipeline, on an embedded store.

No server: by default the store is ``memory://demo`` (``--url
sqlite:///demo.db`` runs the same on the embedded persistent store). What
happens, every change printed as ``pepperflow watch`` prints it:

1. a *planner* keeps its plan in a short-term memory, ``session:planner``
   (a key with a 0.5 s ttl), and writes three tasks, ``task:1`` .. ``task:3``;
2. a *worker* agent follows the ``task:`` changes; for each task it writes
   ``answer:N`` with the tokens it spent, and deletes the task;
3. a value derived by stream operators: the ``answer:`` changes, piped
   through ``filter`` (sets only), ``map`` (their tokens) and ``scan`` (a
   running sum), are written back as ``stats:tokens``;
4. once every answer is counted and the planner's memory expired (an
   ``expire`` change), the demo prints the store's final state.
"""

from __future__ import annotations

from typing import Any

import aioreactive as rx
import anyio
import anyio.abc

from .._redact import redacted
from ..stores.base import Store
from ..streams import Change, ExpireChange, SetChange, pipe, to_async_iterator
from ._exits import BadInput
from ._open import opened
from ._output import Output, to_json

__all__ = ["TASKS", "TOTAL", "demo"]

#: The planner's tasks: the questions, and the tokens answering each costs.
TASKS = {
    "task:1": ("What is a change stream?", 42),
    "task:2": ("When does a memory expire?", 17),
    "task:3": ("Which store is embedded?", 23),
}
SESSION = "session:planner"
SESSION_TTL = 0.5
TOTAL = sum(tokens for _, tokens in TASKS.values())


async def demo(url: str, out: Output) -> None:
    """Run the pipeline on the store ``url`` names, which must be empty.

    Raises:
        BadInput: the store holds keys (the demo writes and deletes keys of
            its own, so it never runs on a store in use).
    """
    async with opened(url, create=True) as store, anyio.create_task_group() as tg:
        async for key in store.scan():
            raise BadInput(
                f"the demo runs on an empty store, and {redacted(url)} holds keys ({key!r}...);"
                " give it another URL, e.g. --url sqlite:///demo.db"
            )
        out.note(f"an agent pipeline on {redacted(url)}: planner, worker, stats; its changes:")
        store.subscribe(None, out.change)
        async with store.changes(SESSION) as session_changes:
            counted = anyio.Event()
            tg.start_soon(_derive_tokens, store, counted)
            await tg.start(_worker, store)
            await store.set(SESSION, {"plan": list(TASKS)}, ttl=SESSION_TTL)
            for task, (question, _) in TASKS.items():
                await store.set(task, {"question": question})
            await counted.wait()
            async for change in session_changes:
                if isinstance(change, ExpireChange):
                    break
        tg.cancel_scope.cancel()
        await _show_state(store, out)


async def _worker(store: Store[Any], *, task_status: anyio.abc.TaskStatus[None]) -> None:
    """The worker agent: answers each task set, then deletes it."""
    async with store.changes("task:") as tasks:
        task_status.started()
        async for change in tasks:
            if not isinstance(change, SetChange):
                continue
            number = change.key.removeprefix("task:")
            tokens = TASKS[change.key][1]
            answer = {"text": f"answered: {change.value['question']}", "tokens": tokens}
            await store.set(f"answer:{number}", answer)
            await store.delete(change.key)


def _tokens(change: Change) -> int:
    assert isinstance(change, SetChange)
    tokens: int = change.value["tokens"]
    return tokens


def _add(total: int, tokens: int) -> int:
    return total + tokens


async def _derive_tokens(store: Store[Any], counted: anyio.Event) -> None:
    """``stats:tokens``: the running sum of the answers' tokens, by operators;
    ``counted`` is set once it reaches :data:`TOTAL`."""
    total_tokens = pipe(
        store.changes("answer:"),
        rx.filter(lambda change: isinstance(change, SetChange)),
        rx.map(_tokens),
        rx.scan(_add, 0),
    )
    async with to_async_iterator(total_tokens, buffer=len(TASKS)) as totals:
        async for total in totals:
            await store.set("stats:tokens", total)
            if total == TOTAL:
                counted.set()


async def _show_state(store: Store[Any], out: Output) -> None:
    """The store's keys and values at the end: a table on a terminal, else
    one ``key = value`` a line."""
    out.note("the final state:")
    rows = sorted([[key, to_json(await store.get(key))] async for key in store.scan()])
    if out.rich:
        out.table(["key", "value"], rows)
    else:
        for key, value in rows:
            out.line(f"{key} = {value}")
