"""Study completion: exactly one drafting job per study, handed to a real Celery worker."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from tests.conftest import LiveScp, wait_for
from tests.factories import cr_dataset, write
from workstation.dicom.scu import send_files
from workstation.studies.models import DraftJob, DraftJobState, Study, StudyStatus
from workstation.studies.services import study_complete, study_settle_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def _receive_study(scp: LiveScp, tmp_path: Path, count: int = 3) -> str:
    study_uid = generate_uid()
    paths = [
        write(cr_dataset(seed=i, study_uid=study_uid), tmp_path / f"{i}.dcm") for i in range(count)
    ]
    results = send_files(paths, host=scp.host, port=scp.port, called_ae_title=scp.ae_title)
    assert [r.status for r in results] == [0] * count
    return study_uid


def test_it_does_not_complete_a_study_before_it_settles(
    live_scp: LiveScp, tmp_path: Path, settings: object
) -> None:
    settings.STUDY_SETTLE_SECONDS = 60  # type: ignore[attr-defined]
    study_uid = _receive_study(live_scp, tmp_path)

    assert study_settle_sweep() == 0
    assert Study.objects.get(study_uid=study_uid).status == StudyStatus.RECEIVING
    assert DraftJob.objects.count() == 0


def test_it_queues_exactly_one_job_when_a_settled_study_is_swept_repeatedly(
    live_scp: LiveScp, tmp_path: Path, celery_worker: object
) -> None:
    study_uid = _receive_study(live_scp, tmp_path)
    later = timezone.now() + dt.timedelta(seconds=5)

    completed = [study_settle_sweep(now=later) for _ in range(3)]
    study_complete(study_uid=study_uid, reason="explicit")

    assert completed == [1, 0, 0]
    assert DraftJob.objects.filter(study__study_uid=study_uid).count() == 1
    assert wait_for(
        lambda: DraftJob.objects.get(study__study_uid=study_uid).state == DraftJobState.FAILED,
        timeout=15.0,
    )
    job = DraftJob.objects.get(study__study_uid=study_uid)
    assert job.attempts == 1
    # No model is installed in the test settings: the job says so, and does not retry.
    assert job.error.startswith("model not loaded:") and "missing config.json" in job.error
    assert Study.objects.get(study_uid=study_uid).status == StudyStatus.DRAFT_FAILED


def test_a_redelivered_task_does_not_run_the_job_twice(
    live_scp: LiveScp, tmp_path: Path, celery_worker: object
) -> None:
    from inference.tasks import draft_study

    study_uid = _receive_study(live_scp, tmp_path, count=1)
    job = study_complete(study_uid=study_uid, reason="explicit")
    assert job is not None
    assert wait_for(
        lambda: DraftJob.objects.get(pk=job.pk).state == DraftJobState.FAILED, timeout=15.0
    )

    draft_study.apply_async(args=(job.pk,), queue=settings.DRAFT_QUEUE)  # as a redelivery would
    time.sleep(0.5)

    job.refresh_from_db()
    assert job.attempts == 1


def test_the_complete_endpoint_queues_one_job_and_answers_202(
    live_scp: LiveScp, tmp_path: Path, reader: object
) -> None:
    study_uid = _receive_study(live_scp, tmp_path, count=1)
    client = APIClient()
    client.force_authenticate(reader)

    first = client.post(f"/api/v1/studies/{study_uid}/complete")
    second = client.post(f"/api/v1/studies/{study_uid}/complete")

    assert first.status_code == second.status_code == 202
    assert first.json()["drafting_job"] == second.json()["drafting_job"]
    assert DraftJob.objects.count() == 1


def test_the_complete_endpoint_answers_404_for_an_unknown_study(reader: object) -> None:
    client = APIClient()
    client.force_authenticate(reader)

    response = client.post("/api/v1/studies/1.2.3.4/complete")

    assert response.status_code == 404
    assert "no study" in response.json()["detail"]


def test_the_complete_endpoint_refuses_a_clinician(clinician: object) -> None:
    client = APIClient()
    client.force_authenticate(clinician)

    assert client.post("/api/v1/studies/1.2.3/complete").status_code == 403


def test_the_sweeper_resends_a_job_the_broker_never_took(
    live_scp: LiveScp, tmp_path: Path, celery_worker: object
) -> None:
    study_uid = _receive_study(live_scp, tmp_path, count=1)
    study = Study.objects.get(study_uid=study_uid)
    study.completed_at = timezone.now()
    study.save()
    job = DraftJob.objects.create(study=study, model_version="unassigned")  # left PENDING

    study_settle_sweep(now=timezone.now() + dt.timedelta(seconds=30))

    assert wait_for(
        lambda: DraftJob.objects.get(pk=job.pk).state == DraftJobState.FAILED, timeout=15.0
    )
