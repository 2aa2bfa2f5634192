"""inference.backends.retrieval: the tiny model's findings written up from a small IU bank.

The bank holds the sentences of a few dozen real IU X-ray reports embedded with the drafting
tests' hashing stand-in encoder (MiniLM itself is tested in ``tests/inference/drafting``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from inference.backends.base import Backend, ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.retrieval import RetrievalBackend
from inference.iu_reports import IUReportsUnavailable, load_iu_reports, mesh_to_labels
from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.models.checkpoint import ModelCard
from inference.registry import BACKENDS
from inference.sentence_bank import IU_SOURCE_PREFIX, SentenceBank
from inference.types import ClinicalContext, PreparedImage
from tests.inference.drafting.conftest import HashingEncoder
from tests.inference.models.synthetic import LESION, chest, trained_tiny, with_disc

REPORTS_PER_LABEL = 3
NORMAL_REPORTS = 8
CONTEXT = ClinicalContext(age_years=60, sex="F", indication="cough")


@pytest.fixture(scope="module")
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="module")
def bank(encoder: HashingEncoder) -> SentenceBank:
    """Real IU sentences: a few reports per CheXpert finding (by MeSH) and a few normals."""
    try:
        reports = load_iu_reports()
    except IUReportsUnavailable:
        pytest.skip("torchxrayvision (the IU X-ray reports) is not installed")
    chosen, taken = [], dict[Label, int]()
    for report in reports:
        labels = mesh_to_labels(report.mesh_major)
        limit = {Label.NO_FINDING: NORMAL_REPORTS}
        if any(taken.get(lab, 0) < limit.get(lab, REPORTS_PER_LABEL) for lab in labels):
            chosen.append(report)
            for lab in labels:
                taken[lab] = taken.get(lab, 0) + 1
    return SentenceBank.from_iu_reports(chosen, encoder=encoder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("retrieval-tiny")
    card = ModelCard(name="reference-tiny", version="0.1-test", training_data="synthetic discs")
    trained_tiny().model.save_pretrained(directory, card)
    return directory


@pytest.fixture(scope="module")
def backend(model_dir: Path, bank: SentenceBank, encoder: HashingEncoder) -> RetrievalBackend:
    return RetrievalBackend(model_dir, "cpu", bank=bank, encoder=encoder)


def _study(seed: int, *, lesion: bool) -> StudyInput:
    rng = np.random.default_rng(seed)
    image = with_disc(chest(rng), rng)[0] if lesion else chest(rng)
    prepared = PreparedImage(image, (64, 64), 1.0, (0, 0), sop_uid=f"1.2.{seed}")
    return StudyInput(study_uid=f"1.2.3.{seed}", images=(prepared,), context=CONTEXT)


def test_it_implements_the_backend_protocol(backend: RetrievalBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "retrieval"
    assert backend.version == "0.1-test+retrieval"
    assert backend.model_name == "reference-tiny"
    assert backend.image_size == 64


def test_it_is_registered_under_its_name() -> None:
    entry = BACKENDS["retrieval"]
    module_name, class_name = entry.import_path.split(":")
    assert getattr(importlib.import_module(module_name), class_name) is RetrievalBackend


def test_it_states_a_detected_lesion_in_a_bank_sentence_with_evidence(
    backend: RetrievalBackend,
) -> None:
    draft = backend.predict(_study(201, lesion=True))
    assert draft.model_version == "0.1-test+retrieval"
    assert set(draft.timings_ms) == {"preprocess", "detect", "explain", "compose"}
    lesion = next(f for f in draft.findings if f.label is LESION)
    assert lesion.is_critical and lesion.box is not None and lesion.heatmap is not None
    stated = [s for s in draft.sentences if s.section == "findings" and s.label is LESION]
    assert len(stated) == 1
    assert stated[0].source.startswith((f"{IU_SOURCE_PREFIX}:", "rule:")), stated[0]
    assert label_report(stated[0].text).get(LESION) is Mention.POSITIVE
    for sentence in draft.sentences:
        assert sentence.source.startswith((f"{IU_SOURCE_PREFIX}:", "rule:")), sentence


def test_it_drafts_a_normal_study_with_normal_statements_only(backend: RetrievalBackend) -> None:
    draft = backend.predict(_study(202, lesion=False))
    assert draft.findings == ()
    assert draft.sentences and all(s.label is None for s in draft.sentences)
    assert draft.recommendations == ""
    assert draft.impression.lower().startswith("no acute")
    reading = label_report(" ".join(s.text for s in draft.sentences))
    assert all(
        m is not Mention.POSITIVE for lab, m in reading.items() if lab is not Label.NO_FINDING
    )


@pytest.mark.parametrize("seed", [301, 302, 303, 304])
def test_its_text_never_contradicts_the_findings(backend: RetrievalBackend, seed: int) -> None:
    draft = backend.predict(_study(seed, lesion=seed % 2 == 1))
    reading = label_report(f"{draft.findings_text} {draft.impression} {draft.recommendations}")
    present = {f.label for f in draft.findings}
    for label, mention in reading.items():
        if label is Label.NO_FINDING:
            continue
        if label in present:
            assert mention is not Mention.NEGATIVE, (label, draft.sentences)
        else:
            assert mention is not Mention.POSITIVE, (label, draft.sentences)
    for label in present:
        assert reading.get(label) is Mention.POSITIVE, (label, draft.sentences)


def test_it_drafts_the_same_text_for_the_same_study_alone_or_in_a_batch(
    backend: RetrievalBackend,
) -> None:
    studies = [_study(401, lesion=True), _study(402, lesion=False), _study(403, lesion=True)]
    batch = backend.predict_batch(studies)
    again = backend.predict_batch(studies)
    alone = [backend.predict(study) for study in studies]
    assert len(batch) == 3
    for drafts in (again, alone):
        assert [d.sentences for d in drafts] == [d.sentences for d in batch]
        assert [[f.label for f in d.findings] for d in drafts] == [
            [f.label for f in d.findings] for d in batch
        ]


def test_it_follows_the_report_template(backend: RetrievalBackend) -> None:
    study = _study(501, lesion=True)
    templated = StudyInput(study.study_uid, study.images, study.context, "IMPRESSION:")
    draft = backend.predict(templated)
    assert draft.sentences and {s.section for s in draft.sentences} == {"impression"}


def test_it_raises_no_frontal_image_for_a_study_without_images(backend: RetrievalBackend) -> None:
    with pytest.raises(NoFrontalImage):
        backend.predict(StudyInput("1.2.10", ()))


def test_it_loads_the_iu_bank_from_the_model_directory_by_default(
    model_dir: Path,
    bank: SentenceBank,
    encoder: HashingEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[Path] = []

    def load(cache_dir: Path, encoder: HashingEncoder | None = None) -> SentenceBank:
        asked.append(cache_dir)
        return bank

    monkeypatch.setattr("inference.backends.retrieval.load_iu_bank", load)
    RetrievalBackend(model_dir, "cpu", encoder=encoder)
    RetrievalBackend(model_dir, "cpu", encoder=encoder, bank_cache_dir=model_dir / "elsewhere")
    assert asked == [model_dir / "sentence-bank", model_dir / "elsewhere"]


def test_it_raises_model_not_loaded_without_the_iu_reports(
    model_dir: Path, encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(cache_dir: Path, encoder: HashingEncoder | None = None) -> SentenceBank:
        raise IUReportsUnavailable("torchxrayvision is not installed")

    monkeypatch.setattr("inference.backends.retrieval.load_iu_bank", unavailable)
    with pytest.raises(ModelNotLoaded, match="sentence bank"):
        RetrievalBackend(model_dir, "cpu", encoder=encoder)


def test_it_raises_model_not_loaded_for_an_empty_directory(
    tmp_path: Path, bank: SentenceBank, encoder: HashingEncoder
) -> None:
    with pytest.raises(ModelNotLoaded, match=r"missing config\.json"):
        RetrievalBackend(tmp_path, "cpu", bank=bank, encoder=encoder)
