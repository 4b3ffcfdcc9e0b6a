"""Where a :class:`~pepperflow.RedisStorageProvider` connects: R065's config dict, or a URL.

R065 configures its Redis provider with a dict, ``{"host": "localhost",
"port": 6379}``. :func:`redis_url` turns one into the URL a
:class:`~pepperflow.stores.RedisStore` takes:

* ``host`` (``"127.0.0.1"`` by default), ``port`` (6379), ``db`` (0);
* ``username`` and ``password`` (``str``; percent-encoded into the URL,
  never shown in a message), or ``password_env`` (the name of an
  environment variable holding the password);
* ``ssl``: ``True`` for TLS (``rediss://``);
* any other key: a client option of the URL's query string
  (``connect_timeout``, ``ssl_ca_certs``, ...), checked when the store opens
  (:mod:`pepperflow.stores.redis._urls`: an unknown one raises
  :class:`~pepperflow.UnknownStoreURL` naming the known ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["redis_url"]

_OWN = frozenset({"host", "port", "db", "username", "password", "ssl"})


def redis_url(config: Mapping[str, Any] | str) -> str:
    """The store URL of ``config`` (a URL is returned as it is).

    Raises:
        TypeError: ``config`` is neither a mapping nor a str, or a key is not a str.
        ValueError: a value is of the wrong kind (named, the password's never shown).
    """
    if isinstance(config, str):
        return config
    if not isinstance(config, Mapping):
        raise TypeError(
            "RedisStorageProvider takes a config dict ({'host': ..., 'port': ...}) or a"
            f" redis:// URL, got {type(config).__name__}"
        )
    for name in config:
        if not isinstance(name, str):
            raise TypeError(f"RedisStorageProvider config: keys must be str, got {name!r}")
    host = config.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host or "/" in host or "@" in host:
        raise ValueError(f"RedisStorageProvider config: host must be a host name, got {host!r}")
    port = _whole(config, "port", 6379, 1, 65535)
    db = _whole(config, "db", 0, 0, None)
    ssl = config.get("ssl", False)
    if type(ssl) is not bool:
        raise ValueError(f"RedisStorageProvider config: ssl must be True or False, got {ssl!r}")
    where = f"[{host}]" if ":" in host else host
    url = f"{'rediss' if ssl else 'redis'}://{_userinfo(config)}{where}:{port}/{db}"
    options = {name: _option(name, value) for name, value in config.items() if name not in _OWN}
    return url + ("?" + urlencode(options) if options else "")


def _whole(config: Mapping[str, Any], name: str, default: int, lo: int, hi: int | None) -> int:
    value = config.get(name, default)
    if type(value) is not int or value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(
            f"RedisStorageProvider config: {name} must be an int {span}, got {value!r}"
        )
    return value


def _userinfo(config: Mapping[str, Any]) -> str:
    """``user:password@`` (percent-encoded), or ``""``."""
    username, password = config.get("username"), config.get("password")
    if username is not None and not isinstance(username, str):
        raise ValueError(
            f"RedisStorageProvider config: username must be a str, got {type(username).__name__}"
        )
    if password is not None and not isinstance(password, str):
        raise ValueError(
            "RedisStorageProvider config: password must be a str, got"
            f" {type(password).__name__} (not shown)"
        )
    if not username and not password:
        return ""
    user = quote(username or "", safe="")
    return f"{user}:{quote(password, safe='')}@" if password else f"{user}@"


def _option(name: str, value: object) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(
        f"RedisStorageProvider config: {name} must be a str, a number or a bool (a URL"
        f" option), got {type(value).__name__}"
    )
