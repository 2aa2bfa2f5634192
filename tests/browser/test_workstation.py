"""The workstation in headless Chromium: a study arrives over C-STORE and shows up live on
the worklist; the radiologist opens it, windows the image, looks at a heatmap, edits, saves
and signs; the worklist shows it signed. Screenshots go to var/test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.browser.conftest import ARTIFACTS, AsgiServer
from tests.conftest import PASSWORD, LiveScp, wait_for
from tests.factories import SHARED_DICOM, cr_dataset, write
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJob, DraftJobState, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chest_file(tmp_path: Path) -> Path:
    """A real chest radiograph when ../shared has one, else a synthetic 16-bit CR."""
    real = (
        SHARED_DICOM
        / "nih_gcp_1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"
    )
    if real.is_file():
        return real
    return write(cr_dataset(rows=512, columns=512, seed=3), tmp_path / "chest.dcm")


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


CANVAS_SAMPLE = """() => {
  const c = document.getElementById('image-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, colour = 0;
  for (let i = 0; i < d.length; i += 4 * 97) {
    sum += d[i] + d[i + 1] + d[i + 2];
    if (Math.abs(d[i] - d[i + 2]) > 30) colour++;
  }
  return {sum, colour};
}"""


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

    # Sign in; the worklist connects its WebSocket.
    page.goto(f"{base}/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#live-state[data-state=up]")
    page.evaluate("window.__noReload = true")
    _shot(page, "01-worklist-empty")

    # A study arrives over C-STORE and is drafted; its row appears without a reload.
    path = _chest_file(tmp_path)
    results = send_files(
        [path], host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )
    assert [r.status for r in results] == [0]
    study = Study.objects.get()
    api = APIClient()
    api.force_authenticate(reader)
    response = api.post(
        f"/api/v1/studies/{study.study_uid}/report",
        {"confidence_threshold": 0.05, "clinical_context": {"indication": "cough <b>x</b>"}},
        format="json",
    )
    assert response.status_code in (200, 202), response.json()
    assert wait_for(lambda: DraftJob.objects.filter(state=DraftJobState.DONE).exists())
    # The row arrives on the "received" event and turns "drafted" on the worker's event.
    row = page.wait_for_selector(
        f'tr[data-study-uid="{study.study_uid}"][data-status="drafted"]', timeout=90_000
    )
    assert page.evaluate("window.__noReload") is True
    assert "drafted" in row.inner_text()
    _shot(page, "02-worklist-live-row")

    # Open it: the 16-bit frame decodes and renders.
    page.click(f'tr[data-study-uid="{study.study_uid}"] td.patient a')
    page.wait_for_selector("#image-canvas[data-ready='1']")
    page.wait_for_selector("#findings li.finding")
    page.wait_for_timeout(200)
    assert "demonstration model" in page.inner_text("#ai-notice")
    _shot(page, "03-viewer")

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
    _shot(page, "04-viewer-window-level")

    # A heatmap, where the model made one, paints colour over the image.
    toggles = page.locator("input[data-heatmap]")
    if toggles.count():
        toggles.first.check()
        page.wait_for_function(
            "() => document.getElementById('image-canvas').dataset.frameMs !== undefined"
        )
        page.wait_for_timeout(400)
        heat = page.evaluate(CANVAS_SAMPLE)
        assert heat["colour"] > after["colour"]
        _shot(page, "05-viewer-heatmap")

    # Edit a sentence, save (a new version), sign with the password.
    findings = page.locator("#sec-findings")
    findings.fill(findings.input_value() + " Edited in the browser test.")
    page.click("#save-btn")
    page.wait_for_selector("#report-message.ok")
    assert "Saved as version 1" in page.inner_text("#report-message")
    page.click("#sign-btn")
    page.fill("#sign-password", PASSWORD)
    page.click("#sign-confirm")
    page.wait_for_selector("#report-status.s-signed")
    assert "Signed" in page.inner_text("#report-message")
    assert page.locator("#sec-findings").get_attribute("readonly") is not None
    _shot(page, "06-viewer-signed")

    # Back on the worklist the study shows as signed, its turnaround clock stopped.
    page.click(".study-bar a[href='/']")
    signed_row = page.wait_for_selector(f'tr[data-study-uid="{study.study_uid}"]')
    assert "signed" in signed_row.inner_text()
    assert signed_row.query_selector("td.clock[data-until]") is not None
    _shot(page, "07-worklist-signed")
