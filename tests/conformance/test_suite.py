"""The conformance suite itself: its list of checks, its one helper for
expected errors, how it reports a failure, and that it needs no pytest."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap
from typing import Any

import anyio
import pytest

import pepperflow.testing
from pepperflow import InvalidKey
from pepperflow.stores import MemoryStore
from pepperflow.testing import STORE_CHECKS, check_store
from pepperflow.testing._support import raises


def test_store_checks_lists_every_check_once_in_a_tuple() -> None:
    assert isinstance(STORE_CHECKS, tuple)
    assert len(set(STORE_CHECKS)) == len(STORE_CHECKS)
    defined = set()
    for info in pkgutil.iter_modules(pepperflow.testing.__path__):
        module = importlib.import_module(f"{pepperflow.testing.__name__}.{info.name}")
        defined |= {
            function
            for name, function in inspect.getmembers(module, inspect.iscoroutinefunction)
            if name.startswith("check_") and function.__module__ == module.__name__
        }
    assert defined - {check_store} == set(STORE_CHECKS), "a check is missing from STORE_CHECKS"


def test_raises_keeps_the_expected_error() -> None:
    with raises(InvalidKey, "set('')", match="empty") as caught:
        raise InvalidKey("the key is empty")
    assert str(caught.value) == "the key is empty"


def test_raises_says_when_nothing_was_raised() -> None:
    expected = r"^set\(''\): expected InvalidKey, but nothing was raised$"
    with pytest.raises(AssertionError, match=expected), raises(InvalidKey, "set('')"):
        pass


def test_raises_says_what_was_raised_instead() -> None:
    expected = r"^set\(''\): expected InvalidKey, got TypeError\('boom'\)$"
    with pytest.raises(AssertionError, match=expected) as info, raises(InvalidKey, "set('')"):
        raise TypeError("boom")
    assert isinstance(info.value.__cause__, TypeError)


def test_raises_says_when_the_message_does_not_match() -> None:
    expected = r"^set\(''\): expected InvalidKey matching \"'k'\", got InvalidKey\('empty'\)$"
    with pytest.raises(AssertionError, match=expected), raises(InvalidKey, "set('')", match="'k'"):
        raise InvalidKey("empty")


def test_the_caught_error_is_read_after_the_block() -> None:
    with pytest.raises(AssertionError, match="after the block"), raises(ValueError, "x") as caught:
        caught.value  # noqa: B018 - the read is what fails


@pytest.mark.anyio
async def test_raises_lets_cancellation_through() -> None:
    with anyio.move_on_after(0) as scope, raises(ValueError, "sleep"):
        await anyio.sleep(1)
    assert scope.cancelled_caught


class _NoCompareAndSet(MemoryStore[Any]):
    """A store that ignores ``if_version``: it breaks the compare-and-set check."""

    async def set(self, key: str, value: Any, **options: Any) -> int:
        options.pop("if_version", None)
        return await super().set(key, value, **options)


@pytest.mark.anyio
async def test_check_store_names_the_failed_check_and_what_happened() -> None:
    with pytest.raises(AssertionError) as info:
        await check_store(_NoCompareAndSet)
    assert str(info.value) == (
        "set(if_version=0) of an existing key: expected VersionConflict, but nothing was raised"
    )
    assert info.value.__notes__ == [
        "pepperflow.testing.check_store: check 'compare_and_set' failed"
    ]


def test_the_suite_runs_without_pytest() -> None:
    script = textwrap.dedent(
        """
        import logging
        import sys

        sys.modules["pytest"] = sys.modules["_pytest"] = None  # importing them fails
        logging.disable(logging.CRITICAL)  # the broken subscriber's logged errors

        import anyio

        from pepperflow.stores import MemoryStore
        from pepperflow.testing import check_store

        anyio.run(check_store, MemoryStore)
        print("passed")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "passed\n"), done.stderr
