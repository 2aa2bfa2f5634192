"""inference.backends.reference: drafting a study with the tiny model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from inference.backends.base import Backend, ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.reference import ReferenceBackend, sentences_from_text
from inference.labels import Label
from inference.models.checkpoint import ModelCard
from inference.preprocess import prepare_image
from inference.types import ClinicalContext, PreparedImage
from tests.factories import cr_dataset
from tests.inference.models.synthetic import LESION, chest, trained_tiny, with_disc


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> ReferenceBackend:
    directory = tmp_path_factory.mktemp("reference-tiny")
    card = ModelCard(name="reference-tiny", version="0.1-test", training_data="synthetic discs")
    trained_tiny().model.save_pretrained(directory, card)
    return ReferenceBackend(directory, "cpu", num_beams=4, max_new_tokens=24)


def _lesion_study(seed: int) -> StudyInput:
    rng = np.random.default_rng(seed)
    image, _ = with_disc(chest(rng), rng)
    prepared = PreparedImage(image, (64, 64), 1.0, (0, 0), sop_uid=f"1.2.{seed}")
    context = ClinicalContext(age_years=60, sex="F", indication="cough")
    return StudyInput(study_uid=f"1.2.3.{seed}", images=(prepared,), context=context)


def test_it_implements_the_backend_protocol(backend: ReferenceBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "reference" and backend.version == "0.1-test"


def test_it_drafts_a_lesion_study_with_evidence(backend: ReferenceBackend) -> None:
    backend.predict(_lesion_study(200))  # warm-up
    started = time.perf_counter()
    draft = backend.predict(_lesion_study(201))
    elapsed = time.perf_counter() - started
    print(f"reference tiny predict on CPU: {elapsed * 1000:.0f} ms, stages {draft.timings_ms}")
    assert draft.model_name == "reference-tiny" and draft.model_version == "0.1-test"
    assert set(draft.timings_ms) == {"preprocess", "detect", "explain", "generate"}
    lesion = next(f for f in draft.findings if f.label is LESION)
    assert 0.5 <= lesion.confidence <= 1.0 and lesion.is_critical
    assert lesion.severity is not None and lesion.box is not None
    assert lesion.heatmap is not None and lesion.heatmap.shape == (64, 64)
    assert lesion.context_contribution is not None
    assert all(f.label is not Label.NO_FINDING for f in draft.findings)


def test_it_drafts_a_batch_and_honours_the_confidence_threshold(backend: ReferenceBackend) -> None:
    studies = [_lesion_study(300), _lesion_study(301)]
    strict = [
        StudyInput(s.study_uid, s.images, s.context, confidence_threshold=1.01) for s in studies
    ]
    drafts = backend.predict_batch(strict)
    assert len(drafts) == 2 and all(d.findings == () for d in drafts)


def test_it_accepts_images_prepared_at_another_size(backend: ReferenceBackend) -> None:
    prepared = prepare_image(cr_dataset(rows=96, columns=128), size=256)
    draft = backend.predict(StudyInput("1.2.9", (prepared,)))
    for finding in draft.findings:
        assert finding.heatmap is not None and finding.heatmap.shape == (96, 128)


def test_it_raises_no_frontal_image_for_a_study_without_images(backend: ReferenceBackend) -> None:
    with pytest.raises(NoFrontalImage):
        backend.predict(StudyInput("1.2.10", ()))


def test_it_raises_model_not_loaded_for_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotLoaded, match=r"missing config\.json"):
        ReferenceBackend(tmp_path, "cpu")


def test_it_labels_generated_sentences_for_provenance() -> None:
    sentences = sentences_from_text(
        "FINDINGS: There is a nodule in the right lung. The heart is normal. "
        "IMPRESSION: Lung nodule."
    )
    assert [(s.section, s.label) for s in sentences] == [
        ("findings", Label.LUNG_LESION),
        ("findings", None),
        ("impression", Label.LUNG_LESION),
    ]
    assert all(s.source == "generated" for s in sentences)
