"""Prometheus ``/metrics``.

Request latency is measured in the web process (middleware). Figures produced by other
processes (drafts and their latency, QA flags, ingest) are read at scrape time from
PostgreSQL, where those processes record them, so every web process reports the same
totals without a multi-process registry. C-STORE refusals, which leave no database row,
are counted in Redis by the SCP as it answers (``workstation.dicom.ingest_counts``).

Access (``metrics_allowed``): addresses in ``METRICS_ALLOWED_IPS``, a bearer token equal to
``METRICS_TOKEN``, or a signed-in user allowed to view dashboards.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from reports.models import AiDraft, ReportVersion
from workstation.audit.middleware import client_ip
from workstation.dicom.ingest_counts import ingest_failures
from workstation.studies.models import DraftJob, Instance, Series

logger = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "radws_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and method.",
    ["route", "method", "status"],
)
DRAFT_LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class RequestLatencyMiddleware:
    """Times each request under its URL pattern's name (never the raw path: no PHI in labels)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match is not None else "") or "unmatched"
        REQUEST_LATENCY.labels(route, request.method or "", str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


def _rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


class RecordsCollector(Collector):
    """Totals read at scrape time from PostgreSQL (a few aggregate queries) and Redis."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        yield from self._drafts()
        yield self._qa_flags()
        yield self._ingest()
        yield self._jobs()
        yield self._queue()
        yield _ingest_failures()

    def _drafts(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        buckets = ", ".join(
            f"count(*) FILTER (WHERE ad.processing_time_ms <= {b * 1000})"
            for b in DRAFT_LATENCY_BUCKETS_S
        )
        rows = _rows(
            f"""SELECT v.model_version, count(*), sum(ad.processing_time_ms) / 1000.0, {buckets}
                  FROM {AiDraft._meta.db_table} ad
                  JOIN {ReportVersion._meta.db_table} v ON v.id = ad.version_id
                 GROUP BY v.model_version"""
        )
        drafts = CounterMetricFamily(
            "radws_drafts", "AI drafts saved, by model version.", labels=["model_version"]
        )
        latency = HistogramMetricFamily(
            "radws_draft_latency_seconds",
            "AI processing time per draft, by model version.",
            labels=["model_version"],
        )
        for version, count, total, *cumulative in rows:
            drafts.add_metric([str(version)], float(count))
            latency.add_metric(
                [str(version)],
                [
                    (str(b), float(c))
                    for b, c in zip(DRAFT_LATENCY_BUCKETS_S, cumulative, strict=True)
                ]
                + [("+Inf", float(count))],
                float(total or 0.0),
            )
        yield drafts
        yield latency

    def _qa_flags(self) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "radws_qa_flags", "QA flags raised on AI drafts, by kind.", labels=["kind"]
        )
        for kind, count in _rows(
            f"""SELECT f->>'kind', count(*) FROM {AiDraft._meta.db_table} ad
                 CROSS JOIN jsonb_array_elements(ad.qa_flags) f GROUP BY 1"""
        ):
            family.add_metric([str(kind)], float(count))
        return family

    def _ingest(self) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "radws_ingest_instances", "DICOM instances stored, by modality.", labels=["modality"]
        )
        for modality, count in _rows(
            f"""SELECT s.modality, count(*) FROM {Instance._meta.db_table} i
                  JOIN {Series._meta.db_table} s ON s.id = i.series_id GROUP BY 1"""
        ):
            family.add_metric([str(modality) or "none"], float(count))
        return family

    def _jobs(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "radws_draft_jobs",
            "Drafting jobs by state (failed = drafting failures).",
            labels=["state"],
        )
        for state, count in _rows(
            f"SELECT state, count(*) FROM {DraftJob._meta.db_table} GROUP BY 1"
        ):
            family.add_metric([str(state)], float(count))
        return family

    def _queue(self) -> GaugeMetricFamily:
        from workstation.dashboards.live import live_status

        family = GaugeMetricFamily(
            "radws_draft_queue_depth", "Messages waiting in the drafting queue.", labels=["queue"]
        )
        status = live_status()
        if status.queue_depth is not None:
            family.add_metric([status.queue], float(status.queue_depth))
        return family


def _ingest_failures() -> CounterMetricFamily:
    family = CounterMetricFamily(
        "radws_ingest_failures",
        "C-STORE requests refused, by DIMSE status (0xA700 out of resources, 0xC000...).",
        labels=["status"],
    )
    try:
        for status, count in sorted(ingest_failures().items()):
            family.add_metric([status], float(count))
    except redis.RedisError as exc:
        logger.warning("metrics: ingest failure count unavailable: %s", exc)
    return family


def metrics_text() -> bytes:
    """The exposition: this process's request latency, then the records' totals."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordsCollector())
    return generate_latest(REGISTRY) + generate_latest(registry)


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether this request may read ``/metrics`` (see the module docstring)."""
    if client_ip(request) in settings.METRICS_ALLOWED_IPS:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:], token):
        return True
    return bool(request.user.is_authenticated and request.user.has_perm("studies.view_dashboards"))


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
