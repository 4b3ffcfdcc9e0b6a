"""RedisStore's security settings on real servers: TLS (``rediss://``),
passwords given through ``password_env`` and never shown, and ACL users
limited to their namespace (the line of docs/security.md).

Every test runs on both drivers and both loops: redis-py on asyncio,
coredis on asyncio and trio.
"""

from __future__ import annotations

import itertools
import logging
import re
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import redis

from pepperflow import (
    RedisStorageProvider,
    StateManagerFactory,
    StorageQuery,
    StoreAccessDenied,
    StoreUnavailable,
    UnknownStoreURL,
    open_store,
)
from pepperflow.stores import RedisStore, Store
from pepperflow.stores.redis import DriverName
from pepperflow.stores.url import store_from_url
from pepperflow.streams import Change, SetChange
from pepperflow.testing import STORE_CHECKS, StoreCheck, StoreFactory
from pepperflow.testing._properties import check_fold_property
from tests.conformance import TYPED_CHECKS
from tests.support.acl import acl_command
from tests.support.redis_server import RedisServer, free_port
from tests.support.tls_files import TLSFiles
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio

#: Every (loop, driver) pair RedisStore supports.
DRIVERS = [("asyncio", "redis-py"), ("asyncio", "coredis"), ("trio", "coredis")]
#: The variable the tests' URLs name in password_env, and the password in it.
PASSWORD_ENV = "PF_TEST_REDIS_PASSWORD"
SECRET = "pf-Sekret-7d1e"

_names = itertools.count()


def _ns(name: str) -> str:
    return f"{name}-{next(_names)}"


def _server(server: RedisServer) -> Iterator[RedisServer]:
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisServer]:
    """A server speaking TLS only (no client certificate needed)."""
    yield from _server(RedisServer(tls="server"))


@pytest.fixture(scope="module")
def mutual_tls_server() -> Iterator[RedisServer]:
    """A TLS-only server requiring a client certificate its CA signed."""
    yield from _server(RedisServer(tls="mutual"))


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    """A server whose default user needs a password; tests add ACL users."""
    yield from _server(RedisServer(password="admin-pw-of-the-tests"))


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """``PASSWORD_ENV`` set to ``SECRET`` for the test."""
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    return PASSWORD_ENV


def add_user(
    server: RedisServer,
    namespace: str,
    driver: str,
    *,
    user: str = "u",
    keys: str | None = None,
    password: str = SECRET,
    without: str = "",
) -> str:
    """Add (or reset) the user ``<user>-<namespace>`` with the ACL line of
    docs/security.md for the keys of ``keys`` (the line's ``app``; by default
    ``namespace``), less the command ``without``; return the URL of
    ``namespace`` for that user, whose password is in ``PASSWORD_ENV``."""
    name = f"{user}-{namespace}"
    words = acl_command(name, f"~pf:{{{keys or namespace}}}:*", password, without=without)
    admin = redis.Redis(host=server.host, port=server.port, password=server.password)
    try:
        assert admin.execute_command(*words)  # type: ignore[no-untyped-call]  # redis-py: untyped
    finally:
        admin.close()
    return (
        f"redis://{name}@{server.host}:{server.port}/0"
        f"?namespace={namespace}&driver={driver}&password_env={PASSWORD_ENV}"
    )


def tls_url(server: RedisServer, driver: str, **options: str) -> str:
    """``server``'s URL with its CA, a namespace of its own, the driver and ``options``."""
    query = {
        "ssl_ca_certs": str(server.tls_files.ca),
        "namespace": _ns("tls"),
        "driver": driver,
        **options,
    }
    return server.url + "?" + "&".join(f"{name}={value}" for name, value in query.items())


async def shares_state(url: str) -> None:
    """Two stores of ``url``: set, get, a subscriber and a feed across them."""
    async with open_store(url) as writer, open_store(url) as reader:
        seen: list[Change] = []
        reader.subscribe("k*", seen.append)
        async with reader.changes("k*") as feed:
            await writer.set("k1", {"over": "tls"})
            assert await reader.get("k1") == {"over": "tls"}
            with anyio.fail_after(10):
                change = await feed.__anext__()
            assert isinstance(change, SetChange) and change.value == {"over": "tls"}
        await wait_for(seen, 1)
        assert [c.key for c in seen] == ["k1"]


# -- TLS ---------------------------------------------------------------------


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_tls_carries_the_store_on_both_drivers(
    driver: str, anyio_backend: str, tls_server: RedisServer
) -> None:
    await shares_state(tls_url(tls_server, driver, ssl_cert_reqs="required"))


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_server_that_wants_a_client_certificate_gets_one(
    driver: str, anyio_backend: str, mutual_tls_server: RedisServer, tmp_path: Path
) -> None:
    files = mutual_tls_server.tls_files
    both = tls_url(
        mutual_tls_server,
        driver,
        ssl_certfile=str(files.client_cert),
        ssl_keyfile=str(files.client_key),
    )
    await shares_state(both)
    # One PEM file holding the certificate and its key works on both drivers too.
    combined = tmp_path / "client.pem"
    combined.write_bytes(files.client_cert.read_bytes() + files.client_key.read_bytes())
    await shares_state(tls_url(mutual_tls_server, driver, ssl_certfile=str(combined)))
    with pytest.raises(StoreUnavailable), anyio.fail_after(30):
        await shares_state(tls_url(mutual_tls_server, driver))


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_certificate_of_another_ca_is_store_unavailable(
    driver: str, anyio_backend: str, tls_server: RedisServer, tmp_path: Path
) -> None:
    other = TLSFiles.make(tmp_path)
    url = tls_url(tls_server, driver, ssl_ca_certs=str(other.ca))
    with pytest.raises(StoreUnavailable, match="certificate verify failed"), anyio.fail_after(30):
        await shares_state(url)


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_the_server_name_is_checked_on_both_drivers(
    driver: str, anyio_backend: str, tmp_path: Path
) -> None:
    files = TLSFiles.make(tmp_path, server_names=("redis.pepperflow.invalid",))
    with RedisServer(tls="server", tls_files=files) as server:
        with pytest.raises(StoreUnavailable, match="certificate verify failed"):
            await shares_state(tls_url(server, driver))
        await shares_state(tls_url(server, driver, ssl_check_hostname="false"))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ssl_cert_reqs=sometimes", "ssl_cert_reqs must be 'required', 'optional' or 'none'"),
        ("ssl_check_hostname=maybe", "ssl_check_hostname must be true or false"),
        ("ssl_ca_certs=/no/such/ca.pem", "ssl_ca_certs=/no/such/ca.pem: no such file"),
        ("ssl_keyfile={ca}", "ssl_keyfile needs ssl_certfile"),
    ],
)
def test_bad_tls_options_are_refused_when_the_store_is_built(
    query: str, message: str, tls_server: RedisServer
) -> None:
    url = f"{tls_server.url}?{query.format(ca=tls_server.tls_files.ca)}"
    with pytest.raises(UnknownStoreURL, match=re.escape(message)):
        open_store(url)


def test_tls_options_on_a_plain_url_are_refused(tls_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={tls_server.tls_files.ca}"
    with pytest.raises(UnknownStoreURL, match="only apply to TLS; write rediss://"):
        open_store(url)


# -- passwords ---------------------------------------------------------------


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_password_env_gives_the_password(
    driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    await shares_state(add_user(acl_server, _ns("env"), driver))


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_password_env_reaches_the_facades(
    driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    ns = _ns("facade")
    url = add_user(acl_server, ns, driver, keys=f"{ns}:*")  # the façades': ns:<name>
    async with StateManagerFactory(shared=url) as factory:
        room = factory.create_manager("room", "shared")
        await room.set("topic", "planning")
        assert await room.get("topic") == "planning"


def test_an_unset_password_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    url = f"redis://app@127.0.0.1:6379/0?password_env={PASSWORD_ENV}"
    with pytest.raises(UnknownStoreURL, match=f"the environment variable {PASSWORD_ENV} is not"):
        open_store(url)
    with pytest.raises(ValueError, match=f"the environment variable {PASSWORD_ENV} is not"):
        RedisStore(url)


def test_password_env_needs_a_name() -> None:
    with pytest.raises(UnknownStoreURL, match="password_env needs the name"):
        open_store("redis://app@127.0.0.1:6379/0?password_env=")


def test_a_password_in_the_url_and_password_env_is_refused(password_env: str) -> None:
    url = f"redis://app:other@127.0.0.1:6379/0?password_env={password_env}"
    with pytest.raises(UnknownStoreURL, match="gives a password and password_env too"):
        open_store(url)


def _shown(exc: BaseException) -> str:
    """Everything an exception shows: its chain, formatted, and each one's repr."""
    text = "".join(traceback.format_exception(exc))
    seen: BaseException | None = exc
    while seen is not None:
        text += repr(seen) + str(seen)
        seen = seen.__cause__ or seen.__context__
    return text


async def _failure(url: str) -> str:
    """What opening ``url`` and using it shows when it fails (it must)."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any error; all of it is read
        with anyio.fail_after(30):
            await shares_state(url)
    return _shown(caught.value)


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_the_password_is_never_shown(
    driver: str,
    anyio_backend: str,
    acl_server: RedisServer,
    password_env: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ns = _ns("shown")
    url = add_user(acl_server, ns, driver)
    shown = []
    async with open_store(url) as store:
        await store.set("k", 1)
        shown += [repr(store), str(store), repr(store.statistics())]
    wrong = add_user(acl_server, ns, driver, user="wrong", password="not-the-secret")
    shown.append(await _failure(wrong))
    other = add_user(acl_server, ns, driver, user="other", keys="another-namespace")
    shown.append(await _failure(other))
    nowhere = f"redis://u@127.0.0.1:{free_port()}/0?driver={driver}&password_env={PASSWORD_ENV}"
    shown.append(await _failure(nowhere))
    with pytest.raises(UnknownStoreURL) as bad_option:
        open_store(url + "&changelog_length=many")
    shown.append(_shown(bad_option.value))
    shown += [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    shown.append(caplog.text)
    assert len(shown) > 6
    assert not [text for text in shown if SECRET in text]


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_password_in_the_url_is_not_shown_by_failures(
    driver: str, anyio_backend: str, acl_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ns = _ns("in-url")
    add_user(acl_server, ns, driver, user="other", keys="another-namespace")
    base = f"{acl_server.host}:{acl_server.port}/0?namespace={ns}&driver={driver}"
    refused = await _failure(f"redis://other-{ns}:{SECRET}@{base}")
    wrong = await _failure(f"redis://nobody-{ns}:{SECRET}@{base}")
    assert SECRET not in refused + wrong + caplog.text


# -- ACL -----------------------------------------------------------------------

#: The checks an ACL user runs: every operation and feed of the contract
#: (the typed checks and the property test run the same commands).
ACL_CHECKS = [
    check for check in STORE_CHECKS if check not in TYPED_CHECKS and check != check_fold_property
]


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
@pytest.mark.parametrize(
    "check", ACL_CHECKS, ids=[check.__name__.removeprefix("check_") for check in ACL_CHECKS]
)
async def test_the_documented_acl_user_passes_the_conformance_checks(
    check: StoreCheck, driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    urls: dict[str, str] = {}  # namespace -> its user's URL

    def make(**options: Any) -> Store[Any]:
        ns = _ns("acl")
        urls[ns] = add_user(acl_server, ns, driver)
        return store_from_url(urls[ns], **options)

    def reopen(store: Store[Any], **options: Any) -> Store[Any]:
        return store_from_url(urls[store.name], **options)

    await check(StoreFactory(make, reopen, True))


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_the_documented_acl_user_keeps_and_searches_an_index(
    driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    ns = _ns("acl-index")
    url = add_user(acl_server, ns, driver).split("?")[0] + f"?password_env={PASSWORD_ENV}"
    provider = RedisStorageProvider(url, namespace=ns, driver=cast(DriverName, driver))
    async with provider:
        await provider.save("a", 1, "doc", datetime.now(UTC) + timedelta(hours=1), {"t": "x"})
        await provider.save("b", 2, "doc", tags={"t": "y"})
        query = StorageQuery(
            tags={"t": "x"}, pattern="a", created_after=datetime(2020, 1, 1, tzinfo=UTC)
        )
        assert [r.item.metadata.key async for r in provider.search(query)] == ["a"]
        assert await provider.delete("a")
        assert [r.item.metadata.key async for r in provider.search(StorageQuery())] == ["b"]


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_user_of_another_namespace_is_refused_clearly(
    driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    ns = _ns("theirs")
    url = add_user(acl_server, ns, driver, keys=f"not-{ns}")
    with pytest.raises(StoreAccessDenied, match="NOPERM") as refused:
        await shares_state(url)
    assert isinstance(refused.value, PermissionError)
    assert f"pf:{{{ns}}}:*" in str(refused.value) and "docs/security.md" in str(refused.value)


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
@pytest.mark.parametrize("missing", ["xread", "hmget", "script|load"])
async def test_a_user_lacking_a_command_is_refused_not_retried(
    missing: str, driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    url = add_user(acl_server, _ns("lacking"), driver, without=missing)
    with pytest.raises(StoreAccessDenied, match="Redis refused this client"), anyio.fail_after(30):
        await shares_state(url)


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_wrong_password_is_refused_clearly(
    driver: str, anyio_backend: str, acl_server: RedisServer, password_env: str
) -> None:
    url = add_user(acl_server, _ns("wrong"), driver, password="another-password")
    with pytest.raises(StoreAccessDenied, match="check the user and the password"):
        await shares_state(url)


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    """Wait until a log record says ``text``; fail after 10 seconds."""
    with anyio.fail_after(10):
        while not any(text in record.getMessage() for record in caplog.records):
            await anyio.sleep(0.005)


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
async def test_a_store_outlives_an_acl_revoked_for_a_while(
    driver: str,
    anyio_backend: str,
    acl_server: RedisServer,
    password_env: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ns = _ns("revoked")
    async with (
        open_store(add_user(acl_server, ns, driver)) as store,
        open_store(add_user(acl_server, ns, driver, user="writer")) as writer,
    ):
        seen: list[Change] = []
        store.subscribe("k*", seen.append)
        await writer.set("k1", 1)
        await wait_for(seen, 1)
        add_user(acl_server, ns, driver, keys="nothing-at-all")  # the store's user: no keys
        with pytest.raises(StoreAccessDenied, match="NOPERM"):
            await store.get("k1")
        await writer.set("k2", 2)  # the follower's next read is refused
        await _logged(caplog, "changelog follower")
        add_user(acl_server, ns, driver)
        assert await store.get("k1") == 1
        await writer.set("k3", 3)
        await wait_for(seen, 3)
        assert [change.key for change in seen] == ["k1", "k2", "k3"]
