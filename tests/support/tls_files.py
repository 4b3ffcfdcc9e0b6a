"""Throwaway TLS certificates for the private Redis servers (made with trustme).

Each TLS server makes a new CA when it first starts; no key is committed.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SERVER_NAMES", "TLSFiles"]

#: The names a test server's certificate gives by default.
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1 and
    localhost, and a client certificate, all signed by that CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path, server_names: tuple[str, ...] = SERVER_NAMES) -> TLSFiles:
        """Make a new CA and its certificates in ``directory`` (no committed
        keys); the server's certificate names ``server_names``."""
        import trustme

        ca = trustme.CA()
        server = ca.issue_cert(*server_names)
        client = ca.issue_cert("pepperflow-tests@localhost")
        files = cls(*(directory / name for name in _TLS_FILE_NAMES))
        ca.cert_pem.write_to_path(str(files.ca))
        server.cert_chain_pems[0].write_to_path(str(files.server_cert))
        server.private_key_pem.write_to_path(str(files.server_key))
        client.cert_chain_pems[0].write_to_path(str(files.client_cert))
        client.private_key_pem.write_to_path(str(files.client_key))
        return files

    def client_context(self) -> ssl.SSLContext:
        """A client's context trusting the CA, with the client certificate
        (a probe's: it does not check the server's name)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


_TLS_FILE_NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
