"""A referring clinician in headless Chromium: opens a signed study from their results, sees
the image with the signed finding's box, asks "is there a pleural effusion?" and gets an answer
with its evidence; clicking the evidence highlights the region. Screenshots go to
var/test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from reports.models import Decision
from tests.browser.conftest import ARTIFACTS, AsgiServer
from tests.conftest import PASSWORD
from tests.factories import SHARED_DICOM, cr_dataset, write
from tests.workstation.consult.factories import EFFUSION_FINDING, drafted_study, grant, sign
from workstation.consult.models import CriticalResult, Question
from workstation.studies.models import Instance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chest_file(tmp_path: Path) -> Path:
    """The NEMA chest CR when ../shared has it, else a synthetic 16-bit CR."""
    real = SHARED_DICOM / "nema_RG1_chest_CR_UNCI.dcm"
    if real.is_file():
        return real
    return write(cr_dataset(rows=512, columns=512, seed=5), tmp_path / "chest.dcm")


def _signed_study_with_image(reader: Any, clinician: Any, tmp_path: Path) -> Instance:
    """Upload a chest radiograph, give it an AI draft with a right effusion, sign it."""
    uploader = APIClient()
    uploader.force_authenticate(reader)
    response = uploader.generic(
        "POST",
        "/api/v1/instances",
        _chest_file(tmp_path).read_bytes(),
        content_type="application/dicom",
    )
    assert response.status_code in (200, 201), response.content
    instance = Instance.objects.select_related("series__study").get()
    rows, columns = instance.rows or 512, instance.columns or 512
    # The patient's right lower zone (left of the image), where an effusion collects.
    box = [round(columns * 0.1), round(rows * 0.55), round(columns * 0.42), round(rows * 0.88)]
    study = drafted_study(
        study=instance.series.study, findings=[{**EFFUSION_FINDING, "bounding_box": box}]
    )
    grant(study, clinician)
    sign(study, reader, decisions={"Pleural Effusion": Decision.ACCEPTED})
    return instance


def test_a_clinician_asks_about_a_signed_study_and_sees_the_evidence(
    reader: Any,
    clinician: Any,
    storage_dir: Path,
    asgi_server: AsgiServer,
    browser_page: Any,
    tmp_path: Path,
) -> None:
    # Playwright's sync API runs an event loop on this thread, so the ORM calls here get a
    # context-local connection the test runner never closes; left open, it would keep the
    # test database from being dropped.
    try:
        _clinician_scenario(reader, clinician, asgi_server, browser_page, tmp_path)
    finally:
        connections.close_all()


def _clinician_scenario(
    reader: Any, clinician: Any, asgi_server: AsgiServer, browser_page: Any, tmp_path: Path
) -> None:
    instance = _signed_study_with_image(reader, clinician, tmp_path)
    study_uid = instance.series.study.study_uid
    assert CriticalResult.objects.filter(recipient=clinician).count() == 1
    page = browser_page
    base = asgi_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "clinician")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.nav a[href='/clinician/']")
    page.wait_for_selector("[data-testid=critical-alerts]")
    assert "Pleural Effusion" in page.inner_text("[data-testid=critical-alerts]")
    page.screenshot(path=str(ARTIFACTS / "consult-01-clinician-results.png"))

    page.click(f"tr[data-study-uid='{study_uid}'] td.patient a")
    page.wait_for_selector("#image-canvas[data-ready='1']")
    assert "Small right pleural effusion." in page.inner_text("#signed-findings")

    page.fill("#vqa-question", "is there a pleural effusion?")
    page.click("#vqa-ask")
    answer = page.wait_for_selector("[data-testid=vqa-answer]")
    assert "Yes. The signed report describes pleural effusion" in answer.inner_text()
    evidence = page.inner_text("ul.vqa-evidence")
    assert "Pleural Effusion" in evidence and "confidence 0.91" in evidence
    assert "right" in evidence and "box" in evidence
    assert "demonstration model" in page.inner_text(".vqa-notice")
    # The answer highlighted its region on the image (the viewer tells the canvas).
    page.wait_for_function(
        "() => document.getElementById('image-canvas').dataset.highlight === 'Pleural Effusion'"
    )
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "consult-02-clinician-vqa-answer.png"))

    stored = Question.objects.get()
    assert stored.asked_by == clinician and stored.answerable

    # Acknowledge the critical result from the study page: the alert goes away.
    with page.expect_navigation():
        page.click(".critical-alert button[type=submit]")
    page.wait_for_selector("#image-canvas[data-ready='1']")
    page.wait_for_load_state("networkidle")  # no request still running when the test ends
    assert page.locator(".critical-alert").count() == 0
    assert CriticalResult.objects.get().acknowledged_by == clinician
