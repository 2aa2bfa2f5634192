"""reports.live_qa via POST /api/v1/reports/{id}/qa-check: the editor's live QA flags."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from inference.labels import Label
from reports.models import AiDraft, Report
from tests.reports.factories import draft_make

pytestmark = pytest.mark.django_db


def _report(findings: list[tuple[Label, float]]) -> Report:
    version = draft_make()
    AiDraft.objects.create(
        version=version,
        backend="reference",
        model_name="reference-tiny",
        model_version="test-1",
        processing_time_ms=1.0,
        findings=[
            {"label": label.value, "confidence": confidence, "is_critical": True}
            for label, confidence in findings
        ],
    )
    return Report.objects.get(pk=version.report_id)


def _check(user: Any, report: Report, findings: str, impression: str = "") -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(
        f"/api/v1/reports/{report.pk}/qa-check",
        {"findings": findings, "impression": impression},
        format="json",
    )


def test_it_flags_text_that_negates_a_detected_finding_and_quotes_it(reader: Any) -> None:
    report = _report([(Label.PNEUMOTHORAX, 0.93)])
    text = "Heart size is normal. No pneumothorax."

    body = _check(reader, report, text).json()

    [flag] = body["flags"]
    assert body["requires_radiologist_review"] is True
    assert flag["kind"] == "negated" and flag["blocking"] is True
    assert (
        flag["message"] == 'You wrote "No pneumothorax." but the model found Pneumothorax at 0.93.'
    )
    quote = flag["quote"]
    assert quote["section"] == "findings"
    assert text[quote["start"] : quote["end"]] == "No pneumothorax."


def test_it_flags_an_omitted_detection(reader: Any) -> None:
    report = _report([(Label.PLEURAL_EFFUSION, 0.8)])

    [flag] = _check(reader, report, "The lungs are clear.").json()["flags"]

    assert flag["kind"] == "omitted"
    assert flag["quote"] is None
    assert "Pleural Effusion at 0.80" in flag["message"]


def test_it_flags_a_critical_finding_the_model_did_not_detect(reader: Any) -> None:
    report = _report([])

    body = _check(reader, report, "", impression="Large left pneumothorax.").json()

    [flag] = body["flags"]
    assert flag["kind"] == "unsupported"
    assert flag["quote"]["section"] == "impression"
    assert "did not detect Pneumothorax" in flag["message"]


def test_agreeing_text_has_no_flags(reader: Any) -> None:
    report = _report([(Label.PLEURAL_EFFUSION, 0.8)])

    body = _check(reader, report, "Small right pleural effusion.").json()

    assert body["flags"] == [] and body["requires_radiologist_review"] is False
    assert "Pleural Effusion" in body["checked_labels"]


def test_it_refuses_clinicians_and_bad_input(reader: Any, clinician: Any) -> None:
    report = _report([])
    client = APIClient()
    client.force_authenticate(reader)

    refused = _check(clinician, report, "No pneumothorax.")
    invalid = client.post(f"/api/v1/reports/{report.pk}/qa-check", {"findings": 3}, format="json")
    missing = _check(reader, Report(pk=999_999), "x")

    assert refused.status_code == 403
    assert invalid.status_code == 400 and "impression" in invalid.json()["errors"]
    assert missing.status_code == 404
