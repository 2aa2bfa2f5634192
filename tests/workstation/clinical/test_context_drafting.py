"""The serving path with context (issue 10): a chest radiograph whose header carries age,
sex and history, plus labs from HL7, gives a draft whose context shows those values with
their source, and whose findings carry image-only vs adjusted probabilities and per-input
contributions; a patient's second study where the effusion grew says so."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from inference import services
from inference.backends.base import StudyInput
from inference.fusion.fit import fit_fusion
from inference.fusion.model import FILE_NAME
from inference.labeller.change import IntervalChange
from inference.labels import Label
from inference.preprocess import prepare_image
from inference.types import Draft, Finding, Laterality, Sentence
from reports.content import AiFinding
from reports.models import AiDraft
from reports.services import report_draft_save
from tests.conftest import LiveScp
from tests.factories import cr_dataset, write
from tests.inference.fusion.cases import infection_cases
from tests.workstation.clinical.fixtures import crp_recorded
from workstation.clinical.analysis import clinical_draft_analyse
from workstation.clinical.models import DraftContext
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJob, DraftJobState, Study
from workstation.studies.services import study_complete

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fused_model(tiny_model_dir: Path, settings: object, tmp_path: Path) -> Iterator[Path]:
    """The tiny image model with a fusion model fitted next to it."""
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


def _send(scp: LiveScp, path: Path) -> None:
    results = send_files([path], host=scp.host, port=scp.port, called_ae_title=scp.ae_title)
    assert [r.status for r in results] == [0]


@pytest.mark.slow  # drafts with the tiny model at threshold 0: Grad-CAM for every label
def test_a_radiograph_with_age_sex_and_history_in_its_header_drafts_with_that_context(
    fused_model: Path, live_scp: LiveScp, tmp_path: Path, reader: object
) -> None:
    ds = cr_dataset(
        patient_id="PAT-CTX",
        PatientAge="071Y",
        PatientSex="M",
        AdditionalPatientHistory="productive cough and fever for three days",
        ReasonForTheRequestedProcedure="?pneumonia",
    )
    _send(live_scp, write(ds, tmp_path / "cr.dcm"))
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)
    crp_recorded(study)
    job = study_complete(study_uid=study.study_uid, reason="explicit")
    assert job is not None
    DraftJob.objects.filter(pk=job.pk).update(options={"confidence_threshold": 0.0})

    assert services.draft_job_run(job_id=job.pk) == DraftJobState.DONE

    client = APIClient()
    client.force_authenticate(reader)
    body = client.get(f"/api/v1/studies/{study.study_uid}/report").json()
    context = body["clinical_context"]
    shown = {v["code"]: v for v in context["values"]}
    assert (shown["age"]["value"], shown["age"]["source"]) == ("71", "dicom")
    assert (shown["sex"]["value"], shown["sex"]["source"]) == ("M", "dicom")
    assert shown["history"]["value"] == "productive cough and fever for three days"
    assert shown["history"]["source"] == "dicom" and shown["history"]["observed_at"]
    assert (shown["crp"]["value"], shown["crp"]["unit"], shown["crp"]["source"]) == (
        "160",
        "mg/L",
        "hl7",
    )
    assert "no vital signs within 72 h (temperature, SpO2)" in context["absent"]
    assert context["comparison"]["prior_study_uid"] is None
    assert context["fusion"]["fitted_labels"] == ["Consolidation", "Pneumonia"]
    assert context["decision_support"]["notice"].startswith("Decision support")

    findings = {f["label"]: f for f in body["findings"]}
    assert findings, "threshold 0 reports every label"
    for finding in findings.values():
        assert 0 <= finding["image_probability"] <= 1 and 0 <= finding["adjusted_probability"] <= 1
        total = sum(finding["contributions_logit"].values())
        assert total + finding["intercept_logit"] == pytest.approx(
            finding["adjusted_logit"], abs=1e-4
        )
        adjusted = 1 / (1 + math.exp(-finding["adjusted_logit"]))
        assert adjusted == pytest.approx(finding["adjusted_probability"], abs=1e-4)
        assert finding["context_contribution"] == pytest.approx(
            finding["adjusted_probability"] - finding["image_probability"], abs=1e-3
        )
    pneumonia = findings["Pneumonia"]
    assert pneumonia["contributions_logit"]["labs_vitals"] > 0  # CRP 160 raised it
    assert "temperature_cel" in pneumonia["absent_inputs"]
    evidence = {e["code"]: e for e in pneumonia["evidence"]}
    assert evidence["crp"]["source"] == "hl7" and evidence["crp"]["observed_at"]
    unfitted = findings["Fracture"]
    assert unfitted["adjusted_probability"] == pytest.approx(
        unfitted["image_probability"], abs=1e-4
    )


def test_a_second_study_where_the_effusion_grew_is_compared_with_the_first(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    first = cr_dataset(patient_id="PAT-TWO", StudyDate="20240115", seed=1)
    second = cr_dataset(patient_id="PAT-TWO", StudyDate="20240301", seed=2)
    _send(live_scp, write(first, tmp_path / "1.dcm"))
    _send(live_scp, write(second, tmp_path / "2.dcm"))
    prior = Study.objects.get(study_uid=first.StudyInstanceUID)
    current = Study.objects.get(study_uid=second.StudyInstanceUID)
    version = report_draft_save(
        study=prior,
        findings="Small right pleural effusion.",
        impression="",
        recommendations="",
        model_version="t",
        ai_findings=[AiFinding(Label.PLEURAL_EFFUSION, 0.7, "Small right pleural effusion.")],
    )
    AiDraft.objects.create(
        version=version,
        backend="test",
        model_name="t",
        model_version="t",
        processing_time_ms=1.0,
        findings=[
            {
                "label": "Pleural Effusion",
                "confidence": 0.7,
                "adjusted_probability": 0.7,
                "laterality": "right",
                "bounding_box": [5, 50, 25, 58],
            }
        ],
    )
    draft = Draft(
        findings=(
            Finding(Label.PLEURAL_EFFUSION, 0.85, laterality=Laterality.RIGHT, box=(5, 30, 30, 60)),
        ),
        sentences=(Sentence("Right pleural effusion.", "findings", Label.PLEURAL_EFFUSION),),
        model_name="t",
        model_version="t",
    )
    image = prepare_image(second, size=64, sop_uid=str(second.SOPInstanceUID))

    analysis = clinical_draft_analyse(
        study=current,
        draft=draft,
        study_input=StudyInput(current.study_uid, (image,)),
        backend=None,
    )

    change = analysis.changes[Label.PLEURAL_EFFUSION]
    assert change.change is IntervalChange.WORSE
    assert "Right pleural effusion, increased since 2024-01-15." in analysis.draft.findings_text
    assert analysis.comparison["prior_study_uid"] == prior.study_uid
    assert analysis.comparison["prior_date"] == "2024-01-15"
    row = analysis.findings_json([{"label": "Pleural Effusion"}])[0]
    assert row["change"]["change"] == "worse" and row["change"]["probability_before"] == 0.7
    assert "backend has no reference model" in " ".join(analysis.notes)
    assert not DraftContext.objects.exists()  # recorded only with version 0, by the caller
