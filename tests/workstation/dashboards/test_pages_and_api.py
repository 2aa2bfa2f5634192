"""Who sees the dashboards, what the pages and API show, and the CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.workstation.dashboards.history import register_versions
from workstation.audit.models import AuditEvent
from workstation.dashboards.models import AbExperiment

pytestmark = pytest.mark.django_db

RANGE = "since=2026-03-02&until=2026-03-03"
PAGES = ["/dashboards/manager/", "/dashboards/model/", "/dashboards/ab/"]
APIS = ["/api/v1/dashboards/manager", "/api/v1/dashboards/model", "/api/v1/dashboards/drift"]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("manager", 200),
        ("administrator", 200),
        ("reader", 403),
        ("clinician", 403),
        ("outsider", 403),
    ],
)
def test_only_managers_and_administrators_see_the_dashboards(
    actor: str, status: int, request: pytest.FixtureRequest, dashboard_settings: Any
) -> None:
    client = _client(request.getfixturevalue(actor))
    for url in PAGES + APIS + ["/api/v1/dashboards/manager/turnaround.csv"]:
        assert client.get(url).status_code == status, url


def test_a_denied_radiologist_is_audited(reader: Any, dashboard_settings: Any) -> None:
    _client(reader).get("/dashboards/manager/")
    assert AuditEvent.objects.filter(username="reader", action="denied").exists()


def test_an_anonymous_visitor_is_sent_to_sign_in(db: None) -> None:
    response = Client().get("/dashboards/manager/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert APIClient().get("/api/v1/dashboards/manager").status_code in (401, 403)


def test_the_manager_page_shows_the_figures(department: Any, manager: Any) -> None:
    html = _client(manager).get(f"/dashboards/manager/?{RANGE}").content.decode()
    for figure in ("5490", "7137", "7020", "0.5", "attending"):
        assert f">{figure}<" in html, figure


def test_the_model_page_shows_alerts_in_red(department: Any, manager: Any) -> None:
    html = _client(manager).get(f"/dashboards/model/?{RANGE}").content.decode()
    assert html.count('data-state="alert"') == 3
    assert "P99 38890 ms" in html
    assert "not for clinical use" in html


def test_the_api_returns_every_table_as_json(department: Any, manager: Any) -> None:
    api = APIClient()
    api.force_authenticate(manager)
    body = api.get(f"/api/v1/dashboards/manager?{RANGE}&group=radiologist").json()
    assert body["filter"]["group"] == "radiologist"
    assert set(body["tables"]) == {
        "turnaround",
        "quality",
        "edit_distance_histogram",
        "awaiting_signature",
        "radiologist_volume",
        "urgent",
    }
    volume = body["tables"]["radiologist_volume"]["rows"]
    assert [(r["radiologist"], r["signed"]) for r in volume] == [("reader", 2), ("attending", 1)]
    model = api.get(f"/api/v1/dashboards/model?{RANGE}").json()
    assert {a["name"]: a["state"] for a in model["alerts"]} == {
        "critical_sensitivity": "alert",
        "p99_latency_s": "alert",
        "hallucination_rate": "alert",
    }
    assert "queue_depth" in model["live"]


def test_it_refuses_a_bad_filter_with_400(manager: Any, dashboard_settings: Any) -> None:
    api = APIClient()
    api.force_authenticate(manager)
    response = api.get("/api/v1/dashboards/manager?since=2026-03-05&until=2026-03-01")
    assert response.status_code == 400
    assert "since" in str(response.json())
    assert api.get("/api/v1/dashboards/manager?group=weekday").status_code == 400
    page = _client(manager).get("/dashboards/manager/?since=not-a-date")
    assert page.status_code == 400


def test_each_table_exports_as_csv(department: Any, manager: Any) -> None:
    client = _client(manager)
    response = client.get(f"/api/v1/dashboards/manager/turnaround.csv?{RANGE}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["day", "studies", "drafted", "signed"]
    assert rows[1][:4] == ["2026-03-02", "2", "2", "2"]
    assert rows[1][8] == "5490.0"
    for dashboard, table in [
        ("manager", "quality"),
        ("manager", "edit_distance_histogram"),
        ("manager", "awaiting_signature"),
        ("manager", "radiologist_volume"),
        ("manager", "urgent"),
        ("model", "overview"),
        ("model", "latency"),
        ("model", "hallucination"),
        ("model", "critical_sensitivity"),
        ("model", "detection_rates"),
        ("model", "detection_daily"),
    ]:
        exported = client.get(f"/api/v1/dashboards/{dashboard}/{table}.csv?{RANGE}")
        assert exported.status_code == 200, table
        assert len(exported.content.decode().splitlines()) >= 2, table
    assert client.get("/api/v1/dashboards/manager/nothing.csv").status_code == 404
    assert AuditEvent.objects.filter(action="export", object_type="dashboard_csv").count() == 12


def test_the_charts_are_svg(department: Any, manager: Any) -> None:
    client = _client(manager)
    for name in ("turnaround", "edit-distance", "latency", "detection"):
        response = client.get(f"/dashboards/charts/{name}.svg?{RANGE}")
        assert response.status_code == 200, name
        assert response["Content-Type"] == "image/svg+xml"
        assert b"<svg" in response.content
    assert client.get("/dashboards/charts/nothing.svg").status_code == 404


def test_figures_are_cached_for_the_configured_time(
    department: Any, manager: Any, dashboard_settings: Any
) -> None:
    from tests.workstation.dashboards.conftest import window
    from workstation.dashboards.services import manager_dashboard

    dashboard_settings.DASHBOARD_CACHE_SECONDS = 60
    before = manager_dashboard(window())["turnaround"].rows
    from reports.models import Report

    Report.objects.filter(ai_draft_rejected=True).update(ai_draft_rejected=False)
    assert manager_dashboard(window())["turnaround"].rows == before
    assert manager_dashboard(window())["quality"].as_dicts()[0]["rejected"] == 1  # cached
    dashboard_settings.DASHBOARD_CACHE_SECONDS = 0
    assert manager_dashboard(window())["quality"].as_dicts()[0]["rejected"] == 0


def test_an_administrator_runs_an_experiment_from_the_ab_page(
    administrator: Any, manager: Any, dashboard_settings: Any
) -> None:
    register_versions("m:1", "m:2")
    admin = _client(administrator)
    response = admin.post(
        "/dashboards/ab/",
        {"name": "trial", "control_version": "m:1", "candidate_version": "m:2", "fraction": "0.1"},
    )
    assert response.status_code == 302
    page = admin.get("/dashboards/ab/").content.decode()
    assert "trial: m:2 on 0.1 of studies vs m:1 (running)" in page
    assert 'id="promotable">not met<' in page
    experiment_id = AbExperiment.objects.get().pk
    admin.post(f"/dashboards/ab/{experiment_id}/promote")
    assert "does not meet the promotion rule" in admin.get("/dashboards/ab/").content.decode()
    # A manager may read the comparison but not act on it.
    reader_view = _client(manager)
    assert "Promote" not in reader_view.get("/dashboards/ab/").content.decode()
    reader_view.post(f"/dashboards/ab/{experiment_id}/stop")
    assert AbExperiment.objects.get().status == "running"
    api = APIClient()
    api.force_authenticate(manager)
    body = api.get(f"/api/v1/dashboards/ab/{experiment_id}").json()
    assert [arm["arm"] for arm in body["arms"]] == ["control", "candidate"]
    assert body["promotable"] is False
