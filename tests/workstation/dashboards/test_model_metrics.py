"""The model dashboard's figures on the known history (conftest.py), exactly."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.workstation.dashboards.conftest import window
from workstation.dashboards.metrics import model
from workstation.dashboards.metrics.tables import Grouping
from workstation.dashboards.services import draft_assessments_refresh, model_dashboard

pytestmark = pytest.mark.django_db


def test_it_computes_latency_percentiles(department: Any) -> None:
    (row,) = model.latency(window(Grouping.MODEL_VERSION)).as_dicts()
    assert row["drafts"] == 4
    assert row["p50_ms"] == pytest.approx(2500)
    assert row["p95_ms"] == pytest.approx(34450)
    assert row["p99_ms"] == pytest.approx(38890)


def test_it_counts_hallucinations_and_removed_findings(department: Any) -> None:
    assert draft_assessments_refresh() == 5
    assert draft_assessments_refresh() == 0  # each draft is assessed once
    (row,) = model.hallucination(window(Grouping.MODEL_VERSION)).as_dicts()
    assert (row["drafts"], row["assessed"], row["with_hallucination"]) == (4, 4, 1)
    assert row["hallucination_rate"] == pytest.approx(0.25)
    assert (row["signed"], row["with_removed"]) == (3, 1)
    assert row["removed_rate"] == pytest.approx(1 / 3)


def test_it_measures_critical_sensitivity_against_signed_reports(department: Any) -> None:
    rows = {r["finding"]: r for r in model.critical_sensitivity(window()).as_dicts()}
    pooled = rows["(all critical)"]
    assert (pooled["signed_positive"], pooled["detected"]) == (3, 1)
    assert pooled["sensitivity"] == pytest.approx(1 / 3)
    assert rows["Pleural Effusion"]["sensitivity"] == 1.0
    assert rows["Pneumothorax"]["sensitivity"] == 0.0
    assert rows["Fracture"]["sensitivity"] is None


def test_it_compares_detection_rates_with_the_30_day_baseline(department: Any) -> None:
    rows = {r["finding"]: r for r in model.detection_rates(window()).as_dicts()}
    cardiomegaly = rows["Cardiomegaly"]
    assert (cardiomegaly["drafts"], cardiomegaly["detected"]) == (4, 2)
    assert cardiomegaly["rate"] == 0.5
    assert (cardiomegaly["baseline_drafts"], cardiomegaly["baseline_detected"]) == (1, 1)
    assert cardiomegaly["baseline_rate"] == 1.0
    assert rows["Fracture"]["rate"] == 0.0


def test_it_rolls_the_daily_baseline_over_the_previous_30_days(department: Any) -> None:
    rows = model.detection_daily(window()).as_dicts()
    second = next(r for r in rows if r["day"] == "2026-03-03" and r["finding"] == "Cardiomegaly")
    assert (second["drafts"], second["detected"]) == (2, 1)
    assert (second["baseline_drafts"], second["baseline_detected"]) == (3, 2)
    assert second["baseline_rate"] == pytest.approx(2 / 3)


def test_it_raises_and_logs_alerts_at_the_seed_thresholds(
    department: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="workstation.dashboards.metrics.model"):
        result = model_dashboard(window())
    states = {a.name: (a.state.value, a.value) for a in result["alerts"]}
    assert states["critical_sensitivity"] == ("alert", pytest.approx(1 / 3))
    assert states["p99_latency_s"] == ("alert", pytest.approx(38.89))
    assert states["hallucination_rate"] == ("alert", pytest.approx(0.25))
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert len(logged) == 3


def test_it_reports_no_alert_within_thresholds(department: Any, dashboard_settings: Any) -> None:
    dashboard_settings.ALERT_P99_LATENCY_SECONDS = 60.0
    dashboard_settings.ALERT_HALLUCINATION_RATE_MAX = 0.5
    dashboard_settings.ALERT_CRITICAL_SENSITIVITY_MIN = 0.3
    result = model_dashboard(window())
    assert {a.state.value for a in result["alerts"]} == {"ok"}


def test_it_reports_no_data_rather_than_an_alert_on_an_empty_range(
    dashboard_settings: Any,
) -> None:
    result = model_dashboard(window())
    assert {a.state.value for a in result["alerts"]} == {"no_data"}
    pooled = result["tables"]["critical_sensitivity"].as_dicts()[0]
    assert (pooled["signed_positive"], pooled["sensitivity"]) == (0, None)
