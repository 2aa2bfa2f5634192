"""Every figure of SPEC section 4 for one system on one case set, with bootstrap intervals.

Definitions (also written into the HTML report):

* **Detection** F1/AUC compare the head's calibrated probabilities (thresholded at the
  operating thresholds) with the truth labels. "Main 5" are CheXpert's competition labels.
* **Clinical efficacy (CE) F1** compares the rule labeller's reading of the draft with its
  reading of the reference report, uncertain counted as positive, micro-averaged.
* **Critical sensitivity**: of the (case, label) pairs where a critical label is present in
  the truth, the share the head detects (``critical_sensitivity``), and the share the draft
  text states, positively or hedged (``critical_sensitivity_text``).
* **Hallucination rate**: the share of drafts whose text asserts (labeller POSITIVE; hedges
  do not count) at least one finding other than "No Finding" that the truth does not hold.
  ``unsupported_rate`` is the share asserting one the head did not detect
  (:func:`inference.qa.hallucinations`, the dashboard's figure).
* **Box IoU**: for each truth finding with a box whose label the head detected, the IoU of
  the detected box with the truth box (0 when the detector gave no box), averaged.
* **Latency**: wall time per drafted study, its share of an 8-study batch.
* Text metrics: :mod:`inference.evaluation.text`. Intervals: :mod:`inference.evaluation.metrics`.

Imports no Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.evaluation import errors
from inference.evaluation.cases import EvalCase, age_band, sex_group
from inference.evaluation.metrics import (
    Indices,
    Interval,
    Statistic,
    auc,
    bootstrap,
    confusion,
    equalised_odds_gap,
    f1,
    finite,
    group_rates,
    macro_f1,
    mean_of,
    micro_f1,
    ratio,
)
from inference.evaluation.runner import CaseResult
from inference.evaluation.text import bleu_stats, cider, rouge_l
from inference.labeller import label_report
from inference.labels import LABELS, Label, Mention
from inference.qa import hallucinations

#: CheXpert's five competition labels (Irvin et al., 2019).
MAIN_LABELS: tuple[Label, ...] = (
    Label.ATELECTASIS,
    Label.CARDIOMEGALY,
    Label.CONSOLIDATION,
    Label.EDEMA,
    Label.PLEURAL_EFFUSION,
)
MAIN = np.array([label in MAIN_LABELS for label in LABELS])
FINDING_COLUMNS = np.array([label is not Label.NO_FINDING for label in LABELS])
STATED = frozenset({Mention.POSITIVE, Mention.UNCERTAIN})


def label_matrix(sets: Sequence[frozenset[Label] | set[Label]]) -> NDArray[np.bool_]:
    """(N, 14) bool: row i marks the labels in ``sets[i]``."""
    return np.array([[label in s for label in LABELS] for s in sets], dtype=bool).reshape(
        len(sets), len(LABELS)
    )


def stated(text: str) -> frozenset[Label]:
    """Labels the labeller reads in ``text`` as positive or uncertain."""
    return frozenset(label for label, m in label_report(text).items() if m in STATED)


def asserted(text: str) -> frozenset[Label]:
    """Findings (not "No Finding") the labeller reads in ``text`` as positive."""
    return frozenset(
        label
        for label, m in label_report(text).items()
        if m is Mention.POSITIVE and label is not Label.NO_FINDING
    )


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (exclusive ends)."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Scored:
    """The per-case arrays every figure is computed from (N cases, 14 labels)."""

    truth: NDArray[np.bool_]
    probabilities: NDArray[np.float32]
    predicted: NDArray[np.bool_]
    text_truth: NDArray[np.bool_]  # labeller on the reference
    text_predicted: NDArray[np.bool_]  # labeller on the draft (positive or uncertain)
    hallucinated: NDArray[np.bool_]  # asserted by the draft, absent from the truth
    unsupported: NDArray[np.bool_]  # (N,) the draft asserts a label the head did not detect
    iou_sum: NDArray[np.float64]  # (N,)
    iou_count: NDArray[np.float64]  # (N,)
    latency_ms: NDArray[np.float64]  # (N,)
    rouge: NDArray[np.float64]  # (N,)
    cider: NDArray[np.float64]  # (N,)


def _boxes(case: EvalCase, result: CaseResult, detected: NDArray[np.bool_]) -> tuple[float, int]:
    total, count = 0.0, 0
    for truth in case.truth:
        if truth.box is None or not detected[LABELS.index(truth.label)]:
            continue
        found = next((f for f in result.draft.findings if f.label is truth.label), None)
        count += 1
        if found is not None and found.box is not None:
            total += box_iou(found.box, truth.box)
    return total, count


def score_arrays(
    cases: Sequence[EvalCase], results: Sequence[CaseResult], thresholds: NDArray[np.float32]
) -> Scored:
    """Read every draft and reference once; the bootstrap then only indexes arrays."""
    probabilities = np.stack([r.probabilities for r in results]).astype(np.float32)
    predicted = probabilities >= thresholds[None, :]
    texts = [r.text for r in results]
    references = [c.reference for c in cases]
    truth = label_matrix([c.labels for c in cases])
    boxes = [_boxes(c, r, row) for c, r, row in zip(cases, results, predicted, strict=True)]
    return Scored(
        truth=truth,
        probabilities=probabilities,
        predicted=predicted,
        text_truth=label_matrix([stated(t) for t in references]),
        text_predicted=label_matrix([stated(t) for t in texts]),
        hallucinated=label_matrix([asserted(t) for t in texts]) & ~truth,
        unsupported=np.array([bool(hallucinations(r.draft.findings, r.text)) for r in results]),
        iou_sum=np.array([b[0] for b in boxes], dtype=np.float64),
        iou_count=np.array([b[1] for b in boxes], dtype=np.float64),
        latency_ms=np.array([r.latency_ms for r in results], dtype=np.float64),
        rouge=np.array([rouge_l(t, ref) for t, ref in zip(texts, references, strict=True)]),
        cider=cider(texts, references),
    )


def _f1_statistic(
    truth: NDArray[np.bool_], predicted: NDArray[np.bool_], columns: NDArray[np.bool_], macro: bool
) -> Statistic:
    tp, fp, fn = confusion(truth[:, columns], predicted[:, columns])
    average = macro_f1 if macro else micro_f1

    def statistic(indices: Indices) -> float:
        return average(tp[indices], fp[indices], fn[indices])

    return statistic


def _label_f1(truth: NDArray[np.bool_], predicted: NDArray[np.bool_], column: int) -> Statistic:
    tp, fp, fn = confusion(truth[:, column], predicted[:, column])

    def statistic(indices: Indices) -> float:
        return f1(float(tp[indices].sum()), float(fp[indices].sum()), float(fn[indices].sum()))

    return statistic


def _label_auc(scored: Scored, column: int) -> Statistic:
    def statistic(indices: Indices) -> float:
        return auc(scored.probabilities[indices, column], scored.truth[indices, column])

    return statistic


def _macro_auc(scored: Scored) -> Statistic:
    def statistic(indices: Indices) -> float:
        values = [
            auc(scored.probabilities[indices, j], scored.truth[indices, j])
            for j in range(len(LABELS))
        ]
        defined = [v for v in values if not math.isnan(v)]
        return float(np.mean(defined)) if defined else math.nan

    return statistic


def summary_statistics(scored: Scored, critical: frozenset[Label]) -> dict[str, Statistic]:
    """Each summary figure as a function of the resampled case indices."""
    everything = np.ones(len(LABELS), dtype=bool)
    crit = np.array([label in critical for label in LABELS])
    truth_crit = scored.truth[:, crit]
    out: dict[str, Statistic] = {
        "macro_auc": _macro_auc(scored),
        "micro_f1_14": _f1_statistic(scored.truth, scored.predicted, everything, macro=False),
        "macro_f1_14": _f1_statistic(scored.truth, scored.predicted, everything, macro=True),
        "micro_f1_5": _f1_statistic(scored.truth, scored.predicted, MAIN, macro=False),
        "macro_f1_5": _f1_statistic(scored.truth, scored.predicted, MAIN, macro=True),
        "ce_f1": _f1_statistic(scored.text_truth, scored.text_predicted, everything, macro=False),
        "ce_macro_f1_14": _f1_statistic(
            scored.text_truth, scored.text_predicted, everything, macro=True
        ),
        "ce_f1_5": _f1_statistic(scored.text_truth, scored.text_predicted, MAIN, macro=False),
        "critical_sensitivity": ratio(
            (truth_crit & scored.predicted[:, crit]).sum(axis=1), truth_crit.sum(axis=1)
        ),
        "critical_sensitivity_text": ratio(
            (truth_crit & scored.text_predicted[:, crit]).sum(axis=1), truth_crit.sum(axis=1)
        ),
        "hallucination_rate": mean_of(np.any(scored.hallucinated, axis=1).astype(np.float64)),
        "unsupported_rate": mean_of(scored.unsupported.astype(np.float64)),
        "rouge_l": mean_of(scored.rouge),
        "cider": mean_of(scored.cider),
        "box_iou": ratio(scored.iou_sum, scored.iou_count),
        "latency_ms": mean_of(scored.latency_ms),
    }
    return out


def _bleu_statistics(
    results: Sequence[CaseResult], cases: Sequence[EvalCase]
) -> dict[str, Statistic]:
    stats = bleu_stats([r.text for r in results], [c.reference for c in cases])

    def nth(n: int) -> Statistic:
        return lambda indices: stats.corpus(indices)[n - 1]

    return {f"bleu{n}": nth(n) for n in range(1, 5)}


def _subgroups(
    cases: Sequence[EvalCase], scored: Scored, critical: frozenset[Label]
) -> dict[str, Any]:
    """Per age band and sex: detection TPR/FPR over the 13 findings, critical sensitivity,
    hallucination rate, and the equalised-odds gaps between groups (point estimates)."""
    truth, predicted = scored.truth[:, FINDING_COLUMNS], scored.predicted[:, FINDING_COLUMNS]
    crit = np.array([label in critical for label in LABELS])
    out: dict[str, Any] = {}
    for attribute, keys in (
        ("age_band", [age_band(c.context.age_years) for c in cases]),
        ("sex", [sex_group(c.context.sex) for c in cases]),
    ):
        rates = group_rates(truth, predicted, keys)
        groups = []
        for rate in rates:
            rows = np.array([k == rate.group for k in keys])
            crit_truth = scored.truth[rows][:, crit]
            crit_found = crit_truth & scored.predicted[rows][:, crit]
            groups.append(
                {
                    "group": rate.group,
                    "cases": rate.cases,
                    "tpr": finite(rate.tpr),
                    "fpr": finite(rate.fpr),
                    "critical_sensitivity": finite(
                        crit_found.sum() / crit_truth.sum() if crit_truth.sum() else math.nan
                    ),
                    "hallucination_rate": finite(
                        float(scored.hallucinated[rows].any(axis=1).mean())
                    ),
                }
            )
        gaps = equalised_odds_gap(rates)
        out[attribute] = {
            "groups": groups,
            "equalised_odds": {key: finite(value) for key, value in gaps.items()},
        }
    return out


def _per_label(scored: Scored, draws: NDArray[np.intp]) -> list[dict[str, Any]]:
    n = len(scored.truth)
    rows = []
    for j, label in enumerate(LABELS):
        ce = confusion(scored.text_truth[:, j], scored.text_predicted[:, j])
        rows.append(
            {
                "label": label.value,
                "prevalence": finite(float(scored.truth[:, j].mean())),
                "predicted_rate": finite(float(scored.predicted[:, j].mean())),
                "positives": int(scored.truth[:, j].sum()),
                "f1": bootstrap(_label_f1(scored.truth, scored.predicted, j), draws, n).as_dict(),
                "auc": bootstrap(_label_auc(scored, j), draws, n).as_dict(),
                "ce_f1": finite(f1(*(float(x.sum()) for x in ce))),
            }
        )
    return rows


def score_system(
    cases: Sequence[EvalCase],
    results: Sequence[CaseResult],
    *,
    thresholds: NDArray[np.float32],
    critical: frozenset[Label],
    draws: NDArray[np.intp],
    log: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, Any], Scored]:
    """Summary with intervals, per-label figures, error analysis and subgroup audit of one
    system; also returns the arrays (for the plots)."""
    log("reading drafts and references with the labeller ...")
    scored = score_arrays(cases, results, thresholds)
    statistics = {**summary_statistics(scored, critical), **_bleu_statistics(results, cases)}
    n = len(cases)
    log(f"bootstrap: {len(draws)} resamples of {n} cases ...")
    intervals: dict[str, Interval] = {
        key: bootstrap(statistic, draws, n) for key, statistic in statistics.items()
    }
    return (
        {
            "summary": {key: finite(i.value) for key, i in intervals.items()},
            "intervals": {key: i.as_dict() for key, i in intervals.items()},
            "per_label": _per_label(scored, draws),
            "errors": errors.analyse(cases, results, scored.text_predicted, scored.hallucinated),
            "subgroups": _subgroups(cases, scored, critical),
        },
        scored,
    )
