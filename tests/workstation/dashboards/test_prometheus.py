"""``/metrics``: restricted, and exporting request latency, drafts, draft latency, queue
depth, QA flags, ingest counts and failures from the real records."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.workstation.dashboards.history import DAY, Case, build
from workstation.dicom.ingest_counts import ingest_failures_key, redis_client
from workstation.studies.models import Instance, Series, Study

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition")


def test_it_refuses_an_address_outside_the_allow_list(db: None, settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = ["10.0.0.1"]
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 403


def test_it_accepts_the_bearer_token(db: None, settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client(REMOTE_ADDR="192.0.2.7")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_a_manager_may_read_it_from_anywhere(manager: Any, settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = []
    client = Client(REMOTE_ADDR="192.0.2.7")
    client.force_login(manager)
    assert client.get("/metrics").status_code == 200


def test_it_exports_the_records_figures(department: Any, settings: Any) -> None:
    flag = {"kind": "unsupported", "label": "Pneumothorax", "detail": "", "blocking": True}
    build(Case(received=DAY, draft_after_s=10, processing_ms=500, qa_flags=[flag]))
    study = Study.objects.first()
    series = Series.objects.create(series_uid="1.2.9", study=study, modality="CR")
    Instance.objects.create(
        sop_uid="1.2.9.1",
        series=series,
        sop_class_uid="1.2",
        transfer_syntax_uid="1.2",
        sha256="0" * 64,
        storage_path="00/x.dcm",
        size_bytes=1,
    )
    redis = redis_client()
    redis.delete(ingest_failures_key())
    redis.hset(ingest_failures_key(), mapping={"0xA700": 2, "0xC000": 1})
    client = Client(REMOTE_ADDR="127.0.0.1")
    client.get("/api/v1/dashboards/manager")  # a request to time (403: not signed in)
    try:
        text = client.get("/metrics").content.decode()
    finally:
        redis.delete(ingest_failures_key())
    version = 'model_version="reference-demo:demo-1"'
    assert _sample(text, f"radws_drafts_total{{{version}}}") == 6
    assert _sample(text, f'radws_draft_latency_seconds_bucket{{le="2.5",{version}}}') == 4
    assert _sample(text, f'radws_draft_latency_seconds_bucket{{le="+Inf",{version}}}') == 6
    assert _sample(text, f"radws_draft_latency_seconds_sum{{{version}}}") == pytest.approx(47.5)
    assert _sample(text, 'radws_qa_flags_total{kind="unsupported"}') == 1
    assert _sample(text, 'radws_ingest_instances_total{modality="CR"}') == 1
    assert _sample(text, 'radws_ingest_failures_total{status="0xA700"}') == 2
    assert _sample(text, 'radws_ingest_failures_total{status="0xC000"}') == 1
    assert "radws_draft_queue_depth" in text
    assert (
        'radws_http_request_duration_seconds_count{method="GET",route="api-dashboard-manager"'
        in text
    )
