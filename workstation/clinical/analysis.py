"""The serving path's context step: for one drafted study, fuse each finding's image-only
probability with the study's clinical context, compare with the most recent prior study,
reason about the differential, and keep the evidence. Called by ``inference.services``
between the backend's draft and QA; what it adds is stored with version 0 (the findings'
extra keys in ``AiDraft.findings`` and a :class:`DraftContext` row).

Fusion can change what the draft reports: a fitted label the image alone left below its
operating threshold is added when context lifts it over ("raised by context", sentence source
``context-fusion``); a reported label context pushes below is kept and marked "lowered by
context". The returned draft carries both, so QA and triage (which read the draft) agree
with the text.

It never fails a draft: a missing fusion model, an unreadable prior or a backend without a
reference model each degrade to less output, and say so in the stored record.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings

from inference.backends.base import ModelNotLoaded, StudyInput
from inference.fusion.decision import (
    CONTEXT_SOURCE,
    ContextEffect,
    context_decisions,
    operating_threshold,
)
from inference.fusion.features import CONTEXT_FEATURES
from inference.fusion.image import image_embedding, image_only_probabilities, reference_model_of
from inference.fusion.model import FILE_NAME, FusedFinding, FusionModel, FusionModelError
from inference.labeller import label_report
from inference.labeller.edit import sentence_without
from inference.labels import Label, Mention
from inference.models.reference import ReferenceModel
from inference.preprocess import PixelDataError, prepare_image
from inference.priors import ComparedFinding, FindingChange, compare_with_prior, embedding_distance
from inference.reasoning import (
    DECISION_SUPPORT_NOTICE,
    ReasonedFinding,
    differential,
    recommendations,
)
from inference.safe_decode import read_for_pixels
from inference.types import Draft, Finding, Sentence
from workstation.clinical.models import DraftContext
from workstation.clinical.selectors import StudyContext, study_context_get
from workstation.clinical.services import clinical_values_from_dicom, study_datetime
from workstation.dicom.ingest import DRAFTABLE_MODALITIES
from workstation.studies.models import Instance, Study
from workstation.studies.storage import resolve

logger = logging.getLogger(__name__)

EVIDENCE_MIN_LOGIT = 0.05  # a context input is listed under a finding when it moved it this much


@cache
def _fusion_model(path: str, mtime: float) -> FusionModel:
    return FusionModel.load(Path(path))


def fusion_model_path() -> Path:
    """``fusion.json`` next to the served image model (the registry's promoted version when
    ``DRAFT_MODEL_NAME`` is set, else ``DRAFT_MODEL_DIR``)."""
    from inference import services  # imported here: services imports this module

    try:
        return services.serving_model_dir() / FILE_NAME
    except ModelNotLoaded:
        return Path(settings.DRAFT_MODEL_DIR) / FILE_NAME


def fusion_model_get() -> tuple[FusionModel, str]:
    """The fusion model next to the drafting model (reloaded when the file changes), or a
    pass-through model and the reason there is none."""
    path = fusion_model_path()
    try:
        return _fusion_model(str(path), path.stat().st_mtime), ""
    except OSError:
        return FusionModel({}), f"no fusion model at {path}: run manage.py train_fusion"
    except FusionModelError as exc:
        return FusionModel({}), str(exc)


@dataclass
class DraftAnalysis:
    """What the context step found for one draft."""

    draft: Draft  # the backend's draft plus the comparison sentences
    context: StudyContext
    fused: dict[Label, FusedFinding]
    evidence: dict[Label, list[dict[str, Any]]]
    changes: dict[Label, FindingChange]
    fusion: dict[str, Any]
    comparison: dict[str, Any]
    decision_support: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    effects: dict[Label, ContextEffect] = field(default_factory=dict)
    thresholds: dict[Label, float] = field(default_factory=dict)  # operating, per finding

    def findings_json(self, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``AiDraft.findings`` rows with the fusion figures, evidence and change added.

        ``context_contribution`` becomes adjusted minus image-only probability; the logit
        contributions sum to the adjusted logit minus ``intercept_logit`` (see
        ``inference.fusion``). ``context_effect`` is "raised" (the image alone was below
        ``operating_threshold``, context brought it over), "lowered" (the image reported it,
        context brought it below; kept for the radiologist) or ``None``."""
        out = []
        for row in findings:
            label = Label(row["label"])
            fused = self.fused.get(label)
            extra: dict[str, Any] = {}
            if fused is not None:
                extra = fused.as_dict()
                extra["context_contribution"] = round(
                    fused.adjusted_probability - fused.image_probability, 4
                )
            extra["evidence"] = self.evidence.get(label, [])
            effect = self.effects.get(label, ContextEffect.NONE)
            extra["context_effect"] = effect.value or None
            threshold = self.thresholds.get(label)
            extra["operating_threshold"] = None if threshold is None else round(threshold, 4)
            change = self.changes.get(label)
            extra["change"] = change.as_dict() if change else None
            out.append({**row, **extra})
        return out

    def record(self, *, version: Any) -> DraftContext:
        """Store the draft-level record with version 0 (in the caller's transaction)."""
        return DraftContext.objects.create(
            version=version,
            study_id=version.report.study_id,
            window_hours=self.context.window_hours,
            context=self.context.as_dict() | {"notes": self.notes},
            fusion=self.fusion,
            comparison=self.comparison,
            decision_support=self.decision_support,
        )


def _frontal_dataset(
    study: Study, sop_uid: str = "", *, pixels: bool = False
) -> tuple[Instance, pydicom.Dataset] | None:
    """The study's frontal radiograph: its header, or (``pixels``) the whole dataset read
    through ``inference.safe_decode`` like the drafting path reads it."""
    instances = Instance.objects.filter(
        series__study=study, series__modality__in=DRAFTABLE_MODALITIES
    )
    instance = (
        instances.filter(sop_uid=sop_uid).first() if sop_uid else None
    ) or instances.order_by("series__series_number", "instance_number", "pk").first()
    if instance is None:
        return None
    path = resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path)
    try:
        ds = read_for_pixels(path) if pixels else pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError, PixelDataError) as exc:
        logger.warning("instance %s unreadable for the context step: %s", instance.sop_uid, exc)
        return None
    return instance, ds


def _prior_study(study: Study) -> Study | None:
    """The patient's most recent study acquired before this one that has an AI draft."""
    when = study_datetime(study)
    earlier = [
        s
        for s in Study.objects.filter(patient=study.patient, report__versions__number=0).exclude(
            pk=study.pk
        )
        if study_datetime(s) < when
    ]
    return max(earlier, key=study_datetime, default=None)


def _fraction_box(
    box: Any, rows: int | None, cols: int | None
) -> tuple[float, float, float, float] | None:
    if not box or not rows or not cols:
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 / cols, y0 / rows, x1 / cols, y1 / rows)


def _prior_findings(prior: Study) -> list[ComparedFinding]:
    from reports.models import AiDraft

    detail = AiDraft.objects.filter(version__report__study=prior, version__number=0).first()
    if detail is None:
        return []
    frontal = (
        Instance.objects.filter(series__study=prior, series__modality__in=DRAFTABLE_MODALITIES)
        .order_by("series__series_number", "instance_number", "pk")
        .first()
    )
    rows, cols = (frontal.rows, frontal.columns) if frontal else (None, None)
    return [
        ComparedFinding(
            Label(f["label"]),
            float(f.get("adjusted_probability", f["confidence"])),
            _fraction_box(f.get("bounding_box"), rows, cols),
            f.get("laterality") or "",
        )
        for f in detail.findings
    ]


def _image_probabilities(
    model: ReferenceModel | None, draft: Draft, study_input: StudyInput
) -> dict[Label, float]:
    if model is not None and study_input.images:
        return image_only_probabilities(model, [study_input.images[0]])[0]
    # No reference model (e.g. hf): the image-only share of each reported finding.
    return {
        f.label: max(0.0, min(1.0, f.confidence - (f.context_contribution or 0.0)))
        for f in draft.findings
    }


def _evidence(fused: FusedFinding, context: StudyContext, prior_label: str) -> list[dict[str, Any]]:
    out = []
    for feature in CONTEXT_FEATURES:
        moved = fused.feature_contributions.get(feature.name)
        if moved is None or abs(moved) < EVIDENCE_MIN_LOGIT:
            continue
        for code in feature.evidence:
            if code == "prior":
                shown: dict[str, Any] = {
                    "code": "prior",
                    "display": "Prior study",
                    "value": prior_label,
                }
            elif code in context.by_code:
                shown = context.by_code[code].as_dict()
            else:
                continue
            out.append(shown | {"feature": feature.name, "contribution_logit": round(moved, 4)})
    return sorted(out, key=lambda e: -abs(e["contribution_logit"]))


def _size_mm(finding: Finding, ds: pydicom.Dataset | None) -> float | None:
    if ds is None or finding.box is None:
        return None
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if not spacing:
        return None
    x0, y0, x1, y1 = finding.box
    try:
        return max((x1 - x0) * float(spacing[1]), (y1 - y0) * float(spacing[0]))
    except (TypeError, ValueError, IndexError):  # a malformed spacing: size unknown
        return None


def clinical_draft_analyse(
    *, study: Study, draft: Draft, study_input: StudyInput, backend: object
) -> DraftAnalysis:
    """The context step for one draft (see the module docstring).

    Besides adjusting the reported findings, fusion may raise a fitted label the image
    backend did not report (its adjusted probability reaches the label's operating
    threshold) or lower a reported one below it (kept, marked): see
    ``inference.fusion.decision``. The returned draft carries the raised findings and the
    sentences saying what context did, so QA and triage read them like any other finding."""
    notes: list[str] = []
    clinical_values_from_dicom(study=study)
    context = study_context_get(study=study)
    model = reference_model_of(backend)
    if model is None:
        notes.append(
            "backend has no reference model: image-only probabilities of unreported labels unknown"
        )
    image_probabilities = _image_probabilities(model, draft, study_input)
    for finding in draft.findings:
        image_probabilities.setdefault(finding.label, float(finding.confidence))

    prior = _prior_study(study)
    prior_findings = _prior_findings(prior) if prior is not None else []
    prior_date = ""
    if prior is not None:
        prior_date = (
            prior.study_date.isoformat()
            if prior.study_date
            else study_datetime(prior).date().isoformat()
        )
    inputs = dataclasses.replace(
        context.inputs, prior_probabilities={f.label: f.probability for f in prior_findings}
    )
    fusion, missing = fusion_model_get()
    if missing:
        notes.append(missing)
    # Reported labels, and the fitted labels the image did not report (context may raise them).
    considered = [f.label for f in draft.findings] + [
        label
        for label in fusion.labels
        if label is not Label.NO_FINDING
        and label in image_probabilities
        and label not in {f.label for f in draft.findings}
    ]
    thresholds = {
        label: operating_threshold(label, backend=backend, study_input=study_input)
        for label in considered
    }
    candidates = {label: fusion.fuse(label, image_probabilities, inputs) for label in considered}
    prior_label = f"{prior.study_uid} ({prior_date})" if prior is not None else ""
    all_evidence = {
        label: _evidence(result, context, prior_label) for label, result in candidates.items()
    }
    findings, context_sentences, effects = context_decisions(
        draft=draft,
        fused=candidates,
        evidence=all_evidence,
        thresholds=thresholds,
        critical=frozenset(getattr(backend, "critical_labels", None) or ()),
    )
    kept = {f.label for f in findings}
    fused = {label: result for label, result in candidates.items() if label in kept}
    evidence = {label: found for label, found in all_evidence.items() if label in kept}
    # A backend sentence that negates a label context raised ("No pneumonia.") would
    # contradict the draft's own finding: the label is taken out of it where it is one item
    # of a list ("No effusion or pneumonia." -> "No effusion."), else the sentence is
    # dropped; the notes say which.
    raised = {label for label, e in effects.items() if e is ContextEffect.RAISED}
    kept_sentences = []
    for sentence in draft.sentences:
        mentions = label_report(sentence.text) if raised else {}
        negated = [label for label in raised if mentions.get(label) is Mention.NEGATIVE]
        if not negated or sentence.source == CONTEXT_SOURCE:
            kept_sentences.append(sentence)
            continue
        why = f"{', '.join(label.value for label in negated)}: raised by the clinical context;"
        shortened: str | None = sentence.text
        for label in negated:
            if shortened is not None:
                shortened = sentence_without(shortened, label)
        if shortened is None:
            notes.append(f"{why} the image model's sentence {sentence.text!r} was left out")
            continue
        notes.append(f"{why} the image model's sentence {sentence.text!r} now reads {shortened!r}")
        kept_sentences.append(dataclasses.replace(sentence, text=shortened))
    draft = dataclasses.replace(
        draft, findings=findings, sentences=(*kept_sentences, *context_sentences)
    )

    comparison: dict[str, Any] = {"prior_study_uid": None}
    changes: dict[Label, FindingChange] = {}
    sentences: list[Sentence] = []
    frontal = _frontal_dataset(study, study_input.images[0].sop_uid if study_input.images else "")
    if prior is None:
        notes.append("no prior study of this patient")
    else:
        rows, cols = (frontal[0].rows, frontal[0].columns) if frontal else (None, None)
        current = [
            ComparedFinding(
                f.label,
                fused[f.label].adjusted_probability,
                _fraction_box(f.box, rows, cols),
                f.laterality.value,
            )
            for f in draft.findings
        ]
        found = compare_with_prior(current, prior_findings, prior_date=prior_date)
        changes = {c.label: c for c in found if c.probability_now is not None}
        sentences = [
            Sentence(
                c.sentence,
                "findings",
                c.label if c.probability_now is not None else None,
                f"prior:{prior.study_uid}",
            )
            for c in found
        ]
        comparison = {
            "prior_study_uid": prior.study_uid,
            "prior_date": prior_date,
            "embedding_distance": _embedding_distance(model, study_input, prior),
            "changes": [{"label": c.label.value} | c.as_dict() for c in found],
        }

    reasoned = [
        ReasonedFinding(
            f.label,
            fused[f.label].adjusted_probability,
            f.laterality.value,
            _size_mm(f, frontal[1] if frontal else None),
        )
        for f in draft.findings
    ]
    decision_support = {
        "notice": DECISION_SUPPORT_NOTICE,
        "differential": [item.as_dict() for item in differential(reasoned, inputs)],
        "recommendations": [r.as_dict() for r in recommendations(reasoned, inputs)],
    }
    fusion_meta = {
        "model": str(fusion_model_path()) if not missing else None,
        "fitted_labels": sorted(label.value for label in fusion.labels),
        "trained_on": fusion.trained_on,
        "note": missing or "late fusion; contributions in logits sum to adjusted logit - intercept",
        "raised_by_context": [
            label.value for label, e in effects.items() if e is ContextEffect.RAISED
        ],
        "lowered_by_context": [
            label.value for label, e in effects.items() if e is ContextEffect.LOWERED
        ],
    }
    enriched = dataclasses.replace(draft, sentences=draft.sentences + tuple(sentences))
    return DraftAnalysis(
        enriched,
        context,
        fused,
        evidence,
        changes,
        fusion_meta,
        comparison,
        decision_support,
        notes,
        {label: e for label, e in effects.items() if label in kept},
        {label: t for label, t in thresholds.items() if label in kept},
    )


def _embedding_distance(
    model: ReferenceModel | None, study_input: StudyInput, prior: Study
) -> float | None:
    if model is None or not study_input.images:
        return None
    loaded = _frontal_dataset(prior, pixels=True)
    if loaded is None:
        return None
    try:
        before = prepare_image(loaded[1], size=model.config.image_size)
    except PixelDataError as exc:
        logger.warning("prior %s pixels unreadable: %s", prior.study_uid, exc)
        return None
    now = image_embedding(model, study_input.images[0])
    return round(embedding_distance(now, image_embedding(model, before)), 4)
