"""The public namespaces: one name, one thing; ``__all__`` sorted and real."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

import pepperflow

PUBLIC_MODULES = [
    "pepperflow",
    "pepperflow.jupyter",
    "pepperflow.sinks",
    "pepperflow.sinks.metrics",
    "pepperflow.stores",
    "pepperflow.streams",
    "pepperflow.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_unique_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    names = list(module.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for attr in names:
        assert hasattr(module, attr), f"{name}.__all__ lists missing {attr}"


def _public(module: ModuleType) -> set[str]:
    return {
        n
        for n in dir(module)
        if not n.startswith("_") and not isinstance(getattr(module, n), ModuleType)
    }


@pytest.mark.parametrize(
    "name",
    [
        "pepperflow",
        "pepperflow.jupyter",
        "pepperflow.sinks",
        "pepperflow.stores",
        "pepperflow.streams",
    ],
)
def test_every_public_attribute_is_in_all(name: str) -> None:
    module = importlib.import_module(name)
    extra = _public(module) - set(module.__all__) - {"annotations"}
    assert not extra, f"{name} exposes names not in __all__: {sorted(extra)}"


# Names two namespaces export as two different things, on purpose (documented):
# pepperflow.MemoryStore is R055's memory protocol, pepperflow.stores.MemoryStore
# the in-process store backend.
DISTINCT_HOMONYMS = {"MemoryStore"}

# The errors a store raises, exported by pepperflow and re-exported (the same
# classes) by pepperflow.stores.
STORE_ERRORS = {
    "FeedOverflow",
    "InvalidKey",
    "InvalidPattern",
    "InvalidTTL",
    "InvalidValue",
    "MissingExtra",
    "PepperflowError",
    "StoreAccessDenied",
    "StoreUnavailable",
    "UndecodableValue",
    "UnencodableValue",
    "UnknownStoreURL",
    "UnsupportedDriver",
    "VersionConflict",
}


def test_each_name_is_exported_by_one_namespace_only() -> None:
    """One name, one thing: a name in two namespaces is a store error, the same class."""
    seen: dict[str, str] = {}
    namespaces = ["pepperflow", "pepperflow.jupyter", "pepperflow.sinks", "pepperflow.stores"]
    for name in [*namespaces, "pepperflow.streams"]:
        module = importlib.import_module(name)
        for attr in module.__all__:
            if attr in DISTINCT_HOMONYMS:
                continue
            if attr in seen:
                assert attr in STORE_ERRORS, f"{attr} exported by both {seen[attr]} and {name}"
                first = getattr(importlib.import_module(seen[attr]), attr)
                assert getattr(module, attr) is first, f"{name}.{attr} is another class"
            seen[attr] = name


def test_the_store_errors_are_exported_by_pepperflow_and_pepperflow_stores() -> None:
    import pepperflow.stores

    shared = set(pepperflow.stores.__all__) & set(pepperflow.__all__)
    assert shared - DISTINCT_HOMONYMS == STORE_ERRORS
    for attr in STORE_ERRORS:
        error = getattr(pepperflow.stores, attr)
        assert error is getattr(pepperflow, attr)
        assert issubclass(error, pepperflow.PepperflowError)


def test_the_homonyms_are_different_things() -> None:
    import pepperflow.stores

    for attr in DISTINCT_HOMONYMS:
        assert getattr(pepperflow, attr) is not getattr(pepperflow.stores, attr)
    assert not issubclass(pepperflow.stores.MemoryStore, pepperflow.MemoryStore)


def test_errors_subclass_the_matching_builtins() -> None:
    assert issubclass(pepperflow.InvalidKey, ValueError)
    assert issubclass(pepperflow.InvalidTTL, ValueError)
    assert issubclass(pepperflow.InvalidPattern, ValueError)
    assert issubclass(pepperflow.UnknownStoreURL, ValueError)
    assert issubclass(pepperflow.UnencodableValue, TypeError)
    assert issubclass(pepperflow.InvalidValue, pepperflow.UnencodableValue)
    assert issubclass(pepperflow.UndecodableValue, ValueError)
    assert issubclass(pepperflow.MissingExtra, ImportError)
    assert issubclass(pepperflow.UnsupportedDriver, ValueError)
    assert issubclass(pepperflow.UnsupportedDriver, RuntimeError)
    for name in pepperflow.__all__:
        obj = getattr(pepperflow, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, pepperflow.PepperflowError)


def test_the_r055_protocol_says_what_to_instantiate_instead() -> None:
    """``from pepperflow import MemoryStore; MemoryStore()``: the first thing a new user types."""
    import pepperflow.stores

    protocol: Any = pepperflow.MemoryStore  # mypy refuses to call it: abstract
    for made in (protocol, protocol[str]):
        with pytest.raises(TypeError) as raised:
            made()
        message = str(raised.value)
        assert "R055's memory store protocol" in message
        assert "`from pepperflow.stores import MemoryStore`" in message
        assert "`from pepperflow import LocalMemoryStore`" in message
    # What the message points to works; implementations of the protocol still do.
    assert isinstance(pepperflow.stores.MemoryStore(), pepperflow.stores.Store)
    assert isinstance(pepperflow.LocalMemoryStore[str](), pepperflow.MemoryStore)

    class Incomplete(pepperflow.MemoryStore[str]):
        pass

    with pytest.raises(TypeError, match="Can't instantiate abstract class Incomplete"):
        Incomplete()  # type: ignore[abstract]
