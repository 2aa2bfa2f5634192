"""F1, AUC, bootstrap intervals and equalised-odds gaps on hand-made examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.evaluation.metrics import (
    auc,
    bootstrap,
    confusion,
    equalised_odds_gap,
    f1,
    group_rates,
    macro_f1,
    mean_of,
    micro_f1,
    reliability,
    resample_indices,
    roc_curve,
)
from inference.training import roc_auc


def test_f1_micro_and_macro_of_a_hand_made_table() -> None:
    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=bool)
    predicted = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    tp, fp, fn = confusion(truth, predicted)

    # label 0: TP 1, FN 1 -> 2/3; label 1: TP 2, FP 1 -> 4/5; label 2: undefined, left out.
    assert macro_f1(tp, fp, fn) == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert micro_f1(tp, fp, fn) == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert math.isnan(f1(0, 0, 0))


def test_auc_of_a_hand_checked_example_and_ties() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    truth = np.array([False, False, True, True])

    assert auc(scores, truth) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([True, False])) == pytest.approx(0.5)
    assert math.isnan(auc(scores, np.ones(4, dtype=bool)))


def test_auc_agrees_with_the_trainers_auc() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(200), 2)  # rounded: many ties
    truth = rng.random(200) < 0.3

    assert auc(scores, truth) == pytest.approx(roc_auc(scores, truth.astype(np.float32)))


def test_roc_curve_runs_from_the_origin_to_the_corner() -> None:
    fpr, tpr = roc_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))

    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)


def test_reliability_bins_hold_mean_prediction_and_frequency() -> None:
    bins = reliability(np.array([0.05, 0.15, 0.95, 0.91]), np.array([False, True, True, True]))

    assert bins == [(0.05, 0.0, 1), (0.15, 1.0, 1), (pytest.approx(0.93), 1.0, 2)]


def test_bootstrap_interval_contains_the_estimate_and_repeats_with_its_seed() -> None:
    values = np.random.default_rng(0).random(60)
    statistic = mean_of(values)

    first = bootstrap(statistic, resample_indices(60, 200, seed=7), 60)
    again = bootstrap(statistic, resample_indices(60, 200, seed=7), 60)
    other = bootstrap(statistic, resample_indices(60, 200, seed=8), 60)

    assert first.low < first.value < first.high
    assert first.value == pytest.approx(values.mean())
    assert first == again and first != other
    assert first.resamples == 200


def test_bootstrap_leaves_out_resamples_where_the_statistic_is_undefined() -> None:
    values = np.array([np.nan] * 9 + [1.0])

    interval = bootstrap(mean_of(values), resample_indices(10, 100, seed=0), 10)

    assert interval.value == 1.0
    assert 0 < interval.resamples < 100
    assert interval.as_dict()["low"] == 1.0


def test_equalised_odds_gap_of_a_hand_made_example() -> None:
    # Group a: 2 positives, 1 found (TPR 0.5); 2 negatives, 1 flagged (FPR 0.5).
    # Group b: 2 positives, both found (TPR 1.0); 4 negatives, 1 flagged (FPR 0.25).
    truth = np.array([[1, 0], [1, 0], [1, 1], [0, 0], [0, 0]], dtype=bool)
    predicted = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [0, 1]], dtype=bool)
    groups = ["a", "a", "b", "b", "b"]

    rates = {r.group: r for r in group_rates(truth, predicted, groups)}
    gaps = equalised_odds_gap(list(rates.values()))

    assert (rates["a"].tpr, rates["a"].fpr) == (0.5, 0.5)
    assert (rates["b"].tpr, rates["b"].fpr) == (1.0, 0.25)
    assert gaps == {"tpr_gap": 0.5, "fpr_gap": 0.25, "gap": 0.5}


def test_a_group_without_positives_does_not_enter_the_tpr_gap() -> None:
    truth = np.array([[1], [0]], dtype=bool)
    predicted = np.array([[1], [1]], dtype=bool)

    gaps = equalised_odds_gap(group_rates(truth, predicted, ["a", "b"]))

    assert math.isnan(gaps["tpr_gap"]) and math.isnan(gaps["fpr_gap"])
    assert math.isnan(gaps["gap"])
