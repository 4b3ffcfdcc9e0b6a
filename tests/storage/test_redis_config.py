"""RedisStorageProvider's connection: R065's config dict as a URL, refused when malformed
(naming the key, never showing the password), and a provider opened from it."""

from __future__ import annotations

from typing import Any

import pytest

from pepperflow import RedisStorageProvider, UnknownStoreURL
from pepperflow.storage._redis_config import redis_url
from tests.support.redis_server import RedisServer


def test_the_seeds_dict_is_a_url() -> None:
    assert redis_url({"host": "localhost", "port": 6379}) == "redis://localhost:6379/0"
    assert redis_url({}) == "redis://127.0.0.1:6379/0"
    assert (
        redis_url({"host": "::1", "db": 2, "username": "app", "password": "p@ss:/", "ssl": True})
        == "rediss://app:p%40ss%3A%2F@[::1]:6379/2"
    )
    assert redis_url({"password": "s", "connect_timeout": 2}) == (
        "redis://:s@127.0.0.1:6379/0?connect_timeout=2"
    )
    assert redis_url("redis://h:1/0") == "redis://h:1/0"


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"port": "6379"}, ValueError, "port must be an int 1..65535, got '6379'"),
        ({"port": 0}, ValueError, "port must be an int"),
        ({"db": -1}, ValueError, "db must be an int >= 0"),
        ({"host": ""}, ValueError, "host must be a host name"),
        ({"ssl": "yes"}, ValueError, "ssl must be True or False"),
        ({"password": 12345678}, ValueError, r"password must be a str, got int \(not shown\)"),
        ({"timeout": [1]}, ValueError, "timeout must be a str, a number or a bool"),
        ({1: 2}, TypeError, "keys must be str"),
        (["localhost"], TypeError, "takes a config dict"),
    ],
)
def test_a_malformed_config_is_refused_naming_the_key(
    config: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as refused:
        RedisStorageProvider(config)
    assert "12345678" not in str(refused.value)


@pytest.mark.anyio
async def test_an_unknown_client_option_is_refused_at_open(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    config = {"host": redis_server.host, "port": redis_server.port, "colour": "blue"}
    with pytest.raises(UnknownStoreURL, match="colour"):
        async with RedisStorageProvider(config, namespace="config-unknown"):
            pass
