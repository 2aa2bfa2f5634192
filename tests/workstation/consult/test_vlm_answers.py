"""With DRAFT_BACKEND=hf the image-text model answers and the structured evidence is attached;
when it cannot answer, the structured answer stands and says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import cr_dataset, write
from tests.workstation.consult.factories import drafted_study
from workstation.studies.models import Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def hf_settings(settings: Any) -> Iterator[Any]:
    from inference import services

    settings.DRAFT_BACKEND = "hf"
    settings.DRAFT_DEVICE = "cpu"
    services._backend.cache_clear()
    yield settings
    services._backend.cache_clear()


def _study_with_image(reader: Any, tmp_path: Path, *, demonstration: bool = True) -> Any:
    client = APIClient()
    client.force_authenticate(reader)
    body = write(cr_dataset(rows=96, columns=96, seed=4), tmp_path / "chest.dcm").read_bytes()
    response = client.generic("POST", "/api/v1/instances", body, content_type="application/dicom")
    assert response.status_code in (200, 201), response.content
    study = Instance.objects.select_related("series__study").get().series.study
    return drafted_study(study=study, demonstration=demonstration)


def _ask(reader: Any, study: Any) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(reader)
    response = client.post(
        f"/api/v1/studies/{study.study_uid}/questions",
        {"question": "Is there a pleural effusion?"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


@pytest.mark.slow
def test_the_vlm_answers_and_the_same_evidence_is_attached(
    reader: Any, storage_dir: Path, tmp_path: Path, hf_settings: Any, monkeypatch: Any
) -> None:
    from tests.inference.backends.test_hf import save_tiny_llava

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_settings.DRAFT_MODEL_DIR = save_tiny_llava(tmp_path / "tiny-llava")
    study = _study_with_image(reader, tmp_path, demonstration=False)

    body = _ask(reader, study)

    # The seeded tiny model's greedy words, whatever they say, are the answer.
    assert body["answered_by"] == "vlm"
    assert body["model"].startswith("tiny-llava") and body["answer"]
    assert body["notice"] == "AI generated."
    evidence = [e for e in body["evidence"] if e["source"] == "ai_draft"]
    assert evidence[0]["bounding_box"] == [120, 340, 410, 620]


def test_without_a_loadable_model_the_structured_answer_says_why(
    reader: Any, storage_dir: Path, tmp_path: Path, hf_settings: Any
) -> None:
    hf_settings.DRAFT_MODEL_DIR = tmp_path / "no-model"
    study = _study_with_image(reader, tmp_path)

    body = _ask(reader, study)

    assert body["answered_by"] == "structured"
    assert body["answer"].startswith("Yes. The AI draft finds pleural effusion")
    assert "the image-text model did not answer (model not loaded" in body["notice"]
