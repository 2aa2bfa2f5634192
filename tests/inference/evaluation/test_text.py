"""Text metrics on hand-checked examples, and against pycocoevalcap and rouge-score."""

from __future__ import annotations

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.rouge.rouge import Rouge
from rouge_score import rouge_scorer

from inference.evaluation.text import bleu_stats, cider, lcs_length, rouge_l, tokenize

PAIRS = [
    ("The heart size is normal. The lungs are clear.", "The heart is normal in size. Lungs clear."),
    ("Small left pleural effusion.", "There is a small left pleural effusion with atelectasis."),
    ("No pneumothorax.", "Large right pneumothorax with mediastinal shift."),
    ("Cardiomegaly with mild pulmonary edema.", "Cardiomegaly with mild pulmonary edema."),
    ("", "Normal chest."),
]


def test_bleu_of_a_hand_checked_pair() -> None:
    # 5 of 6 unigrams and 3 of 5 bigrams match; equal lengths, so no brevity penalty.
    bleu = bleu_stats(["the cat sat on the mat"], ["the cat is on the mat"]).corpus()

    assert bleu[0] == pytest.approx(5 / 6)
    assert bleu[1] == pytest.approx((5 / 6 * 3 / 5) ** 0.5)


def test_corpus_bleu_equals_pycocoevalcap_on_the_same_tokens() -> None:
    candidates, references = zip(*PAIRS, strict=True)
    res = {str(i): [" ".join(tokenize(c))] for i, c in enumerate(candidates)}
    gts = {str(i): [" ".join(tokenize(r))] for i, r in enumerate(references)}
    expected, _ = Bleu(4).compute_score(gts, res, verbose=0)

    assert bleu_stats(candidates, references).corpus() == pytest.approx(expected, rel=1e-9)


def test_bleu_of_a_resample_is_the_bleu_of_those_reports() -> None:
    candidates, references = zip(*PAIRS, strict=True)
    picked = np.array([0, 0, 3], dtype=np.intp)

    subset = bleu_stats([candidates[i] for i in picked], [references[i] for i in picked]).corpus()

    assert bleu_stats(candidates, references).corpus(picked) == pytest.approx(subset)


def test_rouge_l_of_a_hand_checked_pair() -> None:
    # LCS "the heart is normal" = 4 tokens: P = 4/5, R = 4/6.
    candidate, reference = "The heart size is normal", "the heart is normal in size"
    p, r = 4 / 5, 4 / 6

    assert lcs_length(tokenize(candidate), tokenize(reference)) == 4
    assert rouge_l(candidate, reference, beta=1.0) == pytest.approx(2 * p * r / (p + r))
    assert rouge_l(candidate, reference) == pytest.approx(2.44 * p * r / (r + 1.44 * p))


@pytest.mark.parametrize(("candidate", "reference"), PAIRS[:4])
def test_rouge_l_equals_pycocoevalcap_and_rouge_score(candidate: str, reference: str) -> None:
    coco = Rouge().calc_score([" ".join(tokenize(candidate))], [" ".join(tokenize(reference))])
    google = rouge_scorer.RougeScorer(["rougeL"]).score(reference, candidate)["rougeL"]

    assert rouge_l(candidate, reference) == pytest.approx(coco)
    assert rouge_l(candidate, reference, beta=1.0) == pytest.approx(google.fmeasure)


def test_empty_drafts_score_zero() -> None:
    assert rouge_l("", "Normal chest.") == 0.0
    assert bleu_stats([""], ["Normal chest."]).corpus()[0] == pytest.approx(0.0, abs=1e-6)


def test_cider_rewards_the_exact_report_most() -> None:
    references = [r for _, r in PAIRS[:4]]
    exact = cider(references, references)
    other = cider([c for c, _ in PAIRS[:4]], references)

    assert exact.shape == (4,)
    assert (exact >= other).all() and exact.mean() > other.mean()
