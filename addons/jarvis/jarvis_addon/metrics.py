"""The add-on's Prometheus metrics: every name in one place, with the helpers that record them.

`GET /metrics` (and `/api/v1/metrics`) serve REGISTRY in Prometheus' text format, behind the same
bearer token as the rest of the API. Modules never touch the metric objects; they call the
helpers below (printers, CV, CAD and the local model proxy), so names and labels stay consistent
with dashboards/grafana/routing.json. The MQTT figures are read from the bridge at scrape time
(bind_mqtt), so the bridge keeps one counter and the scrape can never disagree with /health.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import __version__

NAMESPACE: Final = "jarvis_addon"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# Printer states as the printers module reports them (DESIGN.md: jarvis/devices/<id>/state).
PRINTER_STATES: Final = (
    "offline",
    "idle",
    "printing",
    "paused",
    "cancelling",
    "finished",
    "error",
)
# Frame analysis takes tens of milliseconds on a CPU; a second is already far too slow.
FRAME_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Print jobs run minutes to a day.
PRINT_JOB_BUCKETS: Final = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 57600, 86400)
# CAD jobs: CadQuery in seconds, text-to-CAD services in minutes.
CAD_JOB_BUCKETS: Final = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# The bundled model answers in tenths of a second to tens of seconds on one thread.
LLM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REGISTRY: Final = CollectorRegistry()

BUILD_INFO: Final = Info("build", "Add-on version", namespace=NAMESPACE, registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

CV_FRAME_SECONDS: Final = Histogram(
    "cv_frame_seconds",
    "Time to analyse one camera frame for print failures",
    ["camera"],
    namespace=NAMESPACE,
    buckets=FRAME_BUCKETS,
    registry=REGISTRY,
)
CV_DETECTIONS: Final = Counter(
    "cv_detections",
    "Print failure detections (warning or failure) per camera",
    ["camera", "severity"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
PRINTER_STATE: Final = Gauge(
    "printer_state",
    "1 for the printer's current state, 0 for the others",
    ["printer", "state"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
PRINT_JOB_SECONDS: Final = Histogram(
    "print_job_duration_seconds",
    "Duration of finished print jobs by result (completed, cancelled, failed)",
    ["printer", "result"],
    namespace=NAMESPACE,
    buckets=PRINT_JOB_BUCKETS,
    registry=REGISTRY,
)
CAD_JOB_SECONDS: Final = Histogram(
    "cad_job_duration_seconds",
    "Duration of CAD jobs by backend and result (succeeded, failed)",
    ["backend", "result"],
    namespace=NAMESPACE,
    buckets=CAD_JOB_BUCKETS,
    registry=REGISTRY,
)
CAD_JOB_FAILURES: Final = Counter(
    "cad_job_failures",
    "Failed CAD jobs by backend and reason",
    ["backend", "reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
LLM_REQUEST_SECONDS: Final = Histogram(
    "llm_request_duration_seconds",
    "Bundled local model: time from request to the end of the answer, by endpoint and status",
    ["endpoint", "status"],
    namespace=NAMESPACE,
    buckets=LLM_BUCKETS,
    registry=REGISTRY,
)

MQTT_RECONNECTS_NAME: Final = f"{NAMESPACE}_mqtt_reconnects"
MQTT_CONNECTED_NAME: Final = f"{NAMESPACE}_mqtt_connected"


# -- helpers other modules call ---------------------------------------------------------------


def observe_cv_frame(camera: str, seconds: float) -> None:
    """One frame analysed."""
    CV_FRAME_SECONDS.labels(camera=camera).observe(max(0.0, seconds))


def count_cv_detection(camera: str, severity: str) -> None:
    """A warning or failure was detected on this camera."""
    CV_DETECTIONS.labels(camera=camera, severity=severity).inc()


def set_printer_state(printer: str, state: str) -> None:
    """The printer is in this state now (unknown states are exported too, as they come)."""
    for known in {*PRINTER_STATES, state}:
        PRINTER_STATE.labels(printer=printer, state=known).set(1 if known == state else 0)


def remove_printer(printer: str) -> None:
    """The printer was removed: stop exporting its series."""
    for (name, state), _ in list(_children(PRINTER_STATE)):
        if name == printer:
            PRINTER_STATE.remove(name, state)


def observe_print_job(printer: str, result: str, seconds: float) -> None:
    """A print job ended (completed, cancelled or failed) after this long."""
    PRINT_JOB_SECONDS.labels(printer=printer, result=result).observe(max(0.0, seconds))


def observe_cad_job(backend: str, seconds: float, *, failure_reason: str | None = None) -> None:
    """A CAD job ended; a failure also counts under its reason."""
    result = "succeeded" if failure_reason is None else "failed"
    CAD_JOB_SECONDS.labels(backend=backend, result=result).observe(max(0.0, seconds))
    if failure_reason is not None:
        CAD_JOB_FAILURES.labels(backend=backend, reason=failure_reason).inc()


def observe_llm_request(endpoint: str, status: int, seconds: float) -> None:
    """One request to the bundled model's OpenAI-compatible API, answer fully sent."""
    LLM_REQUEST_SECONDS.labels(endpoint=endpoint, status=str(status)).observe(max(0.0, seconds))


def _children(metric: Gauge) -> Iterable[tuple[tuple[str, ...], object]]:
    # prometheus_client keeps children per label values; collect() lists them without touching
    # private attributes.
    for family in metric.collect():
        for sample in family.samples:
            yield tuple(sample.labels[n] for n in ("printer", "state")), sample.value


class MqttFigures(Protocol):
    """What the MQTT bridge exposes (mqtt.MqttBridge)."""

    connected: bool
    reconnects: int


class _MqttCollector(Collector):
    def __init__(self, mqtt: MqttFigures) -> None:
        self.mqtt = mqtt

    def collect(self) -> Iterator[Metric]:
        reconnects = CounterMetricFamily(
            MQTT_RECONNECTS_NAME, "MQTT connection attempts after the first one"
        )
        reconnects.add_metric([], float(self.mqtt.reconnects))
        yield reconnects
        connected = GaugeMetricFamily(MQTT_CONNECTED_NAME, "1 while connected to the broker")
        connected.add_metric([], 1.0 if self.mqtt.connected else 0.0)
        yield connected


_mqtt_collector: _MqttCollector | None = None


def bind_mqtt(mqtt: MqttFigures) -> None:
    """Export this bridge's figures (a later call replaces the earlier bridge)."""
    global _mqtt_collector  # noqa: PLW0603 - one bridge per process
    if _mqtt_collector is None:
        _mqtt_collector = _MqttCollector(mqtt)
        REGISTRY.register(_mqtt_collector)
    else:
        _mqtt_collector.mqtt = mqtt


def exposition() -> bytes:
    """Every metric in Prometheus' text format."""
    return generate_latest(REGISTRY)


def metric_names() -> set[str]:
    """Names a query may use (counters and histograms with their sample suffixes)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.update({f"{family.name}_total", f"{family.name}_created"})
        elif family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count", "_created"))
        elif family.type == "info":
            names.add(f"{family.name}_info")
    return names
