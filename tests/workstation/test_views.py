"""workstation.views: the worklist page, its live-refresh fragment and the viewer page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from inference.labels import Label
from reports.models import AiDraft
from tests.reports.factories import draft_make, study_make
from workstation.studies.models import ClinicalContext, Instance, Series, Study

pytestmark = pytest.mark.django_db

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _ai_detail(study: Study, *, critical: bool = True, review: bool = True) -> None:
    version = draft_make(study=study)
    AiDraft.objects.create(
        version=version,
        backend="reference",
        model_name="reference-tiny",
        model_version="test-1",
        processing_time_ms=12.0,
        requires_radiologist_review=review,
        qa_flags=[
            {"kind": "discrepancy", "label": "Pneumothorax", "detail": "text", "blocking": True}
        ],
        findings=[
            {
                "finding": "Pleural effusion",
                "label": Label.PLEURAL_EFFUSION.value,
                "confidence": 0.91,
                "severity": "moderate",
                "bounding_box": [1, 2, 30, 40],
                "is_critical": critical,
                "heatmap": None,
            }
        ],
    )


@pytest.mark.parametrize("path", ["/", "/worklist/rows", "/studies/1.2.3/"])
def test_it_sends_anonymous_users_to_the_login_page(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_login_page_has_no_inline_script() -> None:
    html = Client().get("/accounts/login/").content.decode()

    assert "<script>" not in html
    assert 'name="password"' in html


def test_it_shows_a_radiologist_the_worklist_with_ai_flags(reader: object) -> None:
    study = study_make(patient_name="Roe^Richard")
    _ai_detail(study)

    html = _client(reader).get("/").content.decode()

    assert "Roe^Richard" in html
    assert "Pleural Effusion 91%" in html
    assert 'class="badge qa"' in html
    assert f'href="/studies/{study.study_uid}/"' in html
    assert 'data-ws-path="/ws/worklist/"' in html
    assert ">Worklist</a>" in html  # role-aware nav


def test_it_orders_rows_by_ai_priority_then_age(reader: object) -> None:
    older = study_make(patient_name="Older^Low")
    urgent = study_make(patient_name="Newer^Urgent")
    Study.objects.filter(pk=urgent.pk).update(priority=0.9)
    Study.objects.filter(pk=older.pk).update(priority=0.1)

    html = _client(reader).get("/").content.decode()

    assert html.index("Newer^Urgent") < html.index("Older^Low")


def test_it_filters_and_searches_the_rows_fragment(reader: object) -> None:
    study_make(patient_name="Alpha^One")
    study_make(patient_name="Beta^Two", status="signed")
    client = _client(reader)

    searched = client.get("/worklist/rows", {"q": "alpha"}).content.decode()
    by_status = client.get("/worklist/rows", {"status": "signed"}).content.decode()

    assert "Alpha^One" in searched and "Beta^Two" not in searched
    assert "Beta^Two" in by_status and "Alpha^One" not in by_status
    assert "<html" not in searched  # a fragment, not a page


def test_it_pages_the_worklist(reader: object) -> None:
    for _ in range(3):
        study_make()
    client = _client(reader)

    html = client.get("/worklist/rows", {"q": "Doe"}).content.decode()

    assert re.search(r"1\u20133 of 3", html)


def test_it_reports_invalid_filters_instead_of_failing(reader: object) -> None:
    response = _client(reader).get("/", {"date_from": "not-a-date"})

    assert response.status_code == 200
    assert "Filters not applied" in response.content.decode()


def test_a_clinician_gets_a_study_list_without_viewer_links(clinician: object) -> None:
    html = _client(clinician).get("/").content.decode()

    assert ">My studies</a>" in html
    assert "/studies/" not in html


def test_a_manager_has_no_worklist(manager: object) -> None:
    response = _client(manager).get("/")
    fragment = _client(manager).get("/worklist/rows")

    assert "Your role has no worklist" in response.content.decode()
    assert fragment.status_code == 403


def test_an_administrator_sees_administration_links(administrator: object) -> None:
    html = _client(administrator).get("/").content.decode()

    assert 'href="/admin/"' in html


def test_it_shows_the_session_timeout_and_a_logout_form(reader: object, settings: object) -> None:
    html = _client(reader).get("/").content.decode()

    assert f'data-idle-seconds="{settings.SESSION_COOKIE_AGE}"' in html  # type: ignore[attr-defined]
    assert 'action="/accounts/logout/"' in html


def test_it_escapes_script_in_patient_names_and_indications(reader: object) -> None:
    study = study_make(patient_name=PAYLOAD)
    ClinicalContext.objects.create(study=study, indication=PAYLOAD)
    client = _client(reader)

    pages = [
        client.get("/").content.decode(),
        client.get("/worklist/rows").content.decode(),
        client.get(f"/studies/{study.study_uid}/").content.decode(),
    ]

    for html in pages:
        assert PAYLOAD not in html
        assert ESCAPED in html


def test_pages_carry_no_inline_scripts(reader: object) -> None:
    study = study_make()
    client = _client(reader)

    for path in ("/", f"/studies/{study.study_uid}/"):
        html = client.get(path).content.decode()
        scripts = re.findall(r"<script[^>]*>", html)
        assert scripts and all("src=" in tag for tag in scripts), scripts
        assert " on" + "click=" not in html


def test_the_viewer_page_names_the_study_and_its_report_tools(reader: object) -> None:
    study = study_make(patient_name="Viewer^Vic")

    html = _client(reader).get(f"/studies/{study.study_uid}/").content.decode()

    assert "Viewer^Vic" in html
    assert f'data-study-uid="{study.study_uid}"' in html
    assert 'id="sign-dialog"' in html


def test_the_viewer_answers_404_for_an_unknown_study(reader: object) -> None:
    assert _client(reader).get("/studies/9.9.9/").status_code == 404


def test_the_viewer_is_refused_to_roles_that_cannot_read_images(clinician: object) -> None:
    study = study_make()

    assert _client(clinician).get(f"/studies/{study.study_uid}/").status_code == 403


def _with_image(study: Study, sop_uid: str) -> None:
    series = Series.objects.create(series_uid=f"{sop_uid}.1", study=study, modality="CR")
    Instance.objects.create(
        sop_uid=sop_uid,
        series=series,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.1",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        view_position="PA",
        rows=64,
        columns=64,
        sha256="0" * 64,
        storage_path="00/00/x.dcm",
        size_bytes=1,
    )


def test_the_viewer_offers_the_patients_priors_with_images(reader: object) -> None:
    current = study_make(patient_name="Prior^Pat")
    prior = Study.objects.create(
        study_uid="1.2.3.4.5.6",
        patient=current.patient,
        modalities="CR",
        study_date=dt.date(2020, 1, 2),
        last_instance_at=current.last_instance_at,
    )
    Study.objects.create(  # no images: nothing to show beside the current study
        study_uid="1.2.3.4.5.7", patient=current.patient, last_instance_at=prior.last_instance_at
    )
    _with_image(current, "1.2.3.9.1")
    _with_image(prior, "1.2.3.9.2")

    html = _client(reader).get(f"/studies/{current.study_uid}/").content.decode()

    assert 'id="prior-pick"' in html
    assert '<option value="1.2.3.9.2"' in html and "2020-01-02" in html
    assert html.count('class="thumb image-pick"') == 1


def test_the_viewer_lets_a_radiologist_assign_the_study(reader: object, attending: object) -> None:
    study = study_make()

    html = _client(reader).get(f"/studies/{study.study_uid}/").content.decode()

    assert f'data-url="/api/v1/studies/{study.study_uid}/assignment"' in html
    assert '<option value="attending"' in html and "reader (me)" in html
