"""Services that write studies: registering received instances, completing studies,
and handing drafting jobs to Celery (a transactional outbox: the job row commits first,
the task is sent after commit, and the sweeper re-sends any job the broker never took)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from pydicom.dataset import Dataset

from workstation.dicom.ingest import (
    DRAFTABLE_MODALITIES,
    IncomingInstance,
    IngestRefused,
    StoreStatus,
    fidelity,
    parse_incoming,
)
from workstation.notify import study_event_on_commit
from workstation.studies.models import (
    ClinicalContext,
    DraftJob,
    DraftJobState,
    Instance,
    Patient,
    Series,
    Study,
    StudyStatus,
)
from workstation.studies.storage import StoredFile, store_part10


def draft_model_version() -> str:
    from inference.services import draft_model_version as configured

    return configured()


logger = logging.getLogger(__name__)

# A job still PENDING this long after its row committed was never taken by the broker.
OUTBOX_RESEND_AFTER = dt.timedelta(seconds=10)
TOUCH_GRANULARITY = dt.timedelta(milliseconds=250)


@dataclass(frozen=True)
class InstanceRegistration:
    sop_uid: str
    study_uid: str
    created: bool  # a new instance row
    replaced: bool  # the stored copy was replaced by a higher-fidelity encoding


def _patient_for(incoming: IncomingInstance) -> Patient:
    patient, _ = Patient.objects.get_or_create(
        patient_id=incoming.patient_id,
        issuer=incoming.issuer_of_patient_id,
        defaults={
            "name": incoming.patient_name,
            "birth_date": incoming.patient_birth_date,
            "sex": incoming.patient_sex,
        },
    )
    return patient


def _study_for(incoming: IncomingInstance, patient: Patient, now: dt.datetime) -> Study:
    study, created = Study.objects.get_or_create(
        study_uid=incoming.study_uid,
        defaults={
            "patient": patient,
            "accession_number": incoming.accession_number,
            "study_date": incoming.study_date,
            "study_time": incoming.study_time,
            "description": incoming.study_description,
            "referring_physician": incoming.referring_physician,
            "patient_age_years": incoming.patient_age_years,
            "modalities": incoming.modality,
            "last_instance_at": now,
        },
    )
    if created:
        study_event_on_commit(event="received", study_uid=study.study_uid, status=study.status)
        return study
    if study.patient_id != patient.pk:
        raise IngestRefused(
            StoreStatus.CONFLICTING_INSTANCE,
            f"study {incoming.study_uid} belongs to another patient",
        )
    _touch_study(study, incoming, now)
    return study


def _touch_study(study: Study, incoming: IncomingInstance, now: dt.datetime) -> None:
    """Restart the study's settle clock (and add a new modality)."""
    modalities = set(filter(None, study.modalities.split("\\")))
    if incoming.modality and incoming.modality not in modalities:
        Study.objects.filter(pk=study.pk).update(
            modalities="\\".join(sorted(modalities | {incoming.modality}))[:64],
            last_instance_at=now,
        )
        return
    # The settle clock needs the last arrival only to within this much; skipping closer
    # updates keeps parallel associations of one study from queueing on its row lock.
    stale = now - TOUCH_GRANULARITY
    if study.last_instance_at < stale:
        Study.objects.filter(pk=study.pk, last_instance_at__lt=stale).update(last_instance_at=now)


def _context_for(incoming: IncomingInstance, study: Study) -> None:
    context, created = ClinicalContext.objects.get_or_create(
        study=study,
        defaults={
            "age_years": incoming.patient_age_years,
            "sex": incoming.patient_sex,
            "indication": incoming.indication,
            "history": incoming.history,
            "source": "dicom",
        },
    )
    if created or context.source != "dicom":
        return
    # Later instances may carry what the first lacked; never overwrite what is there.
    updates = {
        field: value
        for field, value in (
            ("age_years", incoming.patient_age_years),
            ("sex", incoming.patient_sex),
            ("indication", incoming.indication),
            ("history", incoming.history),
        )
        if value not in (None, "") and getattr(context, field) in (None, "")
    }
    if updates:
        ClinicalContext.objects.filter(pk=context.pk).update(**updates)


def instance_register(
    *, incoming: IncomingInstance, stored: StoredFile, calling_ae_title: str
) -> InstanceRegistration:
    """Record a stored instance (and its patient, study, series) in one transaction.

    Re-sends are idempotent: one row per SOP Instance UID. When the same instance arrives in
    another encoding, the highest-fidelity copy is kept (see ``fidelity``: a lossless
    re-send replaces a lossy one; an equal or lower one changes nothing). Raises ``IngestRefused``
    (``CONFLICTING_INSTANCE``) when the UID is already stored for another study or series.
    """
    now = timezone.now()
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _register_once(incoming, stored, calling_ae_title, now)
        except IntegrityError:
            # Another association inserted the same patient/study/series/instance between
            # our read and our insert; the retry reads the winner's row.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _register_once(
    incoming: IncomingInstance, stored: StoredFile, calling_ae_title: str, now: dt.datetime
) -> InstanceRegistration:
    series = (
        Series.objects.select_related("study__patient")
        .filter(series_uid=incoming.series_uid)
        .first()
    )
    if series is None:
        # First instance of its series: make sure patient, study and context exist.
        patient = _patient_for(incoming)
        study = _study_for(incoming, patient, now)
        series, _ = Series.objects.get_or_create(
            series_uid=incoming.series_uid,
            defaults={
                "study": study,
                "modality": incoming.modality,
                "series_number": incoming.series_number,
                "description": incoming.series_description,
                "body_part": incoming.body_part,
            },
        )
        _context_for(incoming, study)
    else:
        # The common case, later instances of a known series: no patient/study look-ups.
        study = series.study
        owner = (study.patient.patient_id, study.patient.issuer)
        if owner != (incoming.patient_id, incoming.issuer_of_patient_id):
            raise IngestRefused(
                StoreStatus.CONFLICTING_INSTANCE,
                f"series {incoming.series_uid} belongs to another patient",
            )
        _touch_study(study, incoming, now)
    if series.study_id != study.pk or study.study_uid != incoming.study_uid:
        raise IngestRefused(
            StoreStatus.CONFLICTING_INSTANCE,
            f"series {incoming.series_uid} belongs to another study",
        )

    existing = Instance.objects.select_for_update().filter(sop_uid=incoming.sop_uid).first()
    file_fields = {
        "sha256": stored.sha256,
        "storage_path": stored.relative_path,
        "size_bytes": stored.size_bytes,
        "transfer_syntax_uid": incoming.transfer_syntax_uid,
        "lossy": incoming.lossy,
    }
    if existing is None:
        Instance.objects.create(
            sop_uid=incoming.sop_uid,
            series=series,
            sop_class_uid=incoming.sop_class_uid,
            instance_number=incoming.instance_number,
            rows=incoming.rows,
            columns=incoming.columns,
            bits_stored=incoming.bits_stored,
            photometric_interpretation=incoming.photometric_interpretation,
            view_position=incoming.view_position,
            image_laterality=incoming.image_laterality,
            burned_in_annotation=incoming.burned_in_annotation,
            calling_ae_title=calling_ae_title,
            **file_fields,
        )
        return InstanceRegistration(incoming.sop_uid, incoming.study_uid, True, False)
    if existing.series_id != series.pk:
        raise IngestRefused(
            StoreStatus.CONFLICTING_INSTANCE,
            f"instance {incoming.sop_uid} is already stored in another series",
        )
    if existing.sha256 != stored.sha256 and fidelity(
        incoming.transfer_syntax_uid, incoming.lossy
    ) > fidelity(existing.transfer_syntax_uid, existing.lossy):
        Instance.objects.filter(pk=existing.pk).update(**file_fields)
        logger.info("instance %s: higher-fidelity copy replaces the stored one", incoming.sop_uid)
        return InstanceRegistration(incoming.sop_uid, incoming.study_uid, False, True)
    return InstanceRegistration(incoming.sop_uid, incoming.study_uid, False, False)


def instance_ingest(
    *,
    dataset: Dataset,
    dataset_bytes: bytes,
    preamble_and_meta: bytes,
    transfer_syntax_uid: str,
    affected_sop_class_uid: str,
    affected_sop_uid: str,
    source: str,
    storage_dir: Path | None = None,
) -> InstanceRegistration:
    """Validate, store durably, then record one received instance (C-STORE or upload).

    ``dataset`` is the decoded form of ``dataset_bytes`` (the bytes as received, after the
    File Meta Information); ``source`` is the calling AE title or ``"upload:<user>"``.
    Raises ``IngestRefused`` (with its DIMSE status), ``StorageError`` or ``DatabaseError``;
    when it returns, the file is fsynced and its row committed.
    """
    incoming = parse_incoming(
        dataset,
        transfer_syntax_uid=transfer_syntax_uid,
        affected_sop_class_uid=affected_sop_class_uid,
        affected_sop_uid=affected_sop_uid,
    )
    stored = store_part10(
        storage_dir or settings.DICOM_STORAGE_DIR,
        preamble_and_meta=preamble_and_meta,
        dataset_bytes=dataset_bytes,
    )
    return instance_register(incoming=incoming, stored=stored, calling_ae_title=source[:16])


def study_complete(
    *, study_uid: str, reason: str, requested_by: User | None = None
) -> DraftJob | None:
    """Mark a study complete and create its one drafting job (for the configured model).

    Safe to call any number of times, from any process: the unique constraint on
    (study, model version) makes a second job impossible. Returns the study's job, or
    ``None`` when nothing in the study is a radiograph to draft. Raises
    ``Study.DoesNotExist``.
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(study_uid=study_uid)
        if study.completed_at is None:
            study.completed_at = timezone.now()
        draftable = Series.objects.filter(
            study=study, modality__in=DRAFTABLE_MODALITIES, instances__isnull=False
        ).exists()
        if not draftable:
            if study.status == StudyStatus.RECEIVING:
                study.status = StudyStatus.NOT_DRAFTED
            study.save(update_fields=["completed_at", "status"])
            return None
        job, created = DraftJob.objects.get_or_create(
            study=study,
            model_version=draft_model_version(),
            defaults={"reason": reason, "requested_by": requested_by},
        )
        if study.status in (StudyStatus.RECEIVING, StudyStatus.NOT_DRAFTED):
            study.status = StudyStatus.WAITING_FOR_AI
        study.save(update_fields=["completed_at", "status"])
        study_event_on_commit(event="completed", study_uid=study_uid, status=study.status)
        if created:
            job_id = job.pk
            transaction.on_commit(lambda: draft_job_dispatch(job_id=job_id))
            logger.info("study %s complete (%s): drafting job %s", study_uid, reason, job_id)
        return job


def draft_job_dispatch(*, job_id: int) -> bool:
    """Hand a PENDING job to the broker; returns whether it was sent.

    A broker outage leaves the job PENDING for the sweeper to re-send; the task itself is
    idempotent, so a job sent twice still yields one draft.
    """
    from inference.tasks import draft_study

    try:
        draft_study.apply_async(args=(job_id,), queue=settings.DRAFT_QUEUE)
    except Exception as exc:  # kombu raises transport-specific errors when Redis is down
        logger.warning("drafting job %s not sent, will retry: %s", job_id, exc)
        return False
    DraftJob.objects.filter(pk=job_id, state=DraftJobState.PENDING).update(
        state=DraftJobState.QUEUED, sent_at=timezone.now()
    )
    return True


def study_settle_sweep(*, now: dt.datetime | None = None) -> int:
    """Complete every study idle for ``STUDY_SETTLE_SECONDS``; re-send unsent jobs.

    Run periodically by the SCP process (several may run it at once: rows are claimed with
    ``SKIP LOCKED``). Returns how many studies were completed.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.STUDY_SETTLE_SECONDS)
    completed = 0
    with transaction.atomic():
        settled = list(
            Study.objects.select_for_update(skip_locked=True)
            .filter(completed_at__isnull=True, last_instance_at__lte=cutoff)
            .values_list("study_uid", flat=True)[:100]
        )
        for study_uid in settled:
            study_complete(study_uid=study_uid, reason="settled")
            completed += 1
    # The outbox: jobs the broker never took, and jobs whose message or worker was lost
    # (a Redis restart without persistence, a killed worker); the task is idempotent.
    lost = now - dt.timedelta(seconds=settings.DRAFT_RUNNING_GRACE_SECONDS)
    stale = DraftJob.objects.filter(
        Q(state=DraftJobState.PENDING, created_at__lte=now - OUTBOX_RESEND_AFTER)
        | Q(state=DraftJobState.QUEUED, sent_at__lte=lost)
        | Q(state=DraftJobState.RUNNING, started_at__lte=lost)
    ).values_list("pk", flat=True)[:100]
    for job_id in stale:
        draft_job_dispatch(job_id=job_id)
    DraftJob.objects.filter(pk__in=list(stale), state=DraftJobState.QUEUED).update(sent_at=now)
    return completed
