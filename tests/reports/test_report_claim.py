"""reports.services.report_claim / report_claim_release and /reports/{id}/claim."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services
from reports.errors import ReportClaimed
from reports.models import Report
from tests.reports.factories import draft_make, report_of

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_shows_a_second_radiologist_who_holds_the_claim_and_until_when(
    reader: object, attending: object, settings: object
) -> None:
    settings.REPORT_CLAIM_IDLE_SECONDS = 600  # type: ignore[attr-defined]
    report = report_of(draft_make())

    claimed = _client(reader).post(f"/api/v1/reports/{report.pk}/claim")
    seen = _client(attending).get(f"/api/v1/reports/{report.pk}").json()
    refused = _client(attending).post(
        f"/api/v1/reports/{report.pk}/versions",
        {"based_on_version": 0, "findings": "x", "impression": "y"},
        format="json",
    )

    assert claimed.status_code == 200
    assert seen["claim"]["holder"] == "reader"
    expires = dt.datetime.fromisoformat(seen["claim"]["expires_at"])
    assert dt.timedelta(seconds=590) < expires - timezone.now() <= dt.timedelta(seconds=600)
    assert refused.status_code == 423
    assert refused.json()["claimed_by"] == "reader" and "reader" in refused.json()["detail"]
    assert Report.objects.get(pk=report.pk).head_number == 0


def test_a_save_refreshes_the_claim(reader: object) -> None:
    report = report_of(draft_make())
    services.report_claim(study=report.study, user=reader)  # type: ignore[arg-type]
    Report.objects.filter(pk=report.pk).update(
        claim_expires_at=timezone.now() + dt.timedelta(seconds=5)
    )

    services.report_version_save(
        report=report,
        author=reader,
        based_on_version=0,
        findings="a",
        impression="b",  # type: ignore[arg-type]
    )

    remaining = Report.objects.get(pk=report.pk).claim_expires_at - timezone.now()  # type: ignore[operator]
    assert remaining > dt.timedelta(seconds=800)


def test_a_lapsed_claim_lets_another_radiologist_take_over(
    reader: object, attending: object
) -> None:
    report = report_of(draft_make())
    services.report_claim(study=report.study, user=reader)  # type: ignore[arg-type]
    Report.objects.filter(pk=report.pk).update(
        claim_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    taken = services.report_claim(study=report.study, user=attending)  # type: ignore[arg-type]

    assert taken.claimed_by == attending


def test_only_the_holder_releases_a_claim(reader: object, attending: object) -> None:
    report = report_of(draft_make())
    services.report_claim(study=report.study, user=reader)  # type: ignore[arg-type]

    with pytest.raises(ReportClaimed):
        services.report_claim_release(report=report, user=attending)  # type: ignore[arg-type]
    released = _client(reader).delete(f"/api/v1/reports/{report.pk}/claim")

    assert released.status_code == 200 and released.json()["claim"] is None
    assert services.report_claim(study=report.study, user=attending).claimed_by == attending  # type: ignore[arg-type]
