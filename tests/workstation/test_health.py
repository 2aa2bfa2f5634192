"""/healthz reports each part of the stack and answers 503 when one is down."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import LiveScp, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_200_when_database_redis_scp_and_worker_are_up(
    live_scp: LiveScp, celery_worker: object, settings: object
) -> None:
    settings.DICOM_HEALTH_HOST, settings.DICOM_PORT = live_scp.host, live_scp.port  # type: ignore[attr-defined]

    response = Client().get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["database"] == body["redis"] == body["scp"] == "ok"
    assert body["worker"].startswith("ok")


def test_it_answers_503_naming_the_scp_when_no_listener_runs(settings: object) -> None:
    settings.DICOM_HEALTH_HOST, settings.DICOM_PORT = "127.0.0.1", free_port()  # type: ignore[attr-defined]

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["scp"].startswith("down")
    assert response.json()["database"] == "ok"
