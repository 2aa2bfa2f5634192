"""The workstation in headless Chromium, the issue's scenario end to end: a study arrives over
C-STORE and shows up live on the worklist; the radiologist opens it, windows the image, looks
at a heatmap, compares with the patient's prior (zoom synchronised), edits a sentence and sees
a live QA flag, saves and signs; the worklist shows it signed. Screenshots of each main screen
go to var/test-artifacts/ (gitignored)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from tests.browser.conftest import ARTIFACTS, AsgiServer
from tests.conftest import PASSWORD, LiveScp, wait_for
from tests.factories import SHARED_DICOM, cr_dataset, write
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJob, DraftJobState, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REAL_CHEST = "nih_gcp_1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"


def _chest_files(tmp_path: Path) -> tuple[Path, Path]:
    """(prior, current): two studies of one patient. The current one is a real chest
    radiograph when ../shared has one, else a synthetic 16-bit CR; the prior is a copy under
    new UIDs dated earlier."""
    real = SHARED_DICOM / REAL_CHEST
    if real.is_file():
        current = real
    else:
        current = write(cr_dataset(rows=512, columns=512, seed=3), tmp_path / "chest.dcm")
    ds = pydicom.dcmread(current)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate = "20200102"
    ds.AccessionNumber = "PRIOR1"
    return write(ds, tmp_path / "prior.dcm"), current


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


CANVAS_SAMPLE = """(id) => {
  const c = document.getElementById(id || 'image-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, colour = 0;
  for (let i = 0; i < d.length; i += 4 * 97) {
    sum += d[i] + d[i + 1] + d[i + 2];
    if (Math.abs(d[i] - d[i + 2]) > 30) colour++;
  }
  return {sum, colour};
}"""


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def test_a_radiologist_reads_and_signs_a_study_that_arrives_live(
    drafting_model: Path,
    live_scp: LiveScp,
    celery_worker: object,
    reader: Any,
    asgi_server: AsgiServer,
    browser_page: Any,
    tmp_path: Path,
) -> None:
    page = browser_page
    base = asgi_server.url
    prior_path, current_path = _chest_files(tmp_path)

    # The patient's prior is already on file.
    prior_sent = send_files(
        [prior_path], host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )
    assert [r.status for r in prior_sent] == [0]

    # Sign in; the worklist connects its WebSocket.
    page.goto(f"{base}/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#live-state[data-state=up]")
    page.evaluate("window.__noReload = true")
    _shot(page, "01-worklist")

    # A study arrives over C-STORE and is drafted; its row appears without a reload.
    results = send_files(
        [current_path], host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )
    assert [r.status for r in results] == [0]
    study = Study.objects.get(study_uid=_uid(current_path))
    api = APIClient()
    api.force_authenticate(reader)
    response = api.post(
        f"/api/v1/studies/{study.study_uid}/report",
        {"confidence_threshold": 0.05, "clinical_context": {"indication": "cough <b>x</b>"}},
        format="json",
    )
    assert response.status_code in (200, 202), response.json()
    assert wait_for(
        lambda: DraftJob.objects.filter(study=study, state=DraftJobState.DONE).exists(), 120
    )
    # The row arrives on the "received" event and turns "drafted" on the worker's event.
    row = page.wait_for_selector(
        f'tr[data-study-uid="{study.study_uid}"][data-status="drafted"]', timeout=90_000
    )
    assert page.evaluate("window.__noReload") is True
    assert "drafted" in row.inner_text()
    _shot(page, "02-worklist-live-row")

    # Open it: the 16-bit frame decodes and renders, with its thumbnail and the model banner.
    page.click(f'tr[data-study-uid="{study.study_uid}"] td.patient a')
    page.wait_for_selector("#image-canvas[data-ready='1']")
    page.wait_for_selector("#findings li.finding")
    page.wait_for_timeout(200)
    assert "demonstration model" in page.inner_text("#ai-notice")
    assert page.locator(".thumbs .thumb").count() == 1
    _shot(page, "03-viewer")

    # The keyboard help overlay.
    page.locator("#stage").focus()
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    _shot(page, "04-viewer-help")
    page.keyboard.press("Escape")

    # Window/level by dragging changes the rendered pixels.
    before = page.evaluate(CANVAS_SAMPLE)
    window_before = page.get_attribute("#image-canvas", "data-window")
    box = page.locator("#image-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy - 80, steps=6)
    page.mouse.up()
    page.wait_for_timeout(150)
    after = page.evaluate(CANVAS_SAMPLE)
    assert page.get_attribute("#image-canvas", "data-window") != window_before
    assert after["sum"] != before["sum"]
    _shot(page, "05-viewer-window-level")

    # A heatmap, where the model made one, paints colour over the image.
    toggles = page.locator("input[data-heatmap]")
    if toggles.count():
        toggles.first.check()
        page.wait_for_timeout(400)
        heat = page.evaluate(CANVAS_SAMPLE)
        assert heat["colour"] > after["colour"]
        _shot(page, "06-viewer-heatmap")

    # The prior opens beside it; zooming the current image zooms the prior the same way.
    page.select_option("#prior-pick", index=1)
    page.wait_for_selector("#prior-canvas[data-ready='1']")
    box = page.locator("#image-canvas").bounding_box()  # the pane is half as wide now
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 3)
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(300)
    current_view = page.get_attribute("#image-canvas", "data-view")
    assert current_view and not current_view.startswith("1.00 ")
    assert page.get_attribute("#prior-canvas", "data-view") == current_view
    _shot(page, "07-viewer-prior-side-by-side")
    page.select_option("#prior-pick", value="")

    # Editing a sentence: the live QA check quotes a negation of a detected critical finding.
    ai = api.get(f"/api/v1/studies/{study.study_uid}/report").json()
    critical = [f["label"] for f in ai["findings"] if f["is_critical"]]
    findings = page.locator("#sec-findings")
    if critical:  # "No <finding>." while the model found it
        sentence, kind, label = f"No {critical[0].lower()}.", "negated", critical[0]
    else:  # a critical finding the model did not detect
        sentence, kind, label = "Large left pneumothorax.", "unsupported", "Pneumothorax"
    findings.fill(f"{sentence} Edited in the browser test.")
    flag = page.wait_for_selector(f"#qa-flags li[data-kind='{kind}'][data-label='{label}']")
    assert f'You wrote "{sentence}"' in flag.inner_text()
    _shot(page, "08-viewer-live-qa-flag")

    # Save (a new version), then sign with the password.
    page.click("#save-btn")
    page.wait_for_selector("#report-message.ok")
    # (version 1, or 2 when the 20 s autosave came first on a slow machine)
    assert re.search(r"Saved as version [12]\.", page.inner_text("#report-message"))
    page.click("#sign-btn")
    page.fill("#sign-password", PASSWORD)
    page.click("#sign-confirm")
    page.wait_for_selector("#report-status.s-signed")
    assert "Signed" in page.inner_text("#report-message")
    assert page.locator("#sec-findings").get_attribute("readonly") is not None
    _shot(page, "09-viewer-signed")

    # Back on the worklist the study shows as signed, its turnaround clock stopped.
    page.click(".study-bar a[href='/']")
    signed_row = page.wait_for_selector(f'tr[data-study-uid="{study.study_uid}"]')
    assert "signed" in signed_row.inner_text()
    assert signed_row.query_selector("td.clock[data-until]") is not None
    _shot(page, "10-worklist-signed")

    # The prior is still unread: the radiologist takes it; "my studies" then lists it alone.
    prior_uid = _uid(prior_path)
    page.click(f'tr[data-study-uid="{prior_uid}"] button.take')
    page.wait_for_selector(f'tr[data-study-uid="{prior_uid}"] .assignee')
    assert "reader" in page.inner_text(f'tr[data-study-uid="{prior_uid}"] .assignee')
    page.check("input[name=mine]")
    page.wait_for_function(
        "() => document.querySelectorAll('#worklist-table tr.study-row').length === 1"
    )
    assert page.locator(f'tr[data-study-uid="{prior_uid}"]').count() == 1
    page.uncheck("input[name=mine]")

    # The same screens at 1920x1080.
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(200)
    _shot(page, "11-worklist-1920")
    page.click(f'tr[data-study-uid="{study.study_uid}"] td.patient a')
    page.wait_for_selector("#image-canvas[data-ready='1']")
    page.wait_for_timeout(300)
    _shot(page, "12-viewer-1920")
