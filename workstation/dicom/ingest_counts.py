"""Counting C-STORE refusals for ``/metrics``. A refusal leaves no database row, so the SCP
counts it in Redis, per DIMSE status, as it answers; the Prometheus exporter
(``workstation.dashboards.prometheus``) reads the counts at scrape time.

A Redis outage never disturbs the SCP: that count is lost and the loss is logged."""

from __future__ import annotations

import logging

import redis
from django.conf import settings

logger = logging.getLogger(__name__)


def ingest_failures_key() -> str:
    """One hash per database: deployments (and test runs) sharing a Redis stay apart."""
    return f"radws:metrics:ingest_failures:{settings.DATABASES['default']['NAME']}"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        str(settings.REDIS_URL), socket_timeout=0.5, socket_connect_timeout=0.5
    )


def ingest_failure_count(*, status: int) -> None:
    """Count one refused C-STORE under its status (``0xA700``...)."""
    try:
        redis_client().hincrby(ingest_failures_key(), f"0x{status:04X}", 1)
    except redis.RedisError as exc:
        logger.warning("C-STORE refusal 0x%04X not counted for /metrics: %s", status, exc)


def ingest_failures() -> dict[str, int]:
    """Refused C-STOREs so far, by status. Raises ``redis.RedisError``."""
    counts: dict[bytes, bytes] = redis_client().hgetall(ingest_failures_key())  # type: ignore[assignment]
    return {key.decode(): int(value) for key, value in counts.items()}
