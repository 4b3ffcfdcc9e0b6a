"""The Redis client options of a store's URL, checked when the store opens.

The query string of the URL a :class:`~pepperflow.stores.redis.RedisStore`
gets holds options for the Redis client (``open_store`` takes the store's
own options out first). Each driver knows its client's; any other option
raises :class:`~pepperflow.UnknownStoreURL` naming it and the known ones
(redis-py alone would raise a ``TypeError`` at the first command, coredis
would ignore it).

``connect_timeout`` (or ``socket_connect_timeout``, redis-py's name) bounds
each connection attempt, the TLS handshake included, on both drivers:
:data:`DEFAULT_CONNECT_TIMEOUT` seconds unless the URL says otherwise.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from ..._durations import seconds
from ..._errors import UnknownStoreURL

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "ClientURL", "client_url"]

#: Seconds a connection attempt (TCP, then TLS) may take before it fails.
DEFAULT_CONNECT_TIMEOUT = 5.0

_CONNECT_TIMEOUT = ("connect_timeout", "socket_connect_timeout")

#: Each driver's client options, for every URL and for rediss:// (TLS) only.
_OPTIONS: dict[str, frozenset[str]] = {
    "redis-py": frozenset(
        {
            "client_name",
            "db",
            "health_check_interval",
            "lib_name",
            "lib_version",
            "max_connections",
            "password",
            "protocol",
            "socket_keepalive",
            "socket_read_size",
            "socket_timeout",
            "timeout",
            "username",
        }
    ),
    "coredis": frozenset(
        {
            "client_name",
            "db",
            "max_connections",
            "max_idle_time",
            "noevict",
            "noreply",
            "notouch",
            "password",
            "stream_timeout",
            "timeout",
            "username",
        }
    ),
}
_TLS_OPTIONS: dict[str, frozenset[str]] = {
    "redis-py": frozenset(
        {
            "ssl_ca_certs",
            "ssl_ca_data",
            "ssl_ca_path",
            "ssl_cert_reqs",
            "ssl_certfile",
            "ssl_check_hostname",
            "ssl_ciphers",
            "ssl_exclude_verify_flags",
            "ssl_include_verify_flags",
            "ssl_keyfile",
            "ssl_min_version",
            "ssl_password",
        }
    ),
    "coredis": frozenset(
        {"ssl_ca_certs", "ssl_cert_reqs", "ssl_certfile", "ssl_check_hostname", "ssl_keyfile"}
    ),
}
_STORE_OPTIONS = (
    "namespace",
    "changelog_length",
    "sweep_interval",
    "driver",
    "durability",
    "replication_timeout",
)


class ClientURL(msgspec.Struct, frozen=True):
    """A URL for the driver's client (without the connect timeout's option)
    and the connect timeout, in seconds."""

    url: str
    connect_timeout: float


def client_url(url: str, driver: Literal["redis-py", "coredis"]) -> ClientURL:
    """``url``'s client options checked for ``driver``, and its connect timeout.

    Raises:
        UnknownStoreURL: an option ``driver``'s client does not take, a TLS
            option in a URL without TLS, a connect timeout given twice or
            not a number, or a protocol other than 2 or 3.
        InvalidDuration: a connect timeout that is not positive seconds of
            at most 100 years.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tls = parts.scheme == "rediss"
    for name, value in query:
        _check_option(name, value, driver, tls)
    given = [value for name, value in query if name in _CONNECT_TIMEOUT]
    if not given:
        return ClientURL(url, DEFAULT_CONNECT_TIMEOUT)
    if len(given) > 1:
        raise UnknownStoreURL(
            "a Redis URL gives its connect timeout once, as connect_timeout or"
            " socket_connect_timeout"
        )
    try:
        number = float(given[0])
    except ValueError:
        raise UnknownStoreURL(
            f"a Redis URL's connect_timeout must be seconds, got {given[0]!r}"
        ) from None
    timeout = seconds(number, "a Redis URL's connect_timeout")
    rest = [(name, value) for name, value in query if name not in _CONNECT_TIMEOUT]
    return ClientURL(urlunsplit(parts._replace(query=urlencode(rest))), timeout)


def _check_option(name: str, value: str, driver: str, tls: bool) -> None:
    if name in _CONNECT_TIMEOUT or name in _OPTIONS[driver]:
        if name == "protocol" and value not in ("2", "3"):
            # redis-py would refuse it at its first connection, as if Redis were down
            raise UnknownStoreURL(
                f"a Redis URL's protocol must be 2 or 3 (RESP2, RESP3), got {value!r}"
            )
        return
    if name in _TLS_OPTIONS[driver]:
        if tls:
            return
        raise UnknownStoreURL(
            f"the Redis client option {name!r} is for TLS: use a rediss:// URL, or drop it"
        )
    known = sorted({*_CONNECT_TIMEOUT, *_OPTIONS[driver], *_TLS_OPTIONS[driver]})
    hint = ""
    if name in _STORE_OPTIONS:
        hint = (
            f"; {name!r} is the store's own option: pass it to RedisStore(...),"
            " or give the URL to open_store()"
        )
    raise UnknownStoreURL(
        f"unknown Redis client option {name!r} in the URL for driver {driver!r}"
        f" (known: {', '.join(known)}){hint}"
    )
