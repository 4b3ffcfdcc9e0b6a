"""No password is ever shown: every error, repr and log record that names a
store URL shows it through ``redacted(url)``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from pepperflow import (
    BaseMemoryStore,
    PersistentStateManager,
    ProviderMetadata,
    ProviderType,
    RedisMemoryStore,
    StateManagerFactory,
    StoreProvider,
    StoreUnavailable,
    open_store,
)
from pepperflow._redact import redacted, secrets_in
from pepperflow._store_specs import check_spec
from pepperflow.stores.url import store_from_url
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-PW"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cr3t-PW@h:6381/0", "redis://user:***@h:6381/0"),
        ("rediss://:s3cr3t-PW@h/0?namespace=app", "rediss://:***@h/0?namespace=app"),
        ("redis://s3cr3t-PW@h/0", "redis://***@h/0"),
        ("redis://user:s3cr3t@PW@h/0", "redis://user:***@h/0"),  # an unescaped '@'
        ("redis://user:s3cr3t/PW@h/0", "redis://user:***@h/0"),  # an unescaped '/'
        ("redis://u:s3cr3t?PW@h/0", "redis://u:***@h/0"),  # an unescaped '?'
        ("redis://u:s3cr3t#PW@h/0", "redis://u:***@h/0"),  # an unescaped '#'
        ("redis://h/0?password=s3cr3t-PW&db=1", "redis://h/0?password=***&db=1"),
        ("redis://h/0?ssl_keyfile_PASSWORD=s3cr3t-PW", "redis://h/0?ssl_keyfile_PASSWORD=***"),
        ("redis://h/0?auth_token=s3cr3t-PW#x", "redis://h/0?auth_token=***#x"),
        ("user:s3cr3t-PW@h:6379", "user:***@h:6379"),  # no scheme
        (b"redis://u:s3cr3t-PW@h/0", "b'redis://u:***@h/0'"),  # not a str: its repr
        ("redis://127.0.0.1:6379/0?namespace=app", "redis://127.0.0.1:6379/0?namespace=app"),
        ("sqlite:////home/me@work/x.db", "sqlite:////home/me@work/x.db"),
        ("/home/me@work/x.db", "/home/me@work/x.db"),
        ("memory://", "memory://"),
    ],
)
def test_redacted_hides_every_secret_and_keeps_the_rest(url: object, shown: str) -> None:
    assert redacted(url) == shown


def _opening(url: str) -> Callable[[], object]:
    return lambda: open_store(url)


#: Each way a URL with a password reaches a message, as a function raising it.
PATHS: dict[str, Callable[[], object]] = {
    "open_store, a bad option": _opening(f"redis://u:{SECRET}@h:6381/0?changelog_length=abc"),
    "open_store, an unknown scheme": _opening(f"rediz://u:{SECRET}@h:6381/0"),
    "open_store, no host": _opening(f"redis://u:{SECRET}@/0"),
    "open_store, a bad port": _opening(f"redis://u:{SECRET}@h:port/0"),
    "open_store, a bad database": _opening(f"redis://u:{SECRET}@h/zero"),
    "open_store, a malformed URL": _opening(f"redis://u:{SECRET}@[::1/0"),
    "open_store, a fragment": _opening(f"redis://u:{SECRET}@h/0#x"),
    "open_store, a password with '/'": _opening(f"redis://u:{SECRET}/x@h/0"),
    "open_store, a bad value from the constructor": _opening(
        f"redis://u:{SECRET}@h/0?driver=aioredis"
    ),
    "store_from_url of bytes": lambda: store_from_url(f"redis://u:{SECRET}@h/0".encode()),  # type: ignore[arg-type]
    "StateManagerFactory(shared=...)": lambda: StateManagerFactory(
        shared=f"redis://u:{SECRET}@h:6381/0?changelog_length=abc"
    ),
    "StateManagerFactory(persistent=...)": lambda: StateManagerFactory(
        persistent=f"rediz://u:{SECRET}@h/0"
    ),
    "a spec of bytes": lambda: check_spec(f"redis://u:{SECRET}@h/0".encode(), what="store"),
    "PersistentStateManager(store=...)": lambda: PersistentStateManager(
        f"redis://u:{SECRET}@h/0?sweep_interval=x", name="m"
    ),
    "BaseMemoryStore(url)": lambda: BaseMemoryStore(f"redis://u:{SECRET}@h:x/0"),
    "RedisMemoryStore(url), not redis": lambda: RedisMemoryStore(f"rediz://u:{SECRET}@h/0"),
    "RedisMemoryStore(url), a bad option": lambda: RedisMemoryStore(
        f"redis://u:{SECRET}@h/0?changelog_length=-1"
    ),
    "StoreProvider(url=bytes)": lambda: StoreProvider(
        ProviderMetadata("p", ProviderType.STORAGE),
        None,
        url=f"redis://u:{SECRET}@h/0".encode(),  # type: ignore[arg-type]
    ),
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_no_error_names_the_password(path: Callable[[], object]) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each path raises its own
        path()
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value), "the message still names the URL, redacted"


async def test_a_store_from_a_password_url_shows_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://u:{SECRET}@127.0.0.1:{free_port()}/0?namespace=nowhere"
    opening = open_store(url)
    shown: list[Any] = [opening, opening.store, opening.store.statistics()]
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailable) as caught:
        async with opening:
            pass
    shown += [caught.value, *(record.getMessage() for record in caplog.records)]
    for thing in shown:
        assert SECRET not in repr(thing) and SECRET not in str(thing)


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("redis://u:p%40ss@h:1/0?ssl_password=tls-pw&x=1", {"p%40ss", "p@ss", "tls-pw"}),
        ("redis://token-only@h", {"token-only"}),
        ("sqlite:////home/me@work/app.db", set()),
        ("memory://", set()),
    ],
)
def test_secrets_in_names_what_redacted_hides_written_and_decoded(
    url: str, secrets: set[str]
) -> None:
    assert secrets_in(url) == secrets
    for secret in secrets_in(url):
        assert secret not in redacted(url)
