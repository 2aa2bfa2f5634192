"""Fixtures of the drafting tests: a fast stand-in encoder and a small bank of real IU sentences.

The stand-in (:class:`HashingEncoder`) embeds hashed words and word pairs, so similar wording
scores high, like MiniLM but in microseconds; the MiniLM encoder itself is tested in
``test_encoder.py``. The bank holds the sentences of a few hundred real IU X-ray reports chosen
by their MeSH index (a few per finding, plus normal reports).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from inference.iu_reports import IUReportsUnavailable, load_iu_reports, mesh_to_labels
from inference.labels import Label
from inference.sentence_bank import SentenceBank

REPORTS_PER_LABEL = 12
NORMAL_REPORTS = 40


class HashingEncoder:
    """Words and word pairs hashed into 384 signed buckets, L2-normalised. Deterministic."""

    name = "test-hashing"
    dimension = 384

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for token in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, bucket] += 1.0 if digest[4] % 2 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out


def _limit(label: Label) -> int:
    return NORMAL_REPORTS if label is Label.NO_FINDING else REPORTS_PER_LABEL


@pytest.fixture(scope="session")
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="session")
def iu_bank(encoder: HashingEncoder) -> SentenceBank:
    """Sentences of real IU reports: up to 12 per CheXpert finding (by MeSH) and 40 normals."""
    try:
        reports = load_iu_reports()
    except IUReportsUnavailable:
        pytest.skip("torchxrayvision (the IU X-ray reports) is not installed")
    chosen = []
    taken: dict[Label, int] = {}
    for report in reports:
        labels = mesh_to_labels(report.mesh_major)
        if any(taken.get(lab, 0) < _limit(lab) for lab in labels):
            chosen.append(report)
            for lab in labels:
                taken[lab] = taken.get(lab, 0) + 1
    return SentenceBank.from_iu_reports(chosen, encoder=encoder)
