"""Metrics (OpenTelemetry API): MCP requests, latency, policy denials and token issuance, by tool and client.

Exported as a Prometheus scrape endpoint (``/metrics``, when ``[telemetry] metrics`` is on) and over OTLP when an
endpoint is configured. Nothing here is recorded unless a meter provider is installed.

Cardinality is an attack surface: anyone can register a client (DCR) or publish a metadata document (CIMD), and
one label value per client would let them grow the server's memory and the scraper's storage without bound. Client
labels are therefore capped: the first :data:`MAX_CLIENT_LABELS` client ids seen keep their name, later ones are
counted as ``other``.
"""

from __future__ import annotations

import threading

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from drawbridge.settings import TelemetrySettings

MAX_CLIENT_LABELS = 100

_meter = metrics.get_meter("drawbridge")
mcp_requests = _meter.create_counter(
    "drawbridge.mcp.requests", unit="{request}", description="MCP tool calls and resource reads, by outcome"
)
mcp_duration = _meter.create_histogram(
    "drawbridge.mcp.duration", unit="s", description="Time in the guard per tool call or resource read"
)
policy_denials = _meter.create_counter(
    "drawbridge.policy.denials", unit="{request}", description="Calls, reads and list entries the policy denied"
)
tokens_issued = _meter.create_counter(
    "drawbridge.tokens.issued", unit="{token}", description="Access tokens issued, by grant type"
)

_clients: set[str] = set()
_lock = threading.Lock()


def client_label(client_id: str) -> str:
    """``client_id``, or ``other`` once :data:`MAX_CLIENT_LABELS` distinct clients have been labelled."""
    if client_id in _clients:
        return client_id
    with _lock:
        if len(_clients) < MAX_CLIENT_LABELS:
            _clients.add(client_id)
            return client_id
    return "other"


def configure_metrics(settings: TelemetrySettings) -> bool:
    """Install a meter provider with a Prometheus reader (and OTLP when an endpoint is set), once per process.

    Returns True when metrics are on.
    """
    if not settings.metrics:
        return False
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        return True
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    readers: list[object] = [PrometheusMetricReader()]
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/metrics"
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint)))
    provider = MeterProvider(
        metric_readers=readers,  # type: ignore[arg-type]  # both are MetricReader subclasses
        resource=Resource.create({"service.name": settings.service_name}),
    )
    metrics.set_meter_provider(provider)
    return True
