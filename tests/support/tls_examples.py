"""Private TLS Redis servers for the documentation's ``rediss://`` examples.

An example that needs a TLS server shows the URL a reader would write, as
the default of one environment variable::

    url = os.environ.get(
        "PEPPERFLOW_REDIS_TLS_URL",
        "rediss://app@redis.internal:6380/0?namespace=app&password_env=REDIS_PASSWORD",
    )

:func:`example_env` reads that default from the example's code and gives
the environment that runs it against a private server: the same URL (its
user, namespace and options) with the private server's address instead of
the host and port, and the files of a throwaway CA (:class:`TLSFiles`)
instead of the paths of ``ssl_ca_certs``, ``ssl_certfile`` and
``ssl_keyfile``. The URL's user gets the ACL of docs/security.md (for its
namespace and the façades' ``<namespace>:<name>``), with a new password in
the variable its ``password_env`` names. ``SSL_CERT_FILE`` makes the CA the
system's (OpenSSL reads it), so a URL without ``ssl_ca_certs`` trusts the
private server as a reader's trusts a public CA's certificate. A URL with
``ssl_certfile`` runs against a server that requires a client certificate
(``tls="mutual"``); another against one that does not.
"""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from tests.support.acl import acl_command
from tests.support.redis_server import RedisServer
from tests.support.tls_files import TLSFiles

__all__ = ["VARIABLE", "TLSServers", "example_env", "tls_url_default"]

#: The variable a TLS example takes its URL from.
VARIABLE = "PEPPERFLOW_REDIS_TLS_URL"


def tls_url_default(code: str) -> str | None:
    """The URL an example's code gives :data:`VARIABLE` by default (``None``: none)."""
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "os.environ.get"
            and [ast.literal_eval(arg) for arg in node.args[:1]] == [VARIABLE]
        ):
            default = ast.literal_eval(node.args[1])
            assert isinstance(default, str)
            return default
    return None


class TLSServers:
    """Two TLS servers with one throwaway CA: one that wants a client
    certificate (``mutual``) and one that does not (``server``)."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self.server = RedisServer(tls="server", tls_files=files)
        self.mutual = RedisServer(tls="mutual", tls_files=files)

    @classmethod
    @contextmanager
    def running(cls, directory: Path) -> Iterator[TLSServers]:
        """Both servers, started, their CA's files in ``directory``; closed at the end."""
        servers = cls(TLSFiles.make(directory))
        with ExitStack() as stack:
            for server in (servers.server, servers.mutual):
                stack.enter_context(server)
            yield servers

    def add_user(self, server: RedisServer, user: str, namespace: str, password: str) -> None:
        """Give ``server`` the ACL user ``user`` of docs/security.md for ``namespace``."""
        keys = f"~pf:{{{namespace}}}:* ~pf:{{{namespace}:*}}:*"
        files = self.files
        admin = redis.Redis(
            host=server.host,
            port=server.port,
            ssl=True,
            ssl_ca_certs=str(files.ca),
            ssl_certfile=str(files.client_cert),
            ssl_keyfile=str(files.client_key),
        )
        try:
            assert admin.execute_command(*acl_command(user, keys, password))  # type: ignore[no-untyped-call]  # redis-py: untyped
        finally:
            admin.close()


def example_env(default: str, servers: TLSServers) -> dict[str, str]:
    """The environment that runs an example whose URL is ``default`` on ``servers``."""
    parts = urlsplit(default)
    query = dict(parse_qsl(parts.query))
    server = servers.mutual if "ssl_certfile" in query else servers.server
    user, namespace = parts.username or "default", query.get("namespace", "default")
    password = secrets.token_hex(8)
    servers.add_user(server, user, namespace, password)
    files = {
        "ssl_ca_certs": servers.files.ca,
        "ssl_certfile": servers.files.client_cert,
        "ssl_keyfile": servers.files.client_key,
    }
    for name, path in files.items():
        if name in query:
            query[name] = str(path)
    netloc = f"{user}@{server.host}:{server.port}"
    url = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/")))
    env = {VARIABLE: url, "SSL_CERT_FILE": str(servers.files.ca)}
    if "password_env" in query:
        env[query["password_env"]] = password
    return env
