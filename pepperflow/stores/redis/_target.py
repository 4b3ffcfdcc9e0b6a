"""Where a RedisStore connects: a ``redis://`` or ``rediss://`` URL, read once.

:func:`target` reads the URL when the store is built and checks what
pepperflow adds to the clients' options:

- ``redis+cluster://host:port,host:port/`` (``rediss+cluster://`` with
  TLS) names the seed nodes of a Redis Cluster: the store uses the
  drivers' cluster clients, which learn the rest of the cluster from any
  seed that answers. A plain ``redis://`` URL may name any node of a
  cluster as well: the store asks the server when it opens
  (:attr:`Target.cluster` is ``None`` until then). A cluster has database
  0 only.

- ``password_env=NAME``: the password is the environment variable ``NAME``
  (read then), so it need not be written in the URL. It is kept as a
  :class:`Secret`, which never prints, and handed to the client as its
  ``password``.
- the TLS options (``rediss://`` only) mean the same on both drivers:
  ``ssl_ca_certs`` (a CA's PEM file, trusted besides the system's),
  ``ssl_cert_reqs`` (``required``, the default, ``optional`` or ``none``),
  ``ssl_check_hostname`` (``true`` by default; ``false`` under ``none``),
  ``ssl_certfile`` and ``ssl_keyfile`` (a client certificate and its key;
  the key may be in the certificate's file). These are redis-py's
  defaults; the client's URL gets each of them written out, since
  coredis's own defaults skip the hostname check and it loads a client
  certificate only with a key file.

Other query options pass to the client as they are.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from ..._errors import UnknownStoreURL
from .._url_parts import check_redis_parts, cluster_seeds

__all__ = ["Secret", "Target", "target"]

_CERT_REQS = ("required", "optional", "none")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_check_hostname", *_FILES)


class Secret:
    """A password that never prints: its ``repr`` and ``str`` are ``Secret('***')``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself, for the client that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Target(msgspec.Struct, frozen=True):
    """A client's URL (without ``password_env``; TLS options written out;
    one host: the first seed of a cluster URL), the password read for it,
    whether the server is a cluster (``None``: ask it when the store opens)
    and a cluster's seed nodes (the URL's first)."""

    url: str
    password: Secret | None = None
    cluster: bool | None = None
    seeds: tuple[tuple[str, int], ...] = ()

    def as_cluster(self) -> Target:
        """This target, known to be a node of a Redis Cluster.

        Raises:
            UnknownStoreURL: the URL names a database other than 0.
        """
        parts = urlsplit(self.url)
        database = parts.path.removeprefix("/")
        if database not in ("", "0"):
            raise UnknownStoreURL(
                f"a Redis Cluster has database 0 only, and the URL names database {database};"
                " drop the path (or write /0)"
            )
        seeds = self.seeds or ((str(parts.hostname), parts.port or 6379),)
        return msgspec.structs.replace(self, cluster=True, seeds=seeds)

    def client_options(self) -> dict[str, Any]:
        """The client's ``from_url`` keyword arguments: the password, if any."""
        return {} if self.password is None else {"password": self.password.reveal()}


def target(url: str) -> Target:
    """The :class:`Target` of a store URL.

    Raises:
        ValueError: ``password_env`` names no variable or an unset one, or
            comes with a password in the URL, or a TLS option is malformed or
            names a missing file.
        UnknownStoreURL: no host, a bad port, a path that is not a database
            number, or a TLS option without TLS (a ``redis://`` URL).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    seeds: list[tuple[str, int]] = []
    if scheme.endswith("+cluster"):
        scheme = scheme.removesuffix("+cluster")
        parts, seeds = cluster_seeds(parts)
        parts = parts._replace(scheme=scheme)
    check_redis_parts(parts)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if scheme == "rediss":
        _write_out_tls(options)
    elif given := [name for name in _TLS_OPTIONS if name in options]:
        raise UnknownStoreURL(
            f"{', '.join(given)} only apply to TLS; write rediss:// (a redis:// URL is not"
            " encrypted)"
        )
    name = options.pop("password_env", None)
    client_url = urlunsplit(parts._replace(query=urlencode(options)))
    found = Target(client_url, None, True, tuple(seeds)) if seeds else Target(client_url)
    if found.cluster:
        found = found.as_cluster()
    if name is None:
        return found
    if not name:
        raise ValueError("password_env needs the name of an environment variable")
    if parts.password is not None:
        raise ValueError(
            "the URL gives a password and password_env too; give it one way (password_env"
            " keeps it out of the URL)"
        )
    password = os.environ.get(name)
    if not password:
        raise ValueError(
            f"password_env={name}: the environment variable {name} is not set (or empty);"
            " set it to the Redis password, or drop password_env"
        )
    return msgspec.structs.replace(found, password=Secret(password))


def _write_out_tls(options: dict[str, str]) -> None:
    """Check the TLS options and write out their defaults, in place.

    Raises:
        ValueError: an option is malformed or names a missing file.
    """
    reqs = options.setdefault("ssl_cert_reqs", "required")
    if reqs not in _CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be 'required', 'optional' or 'none', got {reqs!r}")
    checked = _flag(options.get("ssl_check_hostname", "true")) and reqs != "none"
    options["ssl_check_hostname"] = "true" if checked else "false"
    for name in _FILES:
        path = options.get(name)
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{name}={path}: no such file; give the path of a PEM file")
    if "ssl_certfile" in options:
        options.setdefault("ssl_keyfile", options["ssl_certfile"])
    elif "ssl_keyfile" in options:
        raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate) too")


def _flag(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"ssl_check_hostname must be true or false, got {text!r}")
