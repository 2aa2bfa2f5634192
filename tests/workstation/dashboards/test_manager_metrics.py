"""The manager dashboard's figures on the known history (conftest.py), exactly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workstation.dashboards.conftest import window
from workstation.dashboards.metrics import manager
from workstation.dashboards.metrics.tables import Grouping

pytestmark = pytest.mark.django_db


def test_it_computes_turnaround_percentiles_per_day(department: Any) -> None:
    rows = manager.turnaround(window()).as_dicts()
    assert [r["day"] for r in rows] == ["2026-03-02", "2026-03-03"]
    d0, d1 = rows
    assert (d0["studies"], d0["drafted"], d0["signed"]) == (2, 2, 2)
    assert d0["received_to_draft_p50_s"] == pytest.approx(90)
    assert d0["received_to_draft_p95_s"] == pytest.approx(117)
    assert d0["draft_to_signed_p50_s"] == pytest.approx(5400)
    assert d0["draft_to_signed_p95_s"] == pytest.approx(7020)
    assert d0["received_to_signed_p50_s"] == pytest.approx(5490)
    assert d0["received_to_signed_p95_s"] == pytest.approx(7137)
    assert (d1["studies"], d1["drafted"], d1["signed"]) == (3, 2, 1)
    assert d1["received_to_draft_p50_s"] == pytest.approx(60)
    assert d1["received_to_draft_p95_s"] == pytest.approx(87)
    assert d1["received_to_signed_p50_s"] == pytest.approx(690)


def test_it_computes_rejection_rate_and_edit_distance(department: Any) -> None:
    d0, d1 = manager.quality(window()).as_dicts()
    assert (d0["drafts"], d0["rejected"], d0["rejection_rate"]) == (2, 1, 0.5)
    assert d0["mean_char_distance"] == pytest.approx(0.5)
    assert d0["mean_word_distance"] == pytest.approx(0.6)
    assert (d1["drafts"], d1["rejected"], d1["rejection_rate"]) == (2, 0, 0.0)
    assert d1["mean_char_distance"] == pytest.approx(0.35)


def test_it_groups_by_model_version_and_modality(department: Any) -> None:
    (everything,) = manager.quality(window(Grouping.MODEL_VERSION)).as_dicts()
    assert everything["model_version"] == "reference-demo:demo-1"
    assert (everything["drafts"], everything["rejected"]) == (4, 1)
    rows = manager.turnaround(window(Grouping.MODALITY)).as_dicts()
    assert [(r["modality"], r["studies"]) for r in rows] == [("CR", 4), ("DX", 1)]
    narrowed = manager.turnaround(window(modality="DX")).as_dicts()
    assert [(r["day"], r["studies"]) for r in narrowed] == [("2026-03-03", 1)]


def test_it_bins_edit_distances(department: Any) -> None:
    rows = manager.edit_distance_histogram(window()).as_dicts()
    assert len(rows) == 10
    assert {r["lower"]: r["reports"] for r in rows if r["reports"]} == {0.1: 1, 0.3: 1, 0.8: 1}


def test_it_lists_drafts_awaiting_signature_with_their_age(department: Any) -> None:
    (row,) = manager.awaiting_signature(window()).as_dicts()
    assert row["report_id"] == department["C"].created["report_id"]
    assert (row["modality"], row["stat"], row["critical"]) == ("DX", True, True)
    assert row["age_s"] == pytest.approx(50370)


def test_it_counts_volume_per_radiologist(department: Any) -> None:
    rows = manager.radiologist_volume(window()).as_dicts()
    assert [(r["radiologist"], r["signed"], r["drafts_rejected"]) for r in rows] == [
        ("reader", 2, 0),
        ("attending", 1, 1),
    ]
    assert rows[0]["mean_char_distance"] == pytest.approx(0.25)
    assert rows[0]["draft_to_signed_p50_s"] == pytest.approx(2100)
    narrowed = manager.turnaround(window(radiologist="attending")).as_dicts()
    assert [(r["day"], r["signed"]) for r in narrowed] == [("2026-03-02", 1)]


def test_it_times_stat_and_critical_studies_to_signature(department: Any) -> None:
    stat, critical = manager.urgent(window()).as_dicts()
    assert (stat["category"], stat["studies"], stat["signed"], stat["unsigned"]) == (
        "stat",
        1,
        0,
        1,
    )
    assert stat["received_to_signed_p50_s"] is None
    assert stat["oldest_unsigned_age_s"] == pytest.approx(50400)
    assert (critical["studies"], critical["signed"], critical["unsigned"]) == (2, 1, 1)
    assert critical["received_to_signed_p50_s"] == pytest.approx(3660)
