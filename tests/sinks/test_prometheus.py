"""The Prometheus exporter, read back with prometheus_client's own parser."""

from __future__ import annotations

import importlib
import sys

import anyio
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from pepperflow import MetricsRegistry, MissingExtra
from pepperflow.sinks.metrics.prometheus import prometheus_registry, serve_prometheus
from pepperflow.stores import MemoryStore

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[str, list[Sample]]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_the_exposition_has_every_kind_with_its_labels_and_buckets() -> None:
    metrics = MetricsRegistry(buckets=[0.1, 1.0])
    metrics.counter("requests", 2, route="/a")
    metrics.gauge("queue_depth", 7)
    for value in (0.05, 0.5, 5.0):
        metrics.histogram("latency_seconds", value, route="/a")
    families = _samples(generate_latest(prometheus_registry(metrics)).decode())
    assert families["requests"] == [Sample("requests_total", {"route": "/a"}, 2.0)]
    assert families["queue_depth"] == [Sample("queue_depth", {}, 7.0)]
    buckets = {
        s.labels["le"]: s.value for s in families["latency_seconds"] if s.name.endswith("_bucket")
    }
    assert buckets == {"0.1": 1.0, "1.0": 2.0, "+Inf": 3.0}
    by_name = {s.name: s.value for s in families["latency_seconds"]}
    assert by_name["latency_seconds_count"] == 3.0 and by_name["latency_seconds_sum"] == 5.55


async def test_a_scrape_reads_a_stores_figures_at_that_moment() -> None:
    metrics = MetricsRegistry()
    exposed = prometheus_registry(metrics)
    async with MemoryStore("app", metrics=metrics) as store:
        await store.set("a", 1)
        first = _samples(generate_latest(exposed).decode())
        await store.set("b", 2)
        second = _samples(generate_latest(exposed).decode())
    labels = {"store": "app", "backend": "memory"}
    assert first["pepperflow_store_keys"] == [Sample("pepperflow_store_keys", labels, 1.0)]
    assert second["pepperflow_store_keys"] == [Sample("pepperflow_store_keys", labels, 2.0)]
    sets = [s for s in second["pepperflow_store_operations"] if s.labels["operation"] == "set"]
    assert sets == [
        Sample("pepperflow_store_operations_total", {**labels, "operation": "set"}, 2.0)
    ]


async def _get(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        reply = b""
        with anyio.fail_after(10):
            while True:
                try:
                    reply += await stream.receive()
                except anyio.EndOfStream:
                    break
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


async def test_serve_prometheus_answers_a_real_http_request_on_loopback() -> None:
    metrics = MetricsRegistry()
    metrics.counter("requests", 1, route="/a")
    async with serve_prometheus(metrics) as endpoint:
        assert endpoint.port > 0 and endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
        request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
        status, headers, body = await _get(endpoint.port, request)
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-type"].startswith("text/plain")
        assert int(headers["content-length"]) == len(body)
        assert _samples(body.decode())["requests"] == [
            Sample("requests_total", {"route": "/a"}, 1.0)
        ]
        status, headers, body = await _get(endpoint.port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 200 OK" and int(headers["content-length"]) > 0 and not body
        status, _, _ = await _get(endpoint.port, b"POST /metrics HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 405 Method Not Allowed"
    with pytest.raises(OSError, match="connect"):  # closed: nothing listens there any more
        await anyio.connect_tcp("127.0.0.1", endpoint.port)


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="MetricsRegistry"):
        serve_prometheus(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port must be"):
        serve_prometheus(MetricsRegistry(), port=70000)


def test_without_prometheus_client_the_import_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "pepperflow.sinks.metrics.prometheus")
    with pytest.raises(MissingExtra, match=r"pip install 'pepperflow\[prometheus\]'"):
        importlib.import_module("pepperflow.sinks.metrics.prometheus")
