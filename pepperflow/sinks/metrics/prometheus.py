"""A registry exported to Prometheus (``pip install 'pepperflow[prometheus]'``).

::

    from pepperflow.sinks.metrics.prometheus import serve_prometheus

    async with serve_prometheus(metrics, port=9464) as endpoint:
        ...  # Prometheus scrapes endpoint.url while the block runs

:class:`RegistryCollector` is a ``prometheus_client`` collector that reads a
:class:`~pepperflow.MetricsRegistry` at every scrape (the registry's collect
callbacks run then: a store's figures are read at that moment). Register it
on any ``prometheus_client`` registry, or let :func:`prometheus_registry`
make one. Counters are exposed as ``<name>_total``, histograms with their
buckets (``<name>_bucket{le=...}``, ``_sum``, ``_count``); a series
without one of its metric's labels has it empty.

:func:`serve_prometheus` serves the exposition over HTTP on loopback by
default, from a task of the caller's task group (no thread): any path
answers, with ``prometheus_client``'s own content negotiation (text or
OpenMetrics, gzip) through its ASGI app. A scrape reads the registry in the
event loop's thread; ``prometheus_client.start_http_server`` would read it
from a thread of its own while the loop writes it: prefer
:func:`serve_prometheus`.

Importing this module without ``prometheus_client`` raises
:class:`~pepperflow.MissingExtra`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, groupby
from typing import Any, Self, cast

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from ..._lifecycle import TaskRunner
from ...stores.url import require
from ._meter import HELP
from ._registry import MetricSample, MetricsRegistry

require("prometheus_client", "prometheus", "pepperflow.sinks.metrics.prometheus")

from prometheus_client import CollectorRegistry, make_asgi_app  # noqa: E402
from prometheus_client.core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector  # noqa: E402
from prometheus_client.utils import floatToGoString as _float_to_go  # noqa: E402

__all__ = ["PrometheusEndpoint", "RegistryCollector", "prometheus_registry", "serve_prometheus"]

#: A bound as Prometheus writes it in ``le`` (``"0.005"``, ``"+Inf"``).
_le = cast("Callable[[float], str]", _float_to_go)
_HEAD_LIMIT = 16384  # bytes of a request line and headers
_REQUEST_SECONDS = 10.0  # a client gets this long to send its request


class RegistryCollector(Collector):
    """A ``prometheus_client`` collector reading ``registry`` at each scrape."""

    def __init__(self, registry: MetricsRegistry) -> None:
        if not isinstance(registry, MetricsRegistry):
            raise TypeError(
                f"RegistryCollector reads a pepperflow.MetricsRegistry, got"
                f" {type(registry).__name__}"
            )
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        """One metric family per name, from the registry's samples now."""
        for name, group in groupby(self.registry.samples(), key=lambda s: s.name):
            yield _family(name, list(group))

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the names are known at scrape time."""
        return ()


def _family(name: str, samples: Sequence[MetricSample]) -> Metric:
    labels = sorted({label for sample in samples for label in sample.labels})
    kind = samples[0].kind
    help_text = HELP.get(name, name)
    family: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
    if kind == "counter":
        family = CounterMetricFamily(name, help_text, labels=labels)
    elif kind == "gauge":
        family = GaugeMetricFamily(name, help_text, labels=labels)
    else:
        family = HistogramMetricFamily(name, help_text, labels=labels)
    for sample in samples:
        values = [sample.labels.get(label, "") for label in labels]
        if isinstance(family, HistogramMetricFamily):
            family.add_metric(values, _buckets(sample), sample.value)
        else:
            family.add_metric(values, sample.value)
    return family


def _buckets(sample: MetricSample) -> list[tuple[str, float]]:
    """Prometheus's cumulative buckets, ``+Inf`` last, of a histogram sample."""
    bounds = [_le(bound) for bound in sample.bounds]
    counts = list(accumulate(sample.bucket_counts))
    if not bounds:  # a histogram without buckets: everything is in +Inf
        return [("+Inf", float(sample.count))]
    return [*zip(bounds, map(float, counts), strict=False), ("+Inf", float(sample.count))]


def prometheus_registry(registry: MetricsRegistry) -> CollectorRegistry:
    """A new ``prometheus_client`` registry exposing ``registry`` (and nothing else)."""
    exposed = CollectorRegistry(auto_describe=False)
    exposed.register(RegistryCollector(registry))
    return exposed


class PrometheusEndpoint(anyio.abc.AsyncResource):
    """An HTTP endpoint serving a registry's exposition; see :func:`serve_prometheus`.

    ``async with`` it: it listens from ``__aenter__`` (then :attr:`port` and
    :attr:`url` are known) until the block ends, serving each request in a
    task of its own task group.
    """

    def __init__(self, registry: MetricsRegistry, host: str, port: int) -> None:
        self._app = make_asgi_app(prometheus_registry(registry))
        self.host = host
        #: The port listened on (the one the system chose for ``port=0``).
        self.port = port
        self._runner = TaskRunner(repr(self))
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None

    @property
    def url(self) -> str:
        """``http://host:port/metrics``: what Prometheus scrapes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def __aenter__(self) -> Self:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self._listener = listener
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        try:
            await self._runner.open()
            self._runner.start_soon(listener.serve, self._serve)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """Stop listening and end the requests being served (idempotent)."""
        try:
            await self._runner.aclose()
        finally:
            if self._listener is not None:
                await self._listener.aclose()

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with anyio.move_on_after(_REQUEST_SECONDS):
                head = await _read_head(stream)
                if head is None:
                    return
                await stream.send(await self._respond(*head))

    async def _respond(self, method: str, target: str, headers: list[tuple[bytes, bytes]]) -> bytes:
        if method not in ("GET", "HEAD"):
            return _response(405, [(b"allow", b"GET, HEAD")], b"")
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode("latin-1"),
            "headers": headers,
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self._app(scope, receive, send)
        start, body = sent[0], sent[1]["body"]
        return _response(start["status"], start["headers"], body, head_only=method == "HEAD")

    def __repr__(self) -> str:
        return f"<PrometheusEndpoint {self.host}:{self.port}>"


async def _read_head(
    stream: anyio.abc.SocketStream,
) -> tuple[str, str, list[tuple[bytes, bytes]]] | None:
    """The request's method, target and headers; ``None`` for a request not understood."""
    buffered = BufferedByteReceiveStream(stream)
    try:
        head = await buffered.receive_until(b"\r\n\r\n", _HEAD_LIMIT)
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound):
        return None
    request, *lines = head.decode("latin-1").split("\r\n")
    parts = request.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower().encode(), value.strip().encode("latin-1")))
    return parts[0], parts[1], headers


def _response(
    status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes, head_only: bool = False
) -> bytes:
    """The response's bytes; ``head_only``: its head alone (a HEAD request)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"content-length: " + str(len(body)).encode(), b"connection: close", b"", b""]
    return b"\r\n".join(lines) + (b"" if head_only else body)


_REASONS = {200: "OK", 405: "Method Not Allowed"}


def serve_prometheus(
    registry: MetricsRegistry, *, host: str = "127.0.0.1", port: int = 0
) -> PrometheusEndpoint:
    """Serve ``registry``'s Prometheus exposition over HTTP; ``async with`` it.

    ``port=0`` lets the system choose a free port (read it back from
    ``endpoint.port``, or scrape ``endpoint.url``). ``host`` is loopback by
    default; pass ``"0.0.0.0"`` to be scraped from other machines.

    Raises:
        TypeError: ``registry`` is not a :class:`~pepperflow.MetricsRegistry`.
        OSError: the address cannot be listened on (when entered).
    """
    if not isinstance(registry, MetricsRegistry):
        raise TypeError(
            f"serve_prometheus serves a pepperflow.MetricsRegistry, got {type(registry).__name__}"
        )
    if type(port) is not int or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535 (0: any free port), got {port!r}")
    return PrometheusEndpoint(registry, host, port)
