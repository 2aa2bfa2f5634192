"""The clinician's pages and image access: their patients' signed reports only, the signed
findings' overlays, and frames of their own studies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from reports.models import Decision
from tests.factories import cr_dataset, write
from tests.workstation.consult.factories import drafted_study, grant, sign
from workstation.studies.models import Instance, Study

pytestmark = pytest.mark.django_db


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_clinician_lists_only_their_patients_signed_reports(
    reader: Any, clinician: Any
) -> None:
    mine, draft, other = drafted_study(), drafted_study(), drafted_study()
    sign(mine, reader)
    sign(other, reader)
    grant(mine, clinician)
    grant(draft, clinician)

    html = _page(clinician).get("/clinician/").content.decode()

    assert mine.study_uid in html
    assert draft.study_uid not in html and other.study_uid not in html
    assert 'href="/clinician/"' in html  # the nav link


def test_the_study_page_shows_the_signed_text_overlays_and_the_question_panel(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study()
    sign(
        study,
        reader,
        decisions={"Pleural Effusion": Decision.ACCEPTED, "Cardiomegaly": Decision.REJECTED},
    )
    grant(study, clinician)

    response = _page(clinician).get(f"/clinician/studies/{study.study_uid}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Small right pleural effusion." in html
    assert 'id="vqa-panel"' in html and "js/vqa.js" in html
    assert "demonstration model, not for clinical use" in html
    data = re.search(r'<script id="overlay-data" type="application/json">(.*?)</script>', html)
    assert data is not None
    overlays = json.loads(data.group(1))
    # Only what the signed report stands behind is drawn: the rejected cardiomegaly is not.
    assert [o["label"] for o in overlays] == ["Pleural Effusion"]
    assert overlays[0]["bounding_box"] == [120, 340, 410, 620]


@pytest.mark.parametrize("signed", [False, True])
def test_studies_that_are_not_theirs_or_not_signed_are_404(
    reader: Any, clinician: Any, signed: bool
) -> None:
    study = drafted_study()
    if signed:
        sign(study, reader)  # signed, but no access granted
    else:
        grant(study, clinician)  # granted, but still a draft
    assert _page(clinician).get(f"/clinician/studies/{study.study_uid}/").status_code == 404


def test_other_roles_do_not_get_the_clinician_list(manager: Any, reader: Any) -> None:
    assert _page(manager).get("/clinician/").status_code == 403
    assert _page(reader).get("/clinician/").status_code == 403


def test_a_clinician_reads_frames_of_their_own_studies_only(
    reader: Any, clinician: Any, manager: Any, storage_dir: Path, tmp_path: Path
) -> None:
    uploader = APIClient()
    uploader.force_authenticate(reader)
    for seed in (1, 2):
        body = write(cr_dataset(seed=seed, patient_id=f"P{seed}"), tmp_path / f"{seed}.dcm")
        response = uploader.generic(
            "POST", "/api/v1/instances", body.read_bytes(), content_type="application/dicom"
        )
        assert response.status_code in (200, 201), response.content
    mine, theirs = Study.objects.order_by("pk")
    grant(mine, clinician)
    own = Instance.objects.get(series__study=mine).sop_uid
    other = Instance.objects.get(series__study=theirs).sop_uid
    client = APIClient()
    client.force_authenticate(clinician)

    assert client.get(f"/api/v1/instances/{own}/frame", {"mode": "raw16"}).status_code == 200
    assert client.get(f"/api/v1/instances/{other}/frame").status_code == 404
    forbidden = APIClient()
    forbidden.force_authenticate(manager)
    assert forbidden.get(f"/api/v1/instances/{own}/frame").status_code == 403


def test_the_reading_room_viewer_carries_the_question_panel(reader: Any) -> None:
    study = drafted_study()
    html = _page(reader).get(f"/studies/{study.study_uid}/").content.decode()
    assert 'id="vqa-panel"' in html
    assert f'data-questions-url="/api/v1/studies/{study.study_uid}/questions"' in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (720, "12 min"),
        (3 * 3600 + 300, "3 h 05 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_waiting_times_read_as_people_say_them(seconds: int, text: str) -> None:
    from workstation.consult.selectors import age_text

    assert age_text(seconds) == text
