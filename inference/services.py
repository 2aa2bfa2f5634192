"""The Django edge of drafting: load a study, run the configured backend once per worker
process, check the text (QA), score the study (triage), save the draft as report version 0
with its evidence, and tell the worklist.

Failure states are explicit: a study with no frontal radiograph, unreadable pixels or a
missing model ends as ``DraftJobState.FAILED`` with the reason people see in the API and the
worklist, and the job is not retried for ever.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference import registry
from inference.backends.base import Backend, ModelNotLoaded, NoFrontalImage, StudyInput
from inference.labels import Label
from inference.preprocess import (
    PixelDataError,
    display_image,
    modality_values,
    prepare_image,
    select_frontal,
)
from inference.qa import QaResult, qa_check
from inference.safe_decode import read_for_pixels
from inference.triage import Triage, triage
from inference.types import ClinicalContext, Draft, lab_terms
from reports.errors import ReportStateError
from workstation.clinical.analysis import DraftAnalysis, clinical_draft_analyse
from workstation.clinical.services import clinical_values_from_dicom
from workstation.dicom.ingest import DRAFTABLE_MODALITIES
from workstation.studies.models import DraftJob, DraftJobState, Instance, Study, StudyStatus
from workstation.studies.storage import resolve

logger = logging.getLogger(__name__)

FINAL_STATES = frozenset(
    {DraftJobState.DONE, DraftJobState.FAILED, DraftJobState.READY_FOR_DRAFTING}
)
HEATMAP_MAX_SIDE = 1024  # stored overlays are bounded; the viewer scales them to the image


class DraftFailed(Exception):
    """The study cannot be drafted; the message is what the radiologist sees."""


def critical_labels() -> frozenset[Label]:
    return frozenset(Label(name) for name in settings.CRITICAL_LABELS)


def serving_model_dir() -> Path:
    """Where the served model is: the promoted version of ``DRAFT_MODEL_NAME`` in the model
    registry when that is set, else ``DRAFT_MODEL_DIR``.

    Raises:
        ModelNotLoaded: ``DRAFT_MODEL_NAME`` is set but no version of it is promoted.
    """
    if not settings.DRAFT_MODEL_NAME:
        return Path(settings.DRAFT_MODEL_DIR)
    from inference.model_registry.selectors import model_version_promoted

    promoted = model_version_promoted(name=settings.DRAFT_MODEL_NAME)
    if promoted is None:
        raise ModelNotLoaded(
            f"model not loaded: no promoted version of {settings.DRAFT_MODEL_NAME!r} in the "
            "model registry (manage.py promote_model)"
        )
    return Path(promoted.path)


def draft_model_version() -> str:
    """The version drafting jobs are created for: the setting, else the model card's."""
    if settings.DRAFT_MODEL_VERSION:
        return str(settings.DRAFT_MODEL_VERSION)
    try:
        data = json.loads((serving_model_dir() / "model_card.json").read_text())
        return f"{data['name']}:{data['version']}"
    except (OSError, ValueError, KeyError, TypeError, ModelNotLoaded):
        return "no-model"


@cache
def _backend(name: str, model_dir: str, device: str, onnx_precision: str) -> Backend:
    entry = registry.BACKENDS.get(name)
    if entry is None:
        raise ModelNotLoaded(f"model not loaded: unknown backend {name!r}")
    module_name, class_name = entry.import_path.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    extra: dict[str, Any] = {}
    if name == "retrieval":
        extra["bank_cache_dir"] = Path(settings.SENTENCE_BANK_DIR)
    if name == "onnx":
        extra["precision"] = onnx_precision
    backend: Backend = backend_class(
        model_dir, device or None, critical_labels=critical_labels(), **extra
    )
    _check_registered(backend, Path(model_dir))
    return backend


def _check_registered(backend: Backend, model_dir: Path) -> None:
    """Log a warning when the served model is not in the registry, or its weights are not
    the registered ones: drafts name their model by (name, version), and the dashboards join
    those strings to the registry. Runs once per loaded backend."""
    from inference.model_registry.selectors import model_version_for_draft
    from inference.model_registry.weights import RegistryError, weights_checksum

    name, version = str(getattr(backend, "model_name", backend.name)), str(backend.version)
    entry = model_version_for_draft(model_name=name, model_version=version)
    if entry is None:
        logger.warning(
            "serving %s:%s from %s, which is not in the model registry "
            "(manage.py register_model --model-dir %s)",
            name,
            version,
            model_dir,
            model_dir,
        )
        return
    try:
        current = weights_checksum(model_dir)
    except (OSError, RegistryError) as error:
        logger.warning("cannot checksum the served weights in %s: %s", model_dir, error)
        return
    if current != entry.sha256:
        logger.warning(
            "serving %s:%s from %s, whose weights differ from the registered ones (%s)",
            name,
            version,
            model_dir,
            entry.path,
        )


def backend_get() -> Backend:
    """The configured backend, loaded once per worker process (again when another version is
    promoted to serve ``DRAFT_MODEL_NAME``). Raises ``ModelNotLoaded``."""
    return _backend(
        settings.DRAFT_BACKEND,
        str(serving_model_dir()),
        settings.DRAFT_DEVICE,
        settings.ONNX_PRECISION,
    )


def clinical_context_of(study: Study) -> ClinicalContext:
    """The study's context for the model, with up to two prior signed impressions, the
    smoking status and the flags of the labs and vitals observed within the clinical window
    (``workstation.clinical.selectors``: the values the context step fuses). Age, sex and
    history come from the draft request's context when it gives them, else from the study
    and the linked clinical values (DICOM header, FHIR, HL7 v2, typed by hand)."""
    from workstation.clinical.selectors import study_context_get  # the edge reads the app

    context = getattr(study, "clinical_context", None)
    inputs = study_context_get(study=study).inputs
    priors = []
    earlier = (
        Study.objects.filter(patient=study.patient, received_at__lt=study.received_at)
        .exclude(pk=study.pk)
        .select_related("report")
        .order_by("-received_at")[:5]
    )
    for prior in earlier:
        report = getattr(prior, "report", None)
        if report is not None and report.is_signed and report.signed_number is not None:
            version = report.versions.get(number=report.signed_number)
            when = prior.study_date.isoformat() if prior.study_date else "undated"
            priors.append(f"{when}: {version.impression or version.findings}"[:300])
        if len(priors) == 2:
            break
    linked_age = None if inputs.age_years is None else round(inputs.age_years)
    return ClinicalContext(
        age_years=(context.age_years if context else None) or study.patient_age_years or linked_age,
        sex=(context.sex if context else "") or study.patient.sex or inputs.sex,
        indication=context.indication if context else "",
        # What the requester typed wins; else what the header, FHIR or HL7 v2 brought.
        history=(context.history if context else "") or inputs.history_text,
        prior_studies=tuple(priors),
        smoking=inputs.smoking,
        labs=lab_terms(
            {code: m.value for code, m in inputs.measurements.items()},
            {code: m.abnormal_flag for code, m in inputs.measurements.items()},
        ),
    )


def study_input_load(
    study: Study, *, image_size: int, options: dict[str, Any] | None = None
) -> tuple[StudyInput, dict[str, Instance]]:
    """The study's radiographs, frontal first, prepared at ``image_size``, with the
    requester's ``options`` (report template, confidence threshold).

    Returns the input and the instances by SOP Instance UID. Raises ``DraftFailed``.
    """
    instances = list(
        Instance.objects.filter(
            series__study=study, series__modality__in=DRAFTABLE_MODALITIES
        ).order_by("series__series_number", "instance_number", "pk")
    )
    if not instances:
        raise DraftFailed("no frontal chest radiograph: the study has no CR/DX image")
    root = Path(settings.DICOM_STORAGE_DIR)
    datasets = []
    for instance in instances:
        try:
            datasets.append(read_for_pixels(resolve(root, instance.storage_path)))
        except (OSError, pydicom.errors.InvalidDicomError, PixelDataError) as exc:
            logger.warning("instance %s unreadable: %s", instance.sop_uid, exc)
    try:
        ordered = select_frontal(datasets)
        images = tuple(
            prepare_image(ds, size=image_size, sop_uid=str(ds.SOPInstanceUID)) for ds in ordered[:2]
        )
    except NoFrontalImage as exc:
        raise DraftFailed(f"no frontal chest radiograph: {exc}") from exc
    except PixelDataError as exc:
        raise DraftFailed(f"unreadable pixel data: {exc}") from exc
    by_uid = {instance.sop_uid: instance for instance in instances}
    options = options or {}
    threshold = options.get("confidence_threshold")
    study_input = StudyInput(
        study_uid=study.study_uid,
        images=images,
        context=clinical_context_of(study),
        report_template=str(options.get("report_template", "")),
        confidence_threshold=float(threshold) if threshold is not None else None,
    )
    return study_input, by_uid


def _heatmap_files(draft: Draft, frontal: Instance, out_dir: Path) -> dict[Label, str]:
    """Write one overlay PNG per finding with a heatmap; returns file names by label."""
    from explainability.overlays import overlay_png

    maps = [f for f in draft.findings if f.heatmap is not None]
    if not maps:
        return {}
    ds = read_for_pixels(resolve(Path(settings.DICOM_STORAGE_DIR), frontal.storage_path))
    display = display_image(ds, modality_values(ds))
    scale = min(1.0, HEATMAP_MAX_SIDE / max(display.shape))
    size = (max(1, round(display.shape[1] * scale)), max(1, round(display.shape[0] * scale)))
    small = cv2.resize(display, size, interpolation=cv2.INTER_AREA)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for finding in maps:
        assert finding.heatmap is not None
        heat = cv2.resize(finding.heatmap.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        box = tuple(round(v * scale) for v in finding.box) if finding.box else None
        name = f"{finding.label.name.lower()}.png"
        (out_dir / name).write_bytes(overlay_png(small, heat, box=box))  # type: ignore[arg-type]
        names[finding.label] = name
    return names


def _finding_sentence(draft: Draft, label: Label) -> str:
    return " ".join(s.text for s in draft.sentences if s.label == label and s.section == "findings")


def _findings_json(
    draft: Draft, heatmaps: dict[Label, str], critical: frozenset[Label]
) -> list[dict[str, object]]:
    return [
        {
            "finding": _finding_sentence(draft, f.label) or f.label.value,
            "label": f.label.value,
            "confidence": round(float(f.confidence), 4),
            "severity": f.severity.value if f.severity else None,
            "laterality": f.laterality.value or None,
            "bounding_box": list(f.box) if f.box else None,
            "is_critical": f.is_critical or f.label in critical,
            "heatmap": heatmaps.get(f.label),
            "context_contribution": f.context_contribution,
        }
        for f in draft.findings
    ]


def _save(
    job: DraftJob,
    draft: Draft,
    qa: QaResult,
    scored: Triage,
    heatmap_dir_for: Path,
    frontal: Instance,
    critical: frozenset[Label],
    processing_ms: float,
    context_step: DraftAnalysis | None = None,
) -> None:
    from reports.content import AiFinding
    from reports.models import AiDraft
    from reports.services import report_draft_save
    from workstation.notify import study_event_on_commit

    study = job.study
    with transaction.atomic():
        version = report_draft_save(
            study=study,
            findings=draft.findings_text,
            impression=draft.impression,
            recommendations=draft.recommendations,
            model_version=job.model_version,
            ai_findings=[
                AiFinding(f.label, float(f.confidence), _finding_sentence(draft, f.label))
                for f in draft.findings
            ],
        )
        heatmaps = _heatmap_files(draft, frontal, heatmap_dir_for / str(version.report_id))
        AiDraft.objects.create(
            version=version,
            backend=settings.DRAFT_BACKEND,
            model_name=draft.model_name,
            model_version=draft.model_version,
            processing_time_ms=processing_ms,
            timings_ms=dict(draft.timings_ms),
            requires_radiologist_review=qa.requires_radiologist_review,
            qa_flags=[flag.as_dict() for flag in qa.flags],
            findings=(
                context_step.findings_json(_findings_json(draft, heatmaps, critical))
                if context_step is not None
                else _findings_json(draft, heatmaps, critical)
            ),
            sentences=[
                {
                    "text": s.text,
                    "section": s.section,
                    "label": s.label.value if s.label else None,
                    "source": s.source,
                }
                for s in draft.sentences
            ],
            priority=scored.score,
        )
        if context_step is not None:  # issue 10: context, comparison, decision support
            context_step.record(version=version)
        Study.objects.filter(pk=study.pk).update(priority=scored.score, is_stat=scored.stat)
        DraftJob.objects.filter(pk=job.pk).update(
            state=DraftJobState.DONE, finished_at=timezone.now(), error=""
        )
        study_event_on_commit(event="drafted", study_uid=study.study_uid, status="drafted")


def _fail(job: DraftJob, reason: str) -> str:
    from workstation.notify import study_event_on_commit

    with transaction.atomic():
        DraftJob.objects.filter(pk=job.pk).update(
            state=DraftJobState.FAILED, error=reason[:2000], finished_at=timezone.now()
        )
        Study.objects.filter(pk=job.study_id, status=StudyStatus.WAITING_FOR_AI).update(
            status=StudyStatus.DRAFT_FAILED
        )
        study_event_on_commit(
            event="draft_failed", study_uid=job.study.study_uid, status="draft_failed"
        )
    logger.warning("drafting job %s failed: %s", job.pk, reason)
    return str(DraftJobState.FAILED)


def _claim(job_id: int, *, from_its_own_message: bool) -> DraftJob | None:
    """Mark the job running (one more attempt); ``None`` when there is nothing to do.

    A job another worker is running (within ``DRAFT_RUNNING_GRACE_SECONDS``) is left to it;
    one whose worker died is taken over when its message is redelivered or re-sent by the
    sweeper. Jobs pulled into a batch (not from their own message) are skipped when locked.
    """
    with transaction.atomic():
        job = (
            DraftJob.objects.select_for_update(skip_locked=not from_its_own_message)
            .select_related("study__patient")
            .filter(pk=job_id)
            .first()
        )
        if job is None:
            if from_its_own_message:
                raise DraftJob.DoesNotExist(f"no drafting job {job_id}")
            return None
        if job.state in FINAL_STATES:
            logger.info("drafting job %s already %s; redelivery ignored", job_id, job.state)
            return None
        grace = timezone.now() - dt.timedelta(seconds=settings.DRAFT_RUNNING_GRACE_SECONDS)
        if job.state == DraftJobState.RUNNING and (
            not from_its_own_message or (job.started_at and job.started_at > grace)
        ):
            return None
        job.attempts += 1
        job.state = DraftJobState.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["attempts", "state", "started_at"])
        return job


def draft_job_run(*, job_id: int) -> str:
    """Run one drafting job, batched with up to ``DRAFT_BATCH_SIZE - 1`` other queued jobs
    that turn up within ``DRAFT_BATCH_WINDOW_MS`` (dynamic batching).

    A finished job is left as it is, so a redelivered message is harmless. Returns the job's
    state afterwards. Raises ``DraftJob.DoesNotExist`` for an unknown id.
    """
    first = _claim(job_id, from_its_own_message=True)
    if first is None:
        return str(DraftJob.objects.get(pk=job_id).state)
    jobs = [first]
    deadline = time.monotonic() + settings.DRAFT_BATCH_WINDOW_MS / 1000.0
    while len(jobs) < settings.DRAFT_BATCH_SIZE:
        waiting = (
            DraftJob.objects.filter(state=DraftJobState.QUEUED)
            .exclude(pk__in=[j.pk for j in jobs])
            .order_by("created_at")
            .values_list("pk", flat=True)[: settings.DRAFT_BATCH_SIZE - len(jobs)]
        )
        jobs += [j for j in (_claim(i, from_its_own_message=False) for i in waiting) if j]
        if len(jobs) >= settings.DRAFT_BATCH_SIZE or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    states = dict(zip([j.pk for j in jobs], _run_claimed(jobs), strict=True))
    return states[first.pk]


def _run_claimed(claimed: Sequence[DraftJob]) -> list[str]:
    states: dict[int, str] = {}
    runnable = []
    for job in claimed:
        if job.attempts > settings.DRAFT_MAX_ATTEMPTS:
            states[job.pk] = _fail(job, f"gave up after {job.attempts - 1} attempts")
        else:
            runnable.append(job)
    if runnable:
        states.update(zip([j.pk for j in runnable], _draft_jobs(runnable), strict=True))
    return [states[job.pk] for job in claimed]


def _arm_backends(jobs: Sequence[DraftJob]) -> list[tuple[list[DraftJob], Backend | str]]:
    """The jobs grouped by the model that drafts them: the serving model, or the candidate
    of the running A/B experiment for studies randomised to its arm (the job then records
    the candidate's version, which its report version carries). A backend that cannot load
    stands as the reason its jobs fail."""
    from workstation.dashboards.ab import ab_candidate_model

    serving: list[DraftJob] = []
    candidates: dict[Path, list[DraftJob]] = {}
    for job in jobs:
        candidate = ab_candidate_model(study=job.study)
        if candidate is None:
            serving.append(job)
            continue
        version, candidate_dir = candidate
        if job.model_version != version:
            job.model_version = version
            DraftJob.objects.filter(pk=job.pk).update(model_version=version)
        candidates.setdefault(candidate_dir, []).append(job)
    groups: list[tuple[list[DraftJob], Backend | str]] = []
    arms: list[tuple[Path | None, list[DraftJob]]] = [(None, serving), *candidates.items()]
    for model_dir, group in arms:
        if not group:
            continue
        try:
            backend = (
                backend_get()
                if model_dir is None
                else _backend(
                    settings.DRAFT_BACKEND,
                    str(model_dir),
                    settings.DRAFT_DEVICE,
                    settings.ONNX_PRECISION,
                )
            )
        except ModelNotLoaded as exc:
            groups.append((group, str(exc)))
            continue
        groups.append((group, backend))
    return groups


def _draft_jobs(jobs: Sequence[DraftJob]) -> list[str]:
    states: dict[int, str] = {}
    for group, backend in _arm_backends(jobs):
        if isinstance(backend, str):
            states.update((job.pk, _fail(job, backend)) for job in group)
        else:
            states.update(zip([j.pk for j in group], _draft_with(group, backend), strict=True))
    return [states[job.pk] for job in jobs]


def _draft_with(jobs: Sequence[DraftJob], backend: Backend) -> list[str]:
    critical = critical_labels()
    inputs: list[tuple[DraftJob, StudyInput, Instance]] = []
    states: dict[int, str] = {}
    for job in jobs:
        # The header's clinical values first, so the prompt reads them too (hybrid fusion).
        clinical_values_from_dicom(study=job.study)
        try:
            study_input, by_uid = study_input_load(
                job.study,
                image_size=int(getattr(backend, "image_size", 512)),
                options=job.options,
            )
        except DraftFailed as exc:
            states[job.pk] = _fail(job, str(exc))
            continue
        inputs.append((job, study_input, by_uid[study_input.images[0].sop_uid]))
    if inputs:
        started = time.perf_counter()
        try:
            drafts = backend.predict_batch([item[1] for item in inputs])
        except (NoFrontalImage, PixelDataError, ModelNotLoaded) as exc:
            return [states.get(job.pk) or _fail(job, str(exc)) for job in jobs]
        per_study_ms = (time.perf_counter() - started) * 1000.0 / len(inputs)
        for (job, study_input, frontal), backend_draft in zip(inputs, drafts, strict=True):
            # Issue 10: fuse with the clinical context and compare with the prior study (its
            # sentences join the draft before QA reads it).
            context_step = clinical_draft_analyse(
                study=job.study, draft=backend_draft, study_input=study_input, backend=backend
            )
            draft = context_step.draft
            text = f"{draft.findings_text} {draft.impression}"
            qa = qa_check(draft.findings, text, critical=critical)
            scored = triage(draft.findings, study_input.context, critical=critical)
            try:
                _save(
                    job,
                    draft,
                    qa,
                    scored,
                    Path(settings.HEATMAP_DIR),
                    frontal,
                    critical,
                    per_study_ms,
                    context_step,
                )
            except ReportStateError as exc:
                # A radiologist's version (or an earlier run's draft) came first: keep it.
                DraftJob.objects.filter(pk=job.pk).update(
                    state=DraftJobState.DONE, finished_at=timezone.now(), error=str(exc)[:2000]
                )
            states[job.pk] = str(DraftJobState.DONE)
    return [states[job.pk] for job in jobs]
