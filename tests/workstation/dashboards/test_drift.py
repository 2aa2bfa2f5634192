"""Image drift end to end: studies stored as DICOM, embedded by the reference model's vision
encoder, compared with the reference set stored with the model version; label drift from
the drafts' findings; ``manage.py compute_drift`` records a run."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from inference.preprocess import prepare_image
from tests.factories import cr_dataset
from tests.workstation.dashboards.films import film, store_film
from tests.workstation.dashboards.history import AiFinding, Case, build
from workstation.dashboards.drift import (
    drift_compute,
    drift_reference_ensure,
    drift_reference_store,
    image_embeddings,
)
from workstation.dashboards.models import DriftReference, DriftRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

VERSION = "reference-tiny:test-1"


def _recent_studies(storage_dir: Path, *, exposure: float, seed: int, count: int = 16) -> None:
    rng = np.random.default_rng(seed)
    now = timezone.now()
    for i in range(count):
        study = build(
            Case(
                received=now - dt.timedelta(hours=i + 1),
                draft_after_s=30,
                findings=[AiFinding("Lung Lesion", 0.8)] if i % 2 else [],
                model_version=VERSION,
            )
        )
        store_film(study, film(rng, exposure=exposure), storage_dir)


@pytest.fixture
def reference(encoder_dir: Path, settings: Any, tmp_path: Path) -> Path:
    """The tiny model's reference: 80 films at the usual exposure, embedded and stored."""
    settings.DRIFT_DIR = tmp_path / "drift"
    settings.DRIFT_PERMUTATIONS = 200
    settings.DRIFT_FALSE_ALARM_RATE = 0.05
    rng = np.random.default_rng(100)
    images = []
    for _ in range(80):
        ds = cr_dataset(rows=64, columns=64)
        ds.PixelData = film(rng, exposure=1.0).tobytes()
        images.append(prepare_image(ds, size=64))
    drift_reference_store(
        model_version=VERSION,
        embeddings=image_embeddings(encoder_dir, images),
        source="80 synthetic films",
    )
    return encoder_dir


def test_it_does_not_alarm_on_studies_from_the_reference_distribution(
    reference: Path, storage_dir: Path
) -> None:
    _recent_studies(storage_dir, exposure=1.0, seed=1)
    run = drift_compute(model_version=VERSION, model_dir=reference)
    assert run.recent_count == 16
    assert run.mmd2 is not None and run.mmd_threshold is not None
    assert not run.embedding_alarm, (run.mmd2, run.mmd_threshold)
    assert run.false_alarm_rate == 0.05 and run.permutations == 200


def test_it_alarms_on_studies_with_a_different_exposure(reference: Path, storage_dir: Path) -> None:
    _recent_studies(storage_dir, exposure=0.5, seed=2)
    run = drift_compute(model_version=VERSION, model_dir=reference)
    assert run.embedding_alarm, (run.mmd2, run.mmd_threshold)
    assert run.mmd_p_value is not None and run.mmd_p_value < 0.05


def test_it_records_label_drift_against_the_previous_30_days(
    reference: Path, storage_dir: Path
) -> None:
    _recent_studies(storage_dir, exposure=1.0, seed=3)  # half detect a lesion
    now = timezone.now()
    for i in range(16):  # the baseline month: nothing detected
        build(
            Case(
                received=now - dt.timedelta(days=10 + i),
                draft_after_s=30,
                model_version=VERSION,
            )
        )
    run = drift_compute(model_version=VERSION, model_dir=reference, now=now)
    assert run.label_counts["recent"] == {
        "drafts": 16,
        "labels": {"Lung Lesion": 8, "(none detected)": 8},
    }
    assert run.label_counts["baseline"] == {"drafts": 16, "labels": {"(none detected)": 16}}
    # [[8, 8], [0, 16]]: chi2 = 32 * (8*16 - 8*0)^2 / (16 * 16 * 8 * 24) = 10.667
    assert run.label_chi2 == pytest.approx(32 / 3)
    assert run.label_alarm


def test_the_command_records_a_run_and_says_why_a_part_is_missing(
    encoder_dir: Path, settings: Any, tmp_path: Path
) -> None:
    settings.DRAFT_MODEL_DIR = encoder_dir
    settings.DRAFT_MODEL_VERSION = ""
    settings.DRIFT_DIR = tmp_path / "drift"
    out = StringIO()
    call_command("compute_drift", stdout=out)
    run = DriftRun.objects.get()
    assert run.model_version == VERSION
    assert "no drift reference" in run.note
    assert "no drift reference" in out.getvalue()


def test_the_command_makes_a_reference_from_phantoms(
    encoder_dir: Path, settings: Any, tmp_path: Path
) -> None:
    settings.DRAFT_MODEL_DIR = encoder_dir
    settings.DRAFT_MODEL_VERSION = ""
    settings.DRIFT_DIR = tmp_path / "drift"
    out = StringIO()
    call_command("compute_drift", "--reference-phantoms", "12", stdout=out)
    reference = DriftReference.objects.get(model_version=VERSION)
    assert (reference.count, reference.source) == (12, "12 generated phantoms (seeds 0..11)")
    assert Path(reference.embeddings_path).is_file()
    run = DriftRun.objects.get()
    assert run.reference == reference and not run.embedding_alarm
    assert "image drift not computed" in run.note  # no recent studies to compare yet


def test_a_phantom_trained_serving_model_gets_a_phantom_reference_once(
    encoder_dir: Path, settings: Any, tmp_path: Path
) -> None:
    import json
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(encoder_dir, model_dir)
    card = json.loads((model_dir / "model_card.json").read_text())
    card["training_data"] = "procedurally generated phantom chest radiographs"
    (model_dir / "model_card.json").write_text(json.dumps(card))
    settings.DRAFT_MODEL_DIR = model_dir
    settings.DRAFT_MODEL_VERSION = ""
    settings.DRIFT_DIR = tmp_path / "drift"

    made = drift_reference_ensure(phantoms=10)
    again = drift_reference_ensure(phantoms=30)

    assert isinstance(made, DriftReference) and made.count == 10
    assert isinstance(again, DriftReference) and again.pk == made.pk and again.count == 10


def test_a_model_trained_on_patient_images_is_told_to_use_its_own_studies(
    encoder_dir: Path, settings: Any, tmp_path: Path
) -> None:
    settings.DRAFT_MODEL_DIR = encoder_dir  # its card names no phantoms
    settings.DRAFT_MODEL_VERSION = ""
    settings.DRIFT_DIR = tmp_path / "drift"

    result = drift_reference_ensure(phantoms=10)

    assert isinstance(result, str) and "--reference-days" in result
    assert not DriftReference.objects.exists()
