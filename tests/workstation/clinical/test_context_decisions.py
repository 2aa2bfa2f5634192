"""Fusion can change what a draft reports (issue 10): the same radiograph with an infective
context gains a pneumonia the image alone left below threshold ("raised by context"), with
a bland context it does not; a reported finding that context pushes below threshold is kept
and marked "lowered by context". Text, QA flags and triage agree with the findings."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from inference import services
from inference.backends.base import StudyInput
from inference.backends.reference import ReferenceBackend
from inference.fusion.decision import CONTEXT_SOURCE
from inference.fusion.features import FEATURE_NAMES, logit
from inference.fusion.image import image_only_probabilities
from inference.fusion.model import FILE_NAME, FusionModel, LabelModel
from inference.labels import Label
from inference.models.checkpoint import load_reference_model
from inference.preprocess import prepare_image
from inference.qa import qa_check
from inference.types import Draft, Finding, Sentence
from reports.models import AiDraft
from tests.conftest import LiveScp
from tests.factories import cr_dataset, write
from workstation.clinical.analysis import clinical_draft_analyse
from workstation.clinical.intake import PatientRef, ValueIn
from workstation.clinical.models import ValueKind, ValueSource
from workstation.clinical.services import clinical_values_record
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJobState, Study
from workstation.studies.services import study_complete

pytestmark = pytest.mark.django_db(transaction=True)

IMAGE_SEED = 11
BASELINE = 0.38  # pneumonia with no context information, as the hand-set model says
INFECTED = {"crp": (180.0, "mg/L"), "temperature": (39.2, "Cel"), "wbc": (18.0, "10*9/L")}
BLAND = {"crp": (2.0, "mg/L"), "temperature": (36.8, "Cel"), "wbc": (6.0, "10*9/L")}


def _pneumonia_model(image_probability: float) -> FusionModel:
    """A pneumonia model with hand-set weights (so the outcome does not hang on a fit): the
    image's own logit passes through, the intercept brings a context-free study to
    ``BASELINE``, and CRP, temperature and WBC move it by a standardised amount each."""
    weights = dict.fromkeys(FEATURE_NAMES, 0.0)
    mean = dict.fromkeys(FEATURE_NAMES, 0.0)
    scale = dict.fromkeys(FEATURE_NAMES, 1.0)
    weights["image:Pneumonia"] = 1.0
    for name, w, m, s in (
        ("log_crp", 0.8, math.log1p(10.0), 1.5),
        ("temperature_cel", 0.8, 37.5, 0.8),
        ("wbc", 0.8, 10.0, 4.0),
    ):
        weights[name], mean[name], scale[name] = w, m, s
    model = LabelModel(
        Label.PNEUMONIA,
        logit(BASELINE) - logit(image_probability),
        tuple(weights.values()),
        tuple(mean.values()),
        tuple(scale.values()),
    )
    return FusionModel({Label.PNEUMONIA: model}, {}, "hand-set test weights")


@pytest.fixture
def pneumonia_image_probability(tiny_model_dir: Path) -> float:
    """The tiny model's image-only pneumonia probability of the test radiograph."""
    model, _ = load_reference_model(tiny_model_dir, torch.device("cpu"))
    image = prepare_image(cr_dataset(seed=IMAGE_SEED), size=model.config.image_size)
    return image_only_probabilities(model, [image])[0][Label.PNEUMONIA]


@pytest.fixture
def fused_model(
    tiny_model_dir: Path, settings: object, tmp_path: Path, pneumonia_image_probability: float
) -> Iterator[Path]:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    _pneumonia_model(pneumonia_image_probability).save(model_dir / FILE_NAME)
    settings.DRAFT_MODEL_DIR = model_dir  # type: ignore[attr-defined]
    settings.HEATMAP_DIR = tmp_path / "heatmaps"  # type: ignore[attr-defined]
    settings.CRITICAL_LABELS = [  # type: ignore[attr-defined]
        "Pneumothorax",
        "Fracture",
        "Lung Lesion",
        "Pleural Effusion",
        "Pneumonia",
    ]
    services._backend.cache_clear()
    yield model_dir
    services._backend.cache_clear()


def _labs(patient_id: str, taken: dt.datetime, labs: dict[str, tuple[float, str]]) -> None:
    clinical_values_record(
        values=[
            ValueIn(
                patient=PatientRef(patient_id),
                kind=ValueKind.OBSERVATION,
                code=code,
                display=code,
                observed_at=taken - dt.timedelta(hours=3),
                value_number=value,
                unit=unit,
                source_ref=f"LAB:{patient_id}:{code}",
            )
            for code, (value, unit) in labs.items()
        ],
        source=ValueSource.HL7,
    )


def _study_with_context(
    scp: LiveScp, tmp_path: Path, patient_id: str, labs: dict[str, tuple[float, str]]
) -> Study:
    ds = cr_dataset(patient_id=patient_id, seed=IMAGE_SEED)
    results = send_files(
        [write(ds, tmp_path / f"{patient_id}.dcm")],
        host=scp.host,
        port=scp.port,
        called_ae_title=scp.ae_title,
    )
    assert [r.status for r in results] == [0]
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)
    taken = dt.datetime.combine(study.study_date, study.study_time, tzinfo=dt.UTC)  # type: ignore[arg-type]
    _labs(patient_id, taken, labs)
    return study


def _drafted(study: Study) -> AiDraft:
    job = study_complete(study_uid=study.study_uid, reason="explicit")
    assert job is not None
    assert services.draft_job_run(job_id=job.pk) == DraftJobState.DONE
    return AiDraft.objects.get(version__report__study=study, version__number=0)


def test_the_same_image_gains_pneumonia_only_with_an_infective_context(
    fused_model: Path, live_scp: LiveScp, tmp_path: Path, pneumonia_image_probability: float
) -> None:
    assert pneumonia_image_probability < 0.5, "the image alone must leave pneumonia out"
    infected = _study_with_context(live_scp, tmp_path, "PAT-FEVER", INFECTED)
    bland = _study_with_context(live_scp, tmp_path, "PAT-WELL", BLAND)

    raised_draft = _drafted(infected)
    bland_draft = _drafted(bland)

    raised = {f["label"]: f for f in raised_draft.findings}
    assert "Pneumonia" in raised and "Pneumonia" not in {f["label"] for f in bland_draft.findings}
    pneumonia = raised["Pneumonia"]
    assert pneumonia["context_effect"] == "raised" and pneumonia["operating_threshold"] == 0.5
    assert pneumonia["image_probability"] < 0.5 <= pneumonia["adjusted_probability"]
    assert pneumonia["confidence"] == pytest.approx(pneumonia["adjusted_probability"], abs=1e-4)
    total = sum(pneumonia["contributions_logit"].values())
    assert total + pneumonia["intercept_logit"] == pytest.approx(
        pneumonia["adjusted_logit"], abs=1e-4
    )
    assert 1 / (1 + math.exp(-pneumonia["adjusted_logit"])) == pytest.approx(
        pneumonia["adjusted_probability"], abs=1e-4
    )
    assert pneumonia["contributions_logit"]["labs_vitals"] > 0
    assert {e["code"] for e in pneumonia["evidence"]} >= {"crp", "temperature", "wbc"}
    assert "raised by the clinical context" in pneumonia["finding"]
    assert pneumonia["bounding_box"] is None and pneumonia["is_critical"]

    ours = [s for s in raised_draft.sentences if s["source"] == CONTEXT_SOURCE]
    assert [(s["label"], s["section"]) for s in ours] == [
        ("Pneumonia", "findings"),
        ("Pneumonia", "impression"),
    ]
    assert not [s for s in bland_draft.sentences if s["source"] == CONTEXT_SOURCE]
    assert "raised by the clinical context" in raised_draft.version.findings
    # The same image, a different impression: the context decides what it means.
    assert "Pneumonia, given the clinical context (" in raised_draft.version.impression
    assert "Pneumonia" not in bland_draft.version.impression
    fusion = raised_draft.version.clinical_context.fusion
    assert fusion["raised_by_context"] == ["Pneumonia"] and fusion["lowered_by_context"] == []
    assert bland_draft.version.clinical_context.fusion["raised_by_context"] == []
    # QA reads the raised finding as detected and stated: no flag on it.
    assert "Pneumonia" not in {flag["label"] for flag in raised_draft.qa_flags}
    # Triage counts it: the infected study (a critical finding) reads first.
    infected.refresh_from_db()
    bland.refresh_from_db()
    assert infected.priority > bland.priority


def test_a_reported_finding_that_context_lowers_is_kept_and_marked(
    fused_model: Path, live_scp: LiveScp, tmp_path: Path
) -> None:
    study = _study_with_context(live_scp, tmp_path, "PAT-LOW", BLAND)
    stored = study.series.get().instances.get()
    backend = ReferenceBackend(fused_model, "cpu")
    ds = cr_dataset(seed=IMAGE_SEED)
    image = prepare_image(ds, size=backend.image_size, sop_uid=stored.sop_uid)
    draft = Draft(
        findings=(Finding(Label.PNEUMONIA, 0.62),),
        sentences=(Sentence("Right basal pneumonia.", "findings", Label.PNEUMONIA, "generated"),),
        model_name="t",
        model_version="t",
    )

    analysis = clinical_draft_analyse(
        study=study, draft=draft, study_input=StudyInput(study.study_uid, (image,)), backend=backend
    )

    assert [f.label for f in analysis.draft.findings] == [Label.PNEUMONIA]
    assert analysis.draft.findings[0].confidence == 0.62  # what the image saw, kept
    assert analysis.fused[Label.PNEUMONIA].adjusted_probability < 0.5
    row = analysis.findings_json([{"label": "Pneumonia", "confidence": 0.62}])[0]
    assert row["context_effect"] == "lowered" and row["operating_threshold"] == 0.5
    ours = [s for s in analysis.draft.sentences if s.source == CONTEXT_SOURCE]
    assert len(ours) == 1 and "lowered by the clinical context" in ours[0].text
    assert "kept for the radiologist to decide" in ours[0].text
    assert analysis.fusion["lowered_by_context"] == ["Pneumonia"]
    text = f"{analysis.draft.findings_text} {analysis.draft.impression}"
    assert (
        qa_check(analysis.draft.findings, text, critical=frozenset({Label.PNEUMONIA})).flags == ()
    )


def test_a_raised_finding_replaces_or_shortens_the_image_models_sentences_that_negate_it(
    fused_model: Path, live_scp: LiveScp, tmp_path: Path
) -> None:
    study = _study_with_context(live_scp, tmp_path, "PAT-NEG", INFECTED)
    stored = study.series.get().instances.get()
    backend = ReferenceBackend(fused_model, "cpu")
    image = prepare_image(
        cr_dataset(seed=IMAGE_SEED), size=backend.image_size, sop_uid=stored.sop_uid
    )
    draft = Draft(
        findings=(),
        sentences=(
            Sentence("No pneumonia.", "findings", Label.PNEUMONIA, "generated"),
            Sentence("Heart size is normal.", "findings", None, "generated"),
            Sentence(
                "No pneumothorax, pleural effusion or pneumonia.", "findings", None, "generated"
            ),
        ),
        model_name="t",
        model_version="t",
    )

    analysis = clinical_draft_analyse(
        study=study, draft=draft, study_input=StudyInput(study.study_uid, (image,)), backend=backend
    )

    assert [f.label for f in analysis.draft.findings] == [Label.PNEUMONIA]
    texts = [s.text for s in analysis.draft.sentences]
    assert "No pneumonia." not in texts and "Heart size is normal." in texts
    assert any("'No pneumonia.' was left out" in note for note in analysis.notes)
    # What the list said of the other labels stays.
    assert "No pneumothorax or pleural effusion." in texts
    assert any(
        "now reads 'No pneumothorax or pleural effusion.'" in note for note in analysis.notes
    )
    text = f"{analysis.draft.findings_text} {analysis.draft.impression}"
    assert qa_check(analysis.draft.findings, text, critical=frozenset()).flags == ()
