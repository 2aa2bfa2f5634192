from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference.labels import Label, Mention
from inference.sentence_bank import (
    NormalRegion,
    SentenceBank,
    classify,
    normalise,
    report_sentences,
)
from inference.types import Laterality
from tests.inference.drafting.conftest import HashingEncoder

REPORTS = [
    (
        "a1",
        "FINDINGS: The lungs are clear. No pneumothorax or pleural effusion. "
        "Heart size is normal. IMPRESSION: No acute cardiopulmonary abnormality.",
    ),
    (
        "a2",
        "FINDINGS: the lungs are clear. Small left pleural effusion. XXXX XXXX are normal. "
        "IMPRESSION: 1. Small left pleural effusion. RECOMMENDATION: CT chest.",
    ),
    ("a3", "Moderate cardiomegaly, unchanged since the prior study. Discussed with Dr. Smith."),
]


class RefusingEncoder(HashingEncoder):
    """Same name as the hashing encoder, but fails if asked to embed: proves a cache hit."""

    def encode(self, texts):  # type: ignore[no-untyped-def]
        raise AssertionError("embedded again instead of reading the cache")


def test_it_splits_reports_into_bankable_sentences() -> None:
    sentences = report_sentences(REPORTS[1][1])
    assert sentences == [
        ("findings", "The lungs are clear."),
        ("findings", "Small left pleural effusion."),
        ("impression", "Small left pleural effusion."),
    ]
    assert report_sentences(REPORTS[2][1]) == [
        ("findings", "Moderate cardiomegaly, unchanged since the prior study.")
    ]


def test_it_deduplicates_and_counts_with_the_first_source() -> None:
    bank = SentenceBank.from_texts(REPORTS, "dept", encoder=HashingEncoder())
    texts = [normalise(s.text) for s in bank.sentences]
    assert len(texts) == len(set(texts))
    clear = next(s for s in bank.sentences if normalise(s.text) == "the lungs are clear")
    assert (clear.source, clear.count) == ("dept:a1", 2)
    assert bank.embeddings.shape == (len(bank), HashingEncoder.dimension)
    assert np.allclose(np.linalg.norm(bank.embeddings, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        ("The lungs are clear.", {NormalRegion.LUNGS}),
        (
            "No pneumothorax or pleural effusion.",
            {NormalRegion.PNEUMOTHORAX, NormalRegion.PLEURAL_EFFUSION},
        ),
        ("Heart size is normal.", {NormalRegion.HEART}),
        ("The mediastinum is unremarkable.", {NormalRegion.MEDIASTINUM}),
        ("Bony structures are intact.", {NormalRegion.BONES}),
        ("No acute bony abnormality.", {NormalRegion.BONES}),
        ("No acute cardiopulmonary abnormality.", {NormalRegion.STUDY}),
        ("Small left pleural effusion.", set()),
        ("No effusion but mild cardiomegaly.", set()),
        ("Degenerative changes of the spine, no pneumothorax.", set()),
    ],
)
def test_it_classifies_normal_region_statements(text: str, regions: set[NormalRegion]) -> None:
    assert set(classify(text, "t:1", "findings").regions) == regions


def test_it_records_labels_sides_and_comparisons() -> None:
    sentence = classify("Small left pleural effusion, unchanged.", "t:1", "findings")
    assert sentence.mention_of(Label.PLEURAL_EFFUSION) is Mention.POSITIVE
    assert sentence.sides == (Laterality.LEFT,)
    assert sentence.refers_to_prior
    both = classify("Bibasilar atelectasis, right greater than left.", "t:1", "findings")
    assert set(both.sides) == {Laterality.LEFT, Laterality.RIGHT, Laterality.BILATERAL}
    assert not both.refers_to_prior


def test_it_saves_and_loads_through_a_content_keyed_cache(tmp_path: Path) -> None:
    built = SentenceBank.from_texts(REPORTS, "dept", encoder=HashingEncoder(), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("sentence-bank-*.json"))) == 1
    cached = SentenceBank.from_texts(REPORTS, "dept", encoder=RefusingEncoder(), cache_dir=tmp_path)
    assert cached.sentences == built.sentences
    assert np.array_equal(cached.embeddings, built.embeddings)
    SentenceBank.from_texts(REPORTS[:2], "dept", encoder=HashingEncoder(), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("sentence-bank-*.json"))) == 2


def test_it_refuses_a_cache_file_that_does_not_match_its_sentences(tmp_path: Path) -> None:
    bank = SentenceBank.from_texts(REPORTS, "dept", encoder=HashingEncoder())
    bank.save(tmp_path / "bank")
    json_path = tmp_path / "bank.json"
    json_path.write_text(json_path.read_text().replace("clear", "opaque", 1))
    with pytest.raises(ValueError, match="content hash"):
        SentenceBank.load(tmp_path / "bank")


def test_it_merges_department_reports_into_the_bank() -> None:
    encoder = HashingEncoder()
    base = SentenceBank.from_texts(REPORTS[:1], "iu-xray", encoder=encoder)
    extra = SentenceBank.from_texts(REPORTS[1:], "dept", encoder=encoder)
    merged = base.merged(extra)
    assert len(merged) == len(base) + len(extra) - 1  # "the lungs are clear" is shared
    assert merged.embeddings.shape[0] == len(merged)
    clear = next(s for s in merged.sentences if normalise(s.text) == "the lungs are clear")
    assert (clear.source, clear.count) == ("iu-xray:a1", 2)
    assert any(s.source == "dept:a3" for s in merged.sentences)


def test_the_drafting_core_imports_no_django_and_loads_no_model_on_import() -> None:
    code = (
        "import sys; import inference.sentence_bank, inference.drafting.retrieval, "
        "inference.qa, inference.triage; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'workstation', 'reports', 'sentence_transformers', 'torch'}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
