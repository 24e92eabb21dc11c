"""OpenTelemetry tracing: off by default; one trace from the MCP request to the downstream API when on.

The ``mcp`` SDK already opens a ``tools/call <name>`` span per request (``gen_ai.*``/``mcp.*`` attributes, parent
from the request's ``_meta`` trace context). Drawbridge joins it rather than duplicating it: the guard's spans
(``drawbridge.policy``, ``drawbridge.tool``, ``drawbridge.masking``) and the token exchange's are its children, the
HTTP server span comes from the ASGI instrumentation, and the ``httpx`` client used for the exchange and downstream
calls is instrumented, so ``traceparent`` reaches the downstream API and its spans join the same trace.

Only the API (``opentelemetry-api``) is used on the request path: without a configured provider every span is a
no-op. Span attributes carry ids (tool name, client_id, user id, decision) and never tokens, arguments or results.
"""

from __future__ import annotations

import httpx
import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from drawbridge.settings import TelemetrySettings

log = structlog.get_logger(__name__)

tracer = trace.get_tracer("drawbridge")


def configure_tracing(settings: TelemetrySettings) -> bool:
    """Install a tracer provider (once per process) exporting over OTLP/HTTP when an endpoint is set.

    A provider already installed (by the host application, or by tests with an in-memory exporter) is kept: a
    process has one global provider, and replacing it would orphan spans already started.

    Returns True when tracing is on.
    """
    if not settings.tracing:
        return False
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return True
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        log.warning("tracing_without_exporter", detail="set telemetry.otlp_endpoint to export spans")
    trace.set_tracer_provider(provider)
    return True


def current_trace_id() -> str | None:
    """The W3C trace id (32 hex digits) of the current span, for records that must join the trace (audit rows)."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """Trace the client's requests and inject ``traceparent`` into them (token exchange, downstream APIs)."""
    HTTPXClientInstrumentor.instrument_client(client)
