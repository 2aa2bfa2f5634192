"""``/healthz``: is each part of the stack up? 200 when all are, 503 otherwise."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

logger = logging.getLogger(__name__)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


def check_redis() -> str:
    try:
        redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


def check_scp(host: str | None = None, port: int | None = None) -> str:
    """A C-ECHO to the configured listener (as a modality would send one)."""
    ae = AE(ae_title="RADWS-HEALTH")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 2
    target = host or settings.DICOM_HEALTH_HOST
    assoc = ae.associate(target, port or settings.DICOM_PORT, ae_title=settings.DICOM_AE_TITLE)
    if not assoc.is_established:
        return "down: no association"
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status and status.get("Status") == 0x0000:
        return "ok"
    return "down: C-ECHO failed"


def check_worker() -> str:
    from workstation.celery import app

    try:
        replies = app.control.inspect(timeout=1.0).ping() or {}
    except Exception as exc:  # kombu raises transport-specific errors
        return f"down: {exc.__class__.__name__}"
    return f"ok ({len(replies)})" if replies else "down: no worker answered"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": check_database(),
        "redis": check_redis(),
        "scp": check_scp(),
        "worker": check_worker(),
    }
    healthy = all(value.startswith("ok") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )
