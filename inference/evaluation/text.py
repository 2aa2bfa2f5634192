"""Natural-language metrics of drafts against reference reports: BLEU-1..4, ROUGE-L, CIDEr.

The figures are those of ``pycocoevalcap`` (the COCO caption toolkit every report-generation
paper uses), on this module's tokenisation: lower case, runs of letters and digits
(``rouge-score``'s rule; the toolkit's own PTB tokenizer needs Java). CIDEr is computed by
``pycocoevalcap`` itself. BLEU and ROUGE-L are computed here, from per-report statistics, so
that a bootstrap resample costs a sum instead of a rescoring; the tests check them against
``pycocoevalcap`` and ``rouge-score``. Imports no Django.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_TOKEN = re.compile(r"[a-z0-9]+")
#: pycocoevalcap's smoothing constants (bleu_scorer.py), kept so the figures match it.
_TINY, _SMALL = 1e-15, 1e-9
MAX_N = 4
#: ROUGE-L's recall weight: pycocoevalcap's 1.2, the report-generation convention.
ROUGE_BETA = 1.2


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens."""
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class BleuStats:
    """Per-report BLEU sufficient statistics (one reference per report).

    correct: (N, 4) clipped n-gram matches, n = 1..4. guess: (N, 4) candidate n-grams.
    candidate_len, reference_len: (N,) token counts.
    """

    correct: NDArray[np.float64]
    guess: NDArray[np.float64]
    candidate_len: NDArray[np.float64]
    reference_len: NDArray[np.float64]

    def corpus(self, indices: NDArray[np.intp] | None = None) -> list[float]:
        """Corpus BLEU-1..4 over ``indices`` (all reports by default), as pycocoevalcap."""
        pick = slice(None) if indices is None else indices
        correct = self.correct[pick].sum(axis=0)
        guess = self.guess[pick].sum(axis=0)
        test_len = float(self.candidate_len[pick].sum())
        ref_len = float(self.reference_len[pick].sum())
        ratio = (test_len + _TINY) / (ref_len + _SMALL)
        penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
        scores, product = [], 1.0
        for k in range(MAX_N):
            product *= (correct[k] + _TINY) / (guess[k] + _SMALL)
            scores.append(product ** (1 / (k + 1)) * penalty)
        return scores


def bleu_stats(candidates: Sequence[str], references: Sequence[str]) -> BleuStats:
    """BLEU statistics of each candidate against its one reference."""
    rows = []
    for candidate, reference in zip(candidates, references, strict=True):
        cand, ref = tokenize(candidate), tokenize(reference)
        correct, guess = [], []
        for n in range(1, MAX_N + 1):
            cand_counts, ref_counts = _ngrams(cand, n), _ngrams(ref, n)
            correct.append(sum(min(c, ref_counts[g]) for g, c in cand_counts.items()))
            guess.append(max(0, len(cand) - n + 1))
        rows.append((correct, guess, len(cand), len(ref)))
    empty = np.zeros((0, MAX_N))
    return BleuStats(
        correct=np.array([r[0] for r in rows], dtype=np.float64) if rows else empty,
        guess=np.array([r[1] for r in rows], dtype=np.float64) if rows else empty,
        candidate_len=np.array([r[2] for r in rows], dtype=np.float64),
        reference_len=np.array([r[3] for r in rows], dtype=np.float64),
    )


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str, beta: float = ROUGE_BETA) -> float:
    """ROUGE-L F-measure of one candidate: LCS precision P and recall R combined as
    ``(1 + beta^2) P R / (R + beta^2 P)`` (beta 1.2 as pycocoevalcap; 1.0 as rouge-score)."""
    cand, ref = tokenize(candidate), tokenize(reference)
    if not cand or not ref:
        return 0.0
    lcs = lcs_length(cand, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


def cider(candidates: Sequence[str], references: Sequence[str]) -> NDArray[np.float64]:
    """Per-report CIDEr (pycocoevalcap's CIDEr-D, document frequencies from these references).

    Their mean is the corpus CIDEr; the bootstrap resamples the per-report values with the
    document frequencies fixed, the usual approximation.
    """
    from pycocoevalcap.cider.cider import Cider

    if not candidates:
        return np.zeros(0)
    ids = [str(i) for i in range(len(candidates))]
    res = {i: [" ".join(tokenize(c))] for i, c in zip(ids, candidates, strict=True)}
    gts = {i: [" ".join(tokenize(r))] for i, r in zip(ids, references, strict=True)}
    _, per_report = Cider().compute_score(gts, res)
    return np.asarray(per_report, dtype=np.float64)
