"""Shadow mode: the candidate drafts in the background, stored apart and never shown; the
comparison gives its agreement with the serving drafts and a paired test against signed
reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest

from tests.workstation.dashboards.films import film, store_film
from tests.workstation.dashboards.history import DAY, AiFinding, Case, build
from workstation.dashboards.metrics.model import FINDING_LABELS
from workstation.dashboards.models import ShadowDraft
from workstation.dashboards.shadow import shadow_agreement, shadow_draft_run

pytestmark = pytest.mark.django_db

CRITICAL = ["Pneumothorax", "Fracture", "Lung Lesion", "Pleural Effusion"]
EFFUSION = AiFinding("Pleural Effusion", 0.9, critical=True)


def _pair(serving: list[AiFinding], shadow: list[str], signed: list[str], reader: Any) -> None:
    study = build(
        Case(
            received=DAY,
            draft_after_s=60,
            findings=serving,
            signed_by=reader,
            sign_after_draft_s=60,
            signed_text=("Signed.", ""),
            signed_labels=signed,
        )
    )
    ShadowDraft.objects.create(
        study=study,
        model_version="cand:2",
        findings=[{"label": label, "confidence": 0.8} for label in shadow],
        processing_time_ms=100.0,
    )


def test_it_compares_the_shadow_model_with_serving_drafts_and_signed_reports(
    reader: Any,
) -> None:
    _pair([EFFUSION], ["Pleural Effusion"], ["Pleural Effusion"], reader)  # both find it
    _pair([EFFUSION], [], ["Pleural Effusion"], reader)  # only serving
    _pair([], ["Pleural Effusion"], ["Pleural Effusion"], reader)  # only shadow
    _pair([], ["Pleural Effusion", "Cardiomegaly"], ["Pleural Effusion"], reader)  # only shadow
    (result,) = shadow_agreement(labels=FINDING_LABELS, critical=CRITICAL)
    assert result.studies == 4
    # 13 labels per study; disagreements: 1 + 1 + 2 = 4 of 52 decisions.
    assert result.label_agreement == pytest.approx(48 / 52)
    assert result.exact_agreement == pytest.approx(1 / 4)
    assert (result.critical_positive, result.serving_detected, result.shadow_detected) == (4, 2, 3)
    assert (result.only_serving, result.only_shadow) == (1, 2)
    assert result.mcnemar_p == pytest.approx(binomtest(1, 3, 0.5).pvalue)  # = 1.0


@pytest.mark.slow
def test_the_shadow_model_drafts_a_study_in_the_background_once(
    encoder_dir: Path, settings: Any, storage_dir: Path
) -> None:
    import numpy as np

    settings.SHADOW_MODEL_DIR = str(encoder_dir)
    study = build(Case(received=DAY - dt.timedelta(days=1)))
    store_film(study, film(np.random.default_rng(0), exposure=1.0), storage_dir)
    shadow = shadow_draft_run(study_id=study.pk)
    assert shadow is not None and shadow.model_version == "reference-tiny:test-1"
    assert shadow_draft_run(study_id=study.pk) is None  # once per model version
    settings.SHADOW_MODEL_DIR = ""
    assert shadow_draft_run(study_id=study.pk) is None  # off


@pytest.mark.slow
def test_a_registered_version_started_on_the_page_drafts_in_the_shadow_until_stopped(
    encoder_dir: Path, settings: Any, storage_dir: Path, administrator: Any, client: Any
) -> None:
    import numpy as np

    from inference.model_registry.services import model_version_register
    from workstation.audit.models import AuditEvent
    from workstation.dashboards.models import ShadowRun
    from workstation.dashboards.shadow import shadow_enabled

    settings.SHADOW_MODEL_DIR = ""
    model_version_register(model_dir=encoder_dir)
    study = build(Case(received=DAY - dt.timedelta(days=1)))
    store_film(study, film(np.random.default_rng(0), exposure=1.0), storage_dir)
    client.force_login(administrator)

    client.post("/dashboards/ab/shadow/start", {"model_version": "reference-tiny:test-1"})

    run = ShadowRun.objects.get()
    assert run.running and run.model_version == "reference-tiny:test-1" and shadow_enabled()
    page = client.get("/dashboards/ab/").content.decode()
    assert "on: reference-tiny:test-1" in page and "Stop shadow mode" in page
    shadow = shadow_draft_run(study_id=study.pk)
    assert shadow is not None and shadow.model_version == "reference-tiny:test-1"

    client.post("/dashboards/ab/shadow/stop")

    run.refresh_from_db()
    assert not run.running and run.stopped_by == administrator and not shadow_enabled()
    assert shadow_draft_run(study_id=study.pk) is None  # off
    details = list(
        AuditEvent.objects.filter(object_type="shadow_run")
        .order_by("pk")
        .values_list("detail", flat=True)
    )
    assert details == [
        "shadow mode started: reference-tiny:test-1",
        "shadow mode stopped: reference-tiny:test-1",
    ]


def test_shadow_mode_refuses_an_unregistered_version_a_second_run_and_non_administrators(
    administrator: Any, manager: Any, client: Any
) -> None:
    from tests.workstation.dashboards.history import register_versions
    from workstation.dashboards.models import ShadowRun
    from workstation.dashboards.shadow import ShadowError, shadow_start

    client.force_login(administrator)
    response = client.post(
        "/dashboards/ab/shadow/start", {"model_version": "nowhere:9"}, follow=True
    )
    assert "is not in the model registry" in response.content.decode()
    assert not ShadowRun.objects.exists()

    register_versions("cand:2", "cand:3")
    shadow_start(user=administrator, model_version="cand:2")
    with pytest.raises(ShadowError, match="cand:2 is already drafting in the shadow"):
        shadow_start(user=administrator, model_version="cand:3")
    with pytest.raises(ShadowError, match="only an administrator"):
        shadow_start(user=manager, model_version="cand:3")
    assert list(ShadowRun.objects.values_list("model_version", flat=True)) == ["cand:2"]
    client.force_login(manager)
    client.post("/dashboards/ab/shadow/stop", follow=True)
    assert ShadowRun.objects.get().running  # a manager may look, not stop
