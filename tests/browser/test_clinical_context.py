"""The draft's clinical context in the reading room (issue 10), in headless Chromium: a chest
radiograph whose DICOM header carries age, sex and a clinical history (and a CRP from HL7 v2)
is drafted with the fusion model; the viewer shows those values with their source and time,
each finding's image-only vs context-adjusted probability with its contribution bars and
evidence, and the decision support. A study drafted with nothing known states what is absent,
and a draft made before the context step shows its findings without breaking. Screenshots go
to var/test-artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from pydicom import Dataset
from rest_framework.test import APIClient

from inference import services
from inference.fusion.fit import fit_fusion
from inference.fusion.model import FILE_NAME
from inference.labels import Label
from tests.browser.conftest import ARTIFACTS, AsgiServer
from tests.conftest import PASSWORD, LiveScp
from tests.factories import cr_dataset, write
from tests.inference.fusion.cases import infection_cases
from tests.workstation.clinical.fixtures import crp_recorded
from tests.workstation.consult.factories import drafted_study
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJob, DraftJobState, Study
from workstation.studies.services import study_complete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Scroll a list item to the top of its scrolling list, leaving the page where it is.
SCROLL_TO_TOP_OF_LIST = """node => {
  const list = node.parentElement;
  list.scrollTop += node.getBoundingClientRect().top - list.getBoundingClientRect().top;
}"""
HISTORY = "productive cough and fever for three days <i>x</i>"


@pytest.fixture
def fused_model(tiny_model_dir: Path, settings: object, tmp_path: Path) -> Iterator[Path]:
    """The tiny image model with a fusion model (pneumonia, consolidation) fitted next to it."""
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    fit_fusion(infection_cases(400), (Label.PNEUMONIA, Label.CONSOLIDATION)).save(
        model_dir / FILE_NAME
    )
    settings.DRAFT_MODEL_DIR = model_dir  # type: ignore[attr-defined]
    settings.HEATMAP_DIR = tmp_path / "heatmaps"  # type: ignore[attr-defined]
    services._backend.cache_clear()
    yield model_dir
    services._backend.cache_clear()


def _drafted(scp: LiveScp, ds: Dataset, tmp_path: Path, *, labs: bool) -> Study:
    """Send ``ds`` to the SCP and draft its study at threshold 0 (every label reported)."""
    path = write(ds, tmp_path / f"{ds.PatientID}.dcm")
    results = send_files([path], host=scp.host, port=scp.port, called_ae_title=scp.ae_title)
    assert [r.status for r in results] == [0]
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)
    if labs:
        crp_recorded(study)
    job = study_complete(study_uid=study.study_uid, reason="explicit")
    assert job is not None
    DraftJob.objects.filter(pk=job.pk).update(options={"confidence_threshold": 0.0})
    assert services.draft_job_run(job_id=job.pk) == DraftJobState.DONE
    return study


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.nav")


def _open(page: Any, base: str, study_uid: str) -> None:
    page.goto(f"{base}/studies/{study_uid}/")
    page.wait_for_selector("#findings li.finding")
    page.wait_for_load_state("networkidle")


def _row(page: Any, code: str) -> str:
    return str(page.inner_text(f"#clinical-context tr[data-code='{code}']"))


def test_the_viewer_shows_the_context_a_draft_was_made_with_and_what_it_changed(
    fused_model: Path,
    live_scp: LiveScp,
    reader: Any,
    asgi_server: AsgiServer,
    browser_page: Any,
    tmp_path: Path,
) -> None:
    try:
        _context_scenario(live_scp, reader, asgi_server, browser_page, tmp_path)
    finally:
        connections.close_all()  # ORM calls between Playwright steps leave connections open


def _context_scenario(
    scp: LiveScp, reader: Any, server: AsgiServer, page: Any, tmp_path: Path
) -> None:
    with_context = cr_dataset(
        patient_id="PAT-CTX",
        PatientAge="071Y",
        PatientSex="M",
        AdditionalPatientHistory=HISTORY,
        ReasonForTheRequestedProcedure="?pneumonia",
        seed=7,
    )
    study = _drafted(scp, with_context, tmp_path, labs=True)
    api = APIClient()
    api.force_authenticate(reader)
    body = api.get(f"/api/v1/studies/{study.study_uid}/report").json()
    pneumonia = next(f for f in body["findings"] if f["label"] == "Pneumonia")

    _sign_in(page, server.url)
    _open(page, server.url, study.study_uid)
    page.wait_for_selector("#clinical-context tr[data-code='age']")

    # The header's values with their source and time; the HL7 lab with unit and flag.
    age = _row(page, "age")
    assert "71" in age and "DICOM header" in age
    sex = _row(page, "sex")
    assert "M" in sex and "DICOM header" in sex
    history = _row(page, "history")
    assert HISTORY in history and "DICOM header" in history  # shown as text, not as markup
    assert page.locator("#clinical-context i").count() == 0
    taken = page.inner_text("#clinical-context tr[data-code='history'] .ctx-time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", taken)
    crp = _row(page, "crp")
    assert "160 mg/L" in crp and "HL7 v2" in crp
    assert page.inner_text("#clinical-context tr[data-code='crp'] .ctx-flag") == "H"
    absent = page.inner_text("[data-testid=context-absent]")
    assert "no vital signs within 72 h (temperature, SpO2)" in absent
    assert "no earlier study" in page.inner_text("[data-testid=context-comparison]")
    assert "demonstration model, not for clinical use" in page.inner_text(
        "[data-testid=context-fusion]"
    )
    entry = page.get_attribute("#clinical-context a.ctx-enter", "href")
    assert entry == f"/studies/{study.study_uid}/clinical/"

    # Pneumonia: image-only vs adjusted probability, five bars, the lab raising it, evidence.
    item = "#findings li.finding[data-label='Pneumonia']"
    why = page.locator(f"{item} details.why")
    assert why.get_attribute("open") is not None  # opened by default: the context moved it
    summary = why.locator("summary").inner_text()
    assert f"image {pneumonia['image_probability']:.2f}" in summary
    assert f"with context {pneumonia['adjusted_probability']:.2f}" in summary
    bars = why.locator(".contrib-row")
    assert bars.count() == 5
    drawn = sum(float(bars.nth(i).get_attribute("data-logit") or "nan") for i in range(5))
    assert drawn == pytest.approx(
        pneumonia["adjusted_logit"] - pneumonia["intercept_logit"], abs=1e-3
    )
    labs_bar = why.locator(".contrib-row[data-group='labs_vitals'] .contrib-bar")
    assert "pos" in (labs_bar.get_attribute("class") or "")
    assert labs_bar.bounding_box()["width"] > 0
    caption = why.locator("figcaption").inner_text()
    assert "logit units" in caption and "intercept" in caption and "sum of bars" in caption
    evidence = why.locator("ul.evidence li[data-code='crp']").inner_text()
    assert "160 mg/L" in evidence and "HL7 v2" in evidence and "logit" in evidence
    assert "temperature" in why.locator(".ev-absent").inner_text()

    # A label without a fusion model says so, and its probabilities are equal.
    fracture = page.locator("#findings li.finding[data-label='Fracture'] details.why summary")
    assert "no fusion model for this label" in fracture.inner_text()

    # Decision support, labelled as such.
    support = page.inner_text("#decision-support")
    assert "Decision support" in support and "not a diagnosis" in support
    assert "demonstration model" in support
    assert page.locator("#decision-support ol.ds-differential > li").count() >= 1
    recommendation = page.locator("#decision-support ul.ds-recommendations > li").first
    assert "Guideline: " in recommendation.inner_text()

    page.screenshot(path=str(ARTIFACTS / "context-01-viewer-with-context.png"))
    # Taller, with the findings list scrolled to Pneumonia (the page itself does not scroll).
    page.set_viewport_size({"width": 1366, "height": 1500})
    page.eval_on_selector(item, SCROLL_TO_TOP_OF_LIST)
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "context-02-viewer-with-context-tall.png"))
    page.set_viewport_size({"width": 1366, "height": 768})

    # A study with nothing known besides the image: every absent input is stated.
    bare = cr_dataset(patient_id="PAT-BARE", seed=8)
    for keyword in ("PatientAge", "PatientSex", "PatientBirthDate"):
        delattr(bare, keyword)
    del bare.ReasonForTheRequestedProcedure
    plain = _drafted(scp, bare, tmp_path, labs=False)
    _open(page, server.url, plain.study_uid)
    absent = page.inner_text("[data-testid=context-absent]")
    for line in (
        "no labs within 72 h (CRP, WBC, procalcitonin)",
        "no clinical history or indication",
        "no age",
        "no sex",
    ):
        assert line in absent
    assert page.locator("#findings details.why").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "context-03-viewer-nothing-known.png"))

    # A draft made before the context step: no context block, findings still listed.
    old = drafted_study()
    _open(page, server.url, old.study_uid)
    assert "without clinical context" in page.inner_text("[data-testid=context-none]")
    assert page.locator("#findings li.finding").count() == 2
    assert page.locator("#findings details.why").count() == 0
    assert page.locator("#decision-support").is_hidden()
