"""A private, throwaway ``redis-server`` for tests that need a real Redis.

:class:`RedisServer` runs its own ``redis-server`` process on a free port of
127.0.0.1 (never the shared server on 6379, never another address), with no
persistence and a temporary working directory. It can be killed and
restarted on the same port, which store tests use to simulate an outage::

    server = RedisServer()
    server.start()
    try:
        ...  # connect to server.url
        server.stop()  # SIGKILL: the server is gone, as after a crash
        server.restart()  # up again on the same port, empty
    finally:
        server.close()

The ``redis_server`` fixture yields one started server for the whole test
session and always stops it at the end. It is shared: a test that stops the
server must start it again (``restart()`` or ``ensure_running()``), and the
data of earlier tests may still be there (``FLUSHALL`` if that matters).

A server may speak TLS only (``tls="server"``: ``--port 0``, ``--tls-port``,
with a certificate for 127.0.0.1 made by a throwaway CA, :class:`TLSFiles`;
``tls="mutual"`` also requires a client certificate the same CA signed),
and may require a password of its ``default`` user (``password=``), under
which a test adds ACL users.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import pytest

from tests.support.tls_files import TLSFiles

__all__ = ["DEFAULT_EXECUTABLE", "RedisServer", "RedisServerError", "redis_server"]

DEFAULT_EXECUTABLE = "/usr/bin/redis-server"
HOST = "127.0.0.1"
_ADDRESS_IN_USE = "Address already in use"  # in redis-server's output when bind fails


class RedisServerError(RuntimeError):
    """The private ``redis-server`` could not be started or did not answer."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now (picked by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    """True when nothing listens on ``HOST:port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def ping(
    host: str,
    port: int,
    timeout: float = 0.5,
    *,
    tls: ssl.SSLContext | None = None,
    password: str | None = None,
) -> bool:
    """True when a Redis server at ``host:port`` answers ``PING`` with ``+PONG``
    (over TLS with the context ``tls``; after ``AUTH password``)."""
    request = b"PING\r\n"
    if password is not None:
        request = f"AUTH {password}\r\n".encode() + request
    try:
        with _connect(host, port, timeout, tls) as sock:
            sock.sendall(request)
            reply = b""
            while reply.count(b"\r\n") < request.count(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return False
    return reply.split(b"\r\n")[-2:-1] == [b"+PONG"]


def _connect(host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


class RedisServer:
    """One private ``redis-server`` process on ``127.0.0.1:port``.

    The port is picked when the server first starts (unless given) and kept
    for every restart, so clients can reconnect to the same ``url``. A
    ``durable`` server keeps an append-only file (fsync always) in its
    directory, so its data survives ``stop()`` and ``restart()``.
    """

    host: str
    executable: str
    startup_timeout: float

    def __init__(
        self,
        executable: str | None = None,
        *,
        port: int | None = None,
        startup_timeout: float = 5.0,
        durable: bool = False,
        options: Sequence[str] = (),
        tls: Literal["off", "server", "mutual"] = "off",
        tls_files: TLSFiles | None = None,
        password: str | None = None,
    ) -> None:
        self.host = HOST
        self.options = list(options)  # more redis-server arguments
        self.tls = tls
        self.password = password
        self._given_tls_files = self._tls_files = tls_files
        self.executable = executable or _find_executable()
        self.startup_timeout = startup_timeout
        self.durable = durable
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._log: Path | None = None

    @property
    def port(self) -> int:
        """The server's port; picked on first use when not given."""
        if self._port is None:
            self._port = free_port()
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (``rediss://`` with TLS; no options)."""
        scheme = "redis" if self.tls == "off" else "rediss"
        return f"{scheme}://{self.host}:{self.port}/0"

    @property
    def tls_files(self) -> TLSFiles:
        """The CA's, the server's and a client's PEM files (a TLS server's)."""
        if self._tls_files is None:
            self._tls_files = TLSFiles.make(self._directory())
        return self._tls_files

    @property
    def pid(self) -> int | None:
        """The process id while the process exists, else ``None``."""
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        """True when our process is alive and answers ``PING``."""
        return (
            self._process is not None and self._process.poll() is None and self._ping(timeout=0.5)
        )

    def start(self) -> None:
        """Start the server and wait until it answers ``PING``; no-op if running.

        Raises:
            RedisServerError: it did not answer within ``startup_timeout``
                seconds (the message includes the server's output).
        """
        if self._process is not None and self._process.poll() is None:
            return
        self._process = None
        pick_new_port = self._port is None
        deadline = time.monotonic() + self.startup_timeout
        failure = ""
        while True:
            if self._port_is_taken():
                failure = f"port {self.port} is already in use by another process"
            else:
                failure = self._launch(deadline)
                if not failure:
                    return
                if _ADDRESS_IN_USE not in failure:
                    break  # not a port clash: retrying will not help
            if time.monotonic() >= deadline:
                break
            if pick_new_port:
                # Someone took the port we picked before the server bound it.
                self._port = free_port()
            time.sleep(0.05)
        raise RedisServerError(
            f"redis-server ({self.executable}) did not start on {self.host}:{self.port}"
            f" within {self.startup_timeout:g}s: {failure}"
        )

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a crash) and wait for it to exit; no-op if stopped."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired as exc:  # pragma: no cover - a stuck kernel
            raise RedisServerError(
                f"redis-server pid {process.pid} did not exit after SIGKILL"
            ) from exc

    def shutdown(self) -> None:
        """Stop the server the polite way (``SHUTDOWN``: a durable server
        writes its append-only file) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port)) as s:
            s.sendall(b"SHUTDOWN\r\n")
            s.recv(64)  # the server closes the connection as it exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait()
            raise RedisServerError(f"redis-server pid {process.pid} ignored SHUTDOWN") from exc

    def restart(self) -> None:
        """Stop the server if it runs, then start it again on the same port.

        It comes back empty, or with every acknowledged write when ``durable``
        (append-only file, fsync on every write)."""
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        """Start the server again if it was stopped or stopped answering."""
        if not self.is_running():
            self.restart()

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        try:
            self.stop()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
                self._log = None
                self._tls_files = self._given_tls_files

    def output(self) -> str:
        """What the current (or last) server process wrote to stdout/stderr."""
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"RedisServer({self.url!r}, {state})"

    def _port_is_taken(self) -> bool:
        return not _port_is_free(self.port)

    def _directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="pepperflow-redis-"))
        return self._dir

    def _ping(self, timeout: float) -> bool:
        tls = None if self.tls == "off" else self.tls_files.client_context()
        return ping(self.host, self.port, timeout, tls=tls, password=self.password)

    def _security_options(self) -> list[str]:
        """The arguments for TLS and the default user's password."""
        options = [] if self.password is None else ["--requirepass", self.password]
        if self.tls == "off":
            return [*options, "--port", str(self.port)]
        files = self.tls_files
        return [
            *options,
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(files.server_cert),
            "--tls-key-file", str(files.server_key),
            "--tls-ca-cert-file", str(files.ca),
            "--tls-auth-clients", "yes" if self.tls == "mutual" else "no",
        ]  # fmt: skip

    def _launch(self, deadline: float) -> str:
        """Run one ``redis-server``; return "" once it answers, else why it failed."""
        directory = self._directory()
        self._log = directory / "redis-server.log"
        command = [
            self.executable,
            "--save", "",
            "--appendonly", "yes" if self.durable else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            *self._security_options(),
            "--bind", self.host,
            "--dir", str(directory),
            *self.options,
        ]  # fmt: skip
        with self._log.open("wb") as log:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=directory,
                )
            except OSError as exc:
                raise RedisServerError(f"cannot run {self.executable}: {exc}") from exc
        self._process = process
        while True:
            if process.poll() is not None:
                self._process = None
                return f"it exited with code {process.returncode}; output:\n{self.output()}"
            if self._ping(timeout=0.25):
                if process.poll() is None:
                    return ""
                continue  # somebody else answered: our process is exiting
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        self.stop()
        return f"no +PONG in time; output:\n{self.output()}"


def _find_executable() -> str:
    if os.access(DEFAULT_EXECUTABLE, os.X_OK):
        return DEFAULT_EXECUTABLE
    return shutil.which("redis-server") or DEFAULT_EXECUTABLE


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` shared by the session; always stopped at its end.

    Fails the test, saying how to install it, when ``redis-server`` is missing
    (``python3 dev.py test`` installs it on Debian).
    """
    server = RedisServer()
    if not os.access(server.executable, os.X_OK):
        pytest.fail(
            f"redis-server not found (looked for {DEFAULT_EXECUTABLE} and on PATH);"
            " install it (apt-get install redis-server) or run `python3 dev.py test`"
        )
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def durable_server() -> Iterator[RedisServer]:
    """A durable private server (append-only file, fsync always) of the test
    module's own, which its tests may kill and restart."""
    server = RedisServer(durable=True)
    server.start()
    try:
        yield server
    finally:
        server.close()
