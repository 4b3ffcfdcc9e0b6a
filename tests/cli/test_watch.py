"""``pepperflow watch`` as a child process: its lines as the test writes, its Ctrl-C, its pipe."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
from pathlib import Path

import pytest

from pepperflow import open_store
from tests.support.child_process import Child
from tests.support.command import COMMAND, command_env, pepperflow, watching


async def lines(child: Child, count: int) -> list[list[str]]:
    """The child's next ``count`` lines, each split in its fields (two spaces apart)."""
    return [
        [field.strip() for field in (await child.line()).split("  ") if field.strip()]
        for _ in range(count)
    ]


async def interrupt(child: Child, signum: signal.Signals = signal.SIGINT) -> None:
    """Ctrl-C (or SIGTERM): the watch closes its store and exits with 128 +
    the signal's number (130, 143), its stderr only its note."""
    child.process.send_signal(signum)
    assert await child.wait() == 128 + signum
    assert child.stderr.read_text().splitlines() == [
        line
        for line in child.stderr.read_text().splitlines()
        if line.startswith("pepperflow: watching")
    ]


@pytest.mark.anyio
async def test_watch_prints_each_change_of_the_pattern_live_until_ctrl_c(
    store_url: str, tmp_path: Path, anyio_backend: str
) -> None:
    url = store_url.replace("sqlite:///", f"sqlite:///{tmp_path}/")
    async with open_store(url) as store:
        await store.set("seed", 0)  # the file exists before the watch reads it
        async with watching(tmp_path, "--backend", anyio_backend, "watch", url, "user:") as child:
            await store.set("user:1", {"name": "Ada"}, metadata={"by": "test"})
            await store.set("other", 1)  # not the pattern's
            await store.delete("user:1")
            await store.set("user:2", "Bob", ttl=0.2)

            assert [fields[1:] for fields in await lines(child, 4)] == [
                ["set", "user:1", "v1", '{"name":"Ada"}', 'metadata {"by":"test"}'],
                ["delete", "user:1", "v1"],
                ["set", "user:2", "v1", '"Bob"', "ttl 0.2s"],
                ["expire", "user:2", "v1"],
            ]
            await interrupt(child)


@pytest.mark.anyio
async def test_watch_replay_json_starts_with_the_state_then_follows(
    tmp_path: Path, anyio_backend: str
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    async with open_store(url) as store:
        await store.set("a", 1)
        await store.set("b", [2])
        async with watching(tmp_path, "watch", url, "--replay", "--json") as child:
            await store.set("a", 3)
            changes = [json.loads(await child.line()) for _ in range(3)]
            await interrupt(child, signal.SIGTERM)
    assert [(c["kind"], c["key"], c["value"], c["version"]) for c in changes] == [
        ("set", "a", 1, 1),
        ("set", "b", [2], 1),
        ("set", "a", 3, 2),
    ]


@pytest.mark.anyio
async def test_watch_since_reads_the_changelog_then_follows_with_no_gap_or_duplicate(
    store_url: str, tmp_path: Path, anyio_backend: str
) -> None:
    url = store_url.replace("sqlite:///", f"sqlite:///{tmp_path}/")
    async with open_store(url) as store:
        await store.set("a", 1)  # seq 1
        await store.set("b", 2)  # seq 2
        await store.delete("a")  # seq 3
        async with watching(
            tmp_path, "--backend", anyio_backend, "watch", url, "--since", "1", "--json"
        ) as child:
            await store.set("c", 4)  # seq 4, live
            changes = [json.loads(await child.line()) for _ in range(3)]
            await interrupt(child)
    assert [(c["seq"], c["kind"], c["key"]) for c in changes] == [
        (2, "set", "b"),
        (3, "delete", "a"),
        (4, "set", "c"),
    ]


def test_a_closed_pipe_ends_the_watch_with_141_and_no_traceback(tmp_path: Path) -> None:
    url = "sqlite:///store.db"
    assert pepperflow("set", url, "seed", "0", cwd=tmp_path).returncode == 0
    read_end, write_end = os.pipe()
    with subprocess.Popen(
        [*COMMAND, "watch", url, "--json"],
        cwd=tmp_path,
        env=command_env(),
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        os.close(write_end)
        assert process.stderr is not None
        assert select.select([process.stderr], [], [], 30)[0], "the watch never attached"
        assert process.stderr.readline().startswith("pepperflow: watching")
        os.close(read_end)  # as `| head` exits
        assert pepperflow("set", url, "k", "1", cwd=tmp_path).returncode == 0
        assert process.wait(30) == 141
        assert process.stderr.read() == ""
