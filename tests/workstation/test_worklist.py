"""workstation.worklist: escalation before AI priority, the flag and "my studies" filters,
assignment on the rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from inference.labels import Label
from reports.models import AiDraft
from reports.services.assignment import study_assign
from tests.reports.factories import draft_make, study_make
from workstation.studies.models import Study, StudyStatus
from workstation.worklist import worklist_page

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _received(study: Study, minutes_ago: float) -> None:
    Study.objects.filter(pk=study.pk).update(
        received_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def _ai(study: Study, *, critical: bool, review: bool = False) -> None:
    AiDraft.objects.create(
        version=draft_make(study=study),
        backend="reference",
        model_name="reference-tiny",
        model_version="test-1",
        processing_time_ms=1.0,
        requires_radiologist_review=review,
        findings=[
            {
                "finding": "Pleural effusion",
                "label": Label.PLEURAL_EFFUSION.value,
                "confidence": 0.9,
                "bounding_box": None,
                "is_critical": critical,
                "heatmap": None,
            }
        ],
    )


def _names(user: Any, **filters: Any) -> list[str]:
    flag = filters.pop("flag", "")
    mine = filters.pop("mine", False)
    page = worklist_page(user=user, filters=filters, flag=flag, mine=mine)  # type: ignore[arg-type]
    return [row.study.patient.name for row in page.rows]


def test_it_moves_a_study_waiting_past_the_limit_above_ai_critical_ones(
    reader: Any, settings: Any
) -> None:
    settings.WORKLIST_ESCALATION_MINUTES = 30
    critical = study_make(patient_name="Fresh^Critical")
    missed = study_make(patient_name="Old^LowScore")
    Study.objects.filter(pk=critical.pk).update(priority=0.95)
    Study.objects.filter(pk=missed.pk).update(priority=0.01)
    _received(critical, 5)
    _received(missed, 31)

    page = worklist_page(user=reader, filters={})

    assert [row.study.patient.name for row in page.rows] == ["Old^LowScore", "Fresh^Critical"]
    assert [row.escalated for row in page.rows] == [True, False]


def test_it_keeps_ai_priority_then_age_below_the_limit(reader: Any, settings: Any) -> None:
    settings.WORKLIST_ESCALATION_MINUTES = 60
    low_old = study_make(patient_name="Low^Old")
    high_new = study_make(patient_name="High^New")
    low_new = study_make(patient_name="Low^New")
    Study.objects.filter(pk=high_new.pk).update(priority=0.8)
    _received(low_old, 20)
    _received(high_new, 5)
    _received(low_new, 10)

    assert _names(reader) == ["High^New", "Low^Old", "Low^New"]


def test_signed_studies_are_never_escalated(reader: Any, settings: Any) -> None:
    settings.WORKLIST_ESCALATION_MINUTES = 1
    signed = study_make(patient_name="Signed^Long", status=StudyStatus.SIGNED)
    _received(signed, 600)

    page = worklist_page(user=reader, filters={})

    assert page.rows[0].escalated is False


def test_it_filters_by_flag(reader: Any, settings: Any) -> None:
    settings.WORKLIST_ESCALATION_MINUTES = 30
    critical = study_make(patient_name="Has^Critical")
    _ai(critical, critical=True)
    review = study_make(patient_name="Needs^Review")
    _ai(review, critical=False, review=True)
    late = study_make(patient_name="Waits^Long")
    _received(late, 45)
    stat = study_make(patient_name="Is^Stat")
    Study.objects.filter(pk=stat.pk).update(is_stat=True)

    assert _names(reader, flag="critical") == ["Has^Critical"]
    assert _names(reader, flag="review") == ["Needs^Review"]
    assert _names(reader, flag="escalated") == ["Waits^Long"]
    assert _names(reader, flag="stat") == ["Is^Stat"]


def test_my_studies_are_the_ones_assigned_to_me(reader: Any, attending: Any) -> None:
    mine = study_make(patient_name="Mine^One")
    theirs = study_make(patient_name="Theirs^Two")
    study_make(patient_name="Nobody^Three")
    study_assign(study=mine, assignee=reader, by=attending)
    study_assign(study=theirs, assignee=attending, by=attending)

    assert _names(reader, mine=True) == ["Mine^One"]
    assert {row.assignee for row in worklist_page(user=reader, filters={}).rows} == {
        "reader",
        "attending",
        "",
    }


def test_the_rows_show_escalation_assignment_and_the_filters(
    reader: Any, attending: Any, settings: Any
) -> None:
    settings.WORKLIST_ESCALATION_MINUTES = 30
    study = study_make(patient_name="Late^Lee")
    _received(study, 90)
    study_assign(study=study, assignee=attending, by=reader)
    client = _client(reader)

    page = client.get("/").content.decode()
    rows = client.get("/worklist/rows", {"mine": "on"}).content.decode()

    assert "escalated" in page and 'data-escalation-minutes="30"' in page
    assert "attending" in page
    assert 'name="flag"' in page and 'name="mine"' in page
    assert "Late^Lee" not in rows  # assigned to someone else


def test_an_unknown_flag_is_reported_not_applied(reader: Any) -> None:
    study_make(patient_name="Any^One")

    html = _client(reader).get("/worklist/rows", {"flag": "bogus"}).content.decode()

    assert "Filters not applied" in html
