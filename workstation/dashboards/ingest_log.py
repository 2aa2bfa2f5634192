"""Counting C-STORE refusals for ``/metrics``: they leave no database row, only a log line
from the SCP, so a logging handler on the SCP's logger counts them in Redis (configured in
``settings.LOGGING``; this module imports no models, as logging is set up before apps)."""

from __future__ import annotations

import logging

import redis
from django.conf import settings


def ingest_failures_key() -> str:
    """One counter per database: deployments (and test runs) sharing a Redis stay apart."""
    return f"radws:metrics:ingest_failures:{settings.DATABASES['default']['NAME']}"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        str(settings.REDIS_URL), socket_timeout=0.5, socket_connect_timeout=0.5
    )


class IngestFailureHandler(logging.Handler):
    """Counts the SCP's WARNING/ERROR lines about a C-STORE (each is a refusal: success is
    logged at INFO). A Redis outage never disturbs the SCP: that count is lost, reported."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING or not str(record.msg).startswith("C-STORE"):
            return
        try:
            redis_client().incr(ingest_failures_key())
        except redis.RedisError:
            self.handleError(record)
