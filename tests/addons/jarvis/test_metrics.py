"""`/metrics`: Prometheus text format, the same token rules as the API, and the recorded figures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
import pytest
import pytest_asyncio

from jarvis_addon import __version__, metrics
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus

from .test_llm_proxy import BASE, Setup, auth, ready_client, setup  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

TOKEN = "api-token-for-metrics-0123456789"
INGRESS = {"X-Ingress-Path": "/api/hassio_ingress/abc"}


Factory = Callable[..., Any]


@pytest_asyncio.fixture
async def api() -> AsyncIterator[Factory]:
    clients: list[TestClient[Any, Any]] = []

    async def make(bridge: BridgeStatus | None = None, **overrides: Any) -> TestClient[Any, Any]:
        state = ApiState(api_token=TOKEN, mqtt=bridge or BridgeStatus(), **overrides)
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(
    client: TestClient[Any, Any],
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    return samples(await resp.text())


@pytest.mark.parametrize("path", ["/metrics", "/api/v1/metrics"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_metrics_need_the_api_token(api: Factory, path: str, headers: dict[str, str]) -> None:
    client = await api()
    resp = await client.get(path, headers=headers)
    assert (resp.status, resp.content_type) == (401, "application/json")
    assert (await resp.json())["error"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="jarvis"'


async def test_every_metric_is_declared_with_the_version(api: Factory) -> None:
    client = await api()
    resp = await client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    text = await resp.text()
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert declared >= {
        "jarvis_addon_build_info",
        "jarvis_addon_cv_frame_seconds",
        "jarvis_addon_cv_detections_total",
        "jarvis_addon_printer_state",
        "jarvis_addon_print_job_duration_seconds",
        "jarvis_addon_cad_job_duration_seconds",
        "jarvis_addon_cad_job_failures_total",
        "jarvis_addon_llm_request_duration_seconds",
        "jarvis_addon_mqtt_reconnects_total",
        "jarvis_addon_mqtt_connected",
    }
    assert samples(text)[("jarvis_addon_build_info", frozenset({("version", __version__)}))] == 1


async def test_mqtt_figures_are_read_from_the_bridge_at_scrape_time(api: Factory) -> None:
    bridge = BridgeStatus(connected=True, reconnects=2)
    client = await api(bridge)
    got = await scrape(client)
    assert got[("jarvis_addon_mqtt_reconnects_total", frozenset())] == 2
    assert got[("jarvis_addon_mqtt_connected", frozenset())] == 1
    bridge.connected, bridge.reconnects = False, 3
    got = await scrape(client)
    assert got[("jarvis_addon_mqtt_reconnects_total", frozenset())] == 3
    assert got[("jarvis_addon_mqtt_connected", frozenset())] == 0


async def test_ingress_needs_no_token_but_only_from_the_supervisor(api: Factory) -> None:
    trusted = await api(supervised=True, ingress_peer="127.0.0.1")
    assert (await trusted.get("/metrics", headers=INGRESS)).status == 200
    assert (await trusted.get("/api/v1/info", headers=INGRESS)).status == 200
    assert (await trusted.get("/metrics")).status == 401  # no ingress header: token needed
    # Without a Supervisor anyone could send the header: it proves nothing.
    plain = await api()
    assert (await plain.get("/metrics", headers=INGRESS)).status == 401
    # Under a Supervisor, from any other peer, the ingress guard refuses it outright.
    elsewhere = await api(supervised=True, ingress_peer="172.30.32.2")
    assert (await elsewhere.get("/metrics", headers=INGRESS)).status == 403


async def test_helpers_record_printers_cv_and_cad(api: Factory) -> None:
    client = await api()
    metrics.set_printer_state("mk4-test", "printing")
    metrics.set_printer_state("mk4-test", "paused")
    metrics.set_printer_state("mk4-test", "heating")  # a state the list does not know yet
    metrics.observe_print_job("mk4-test", "completed", 3600)
    metrics.observe_cv_frame("cam-test", 0.02)
    metrics.count_cv_detection("cam-test", "failure")
    metrics.observe_cad_job("cadquery-test", 2.0)
    metrics.observe_cad_job("cadquery-test", 1.0, failure_reason="invalid_geometry")
    got = await scrape(client)

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert value("jarvis_addon_printer_state", printer="mk4-test", state="heating") == 1
    assert value("jarvis_addon_printer_state", printer="mk4-test", state="paused") == 0
    assert value("jarvis_addon_printer_state", printer="mk4-test", state="printing") == 0
    assert (
        value(
            "jarvis_addon_print_job_duration_seconds_count", printer="mk4-test", result="completed"
        )
        == 1
    )
    assert value("jarvis_addon_cv_frame_seconds_count", camera="cam-test") == 1
    assert value("jarvis_addon_cv_frame_seconds_bucket", camera="cam-test", le="0.025") == 1
    assert value("jarvis_addon_cv_detections_total", camera="cam-test", severity="failure") == 1
    assert (
        value(
            "jarvis_addon_cad_job_duration_seconds_count", backend="cadquery-test", result="failed"
        )
        == 1
    )
    assert (
        value(
            "jarvis_addon_cad_job_failures_total",
            backend="cadquery-test",
            reason="invalid_geometry",
        )
        == 1
    )
    metrics.remove_printer("mk4-test")
    got = await scrape(client)
    assert not any(
        name == "jarvis_addon_printer_state" and ("printer", "mk4-test") in labels
        for name, labels in got
    )


async def test_local_model_requests_are_timed(setup: Setup) -> None:  # noqa: F811
    client = await ready_client(setup)

    def count(text: str, endpoint: str, status: str) -> float:
        key = (
            "jarvis_addon_llm_request_duration_seconds_count",
            frozenset({("endpoint", endpoint), ("status", status)}),
        )
        return samples(text).get(key, 0.0)

    before = metrics.exposition().decode()
    resp = await client.post(f"{BASE}/chat/completions", json={"messages": []}, headers=auth())
    assert resp.status == 200
    resp = await client.post(f"{BASE}/chat/completions?status=400", json={}, headers=auth())
    assert resp.status == 400
    after = metrics.exposition().decode()
    assert count(after, "chat/completions", "200") == count(before, "chat/completions", "200") + 1
    assert count(after, "chat/completions", "400") == count(before, "chat/completions", "400") + 1


async def test_metric_names_cover_sample_suffixes() -> None:
    names = metrics.metric_names()
    assert {
        "jarvis_addon_llm_request_duration_seconds_bucket",
        "jarvis_addon_mqtt_reconnects_total",
        "jarvis_addon_cv_detections_total",
        "jarvis_addon_build_info",
    } <= names
