"""MMD with a permutation-calibrated threshold, and chi-square label drift (no database)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from workstation.dashboards.drift_math import label_drift, median_bandwidth, mmd2, mmd_test

DIM = 8
ALPHA = 0.05


def _sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return rng.standard_normal((n, DIM)) + shift


def test_it_takes_the_median_pairwise_distance_as_bandwidth() -> None:
    points = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3
    assert median_bandwidth(points) == 2.0


def test_its_mmd_is_near_zero_for_one_distribution_and_positive_for_two() -> None:
    rng = np.random.default_rng(1)
    reference = _sample(rng, 200)
    bandwidth = median_bandwidth(reference)
    same = mmd2(_sample(rng, 200), reference, bandwidth=bandwidth)
    shifted = mmd2(_sample(rng, 200, shift=1.0), reference, bandwidth=bandwidth)
    assert abs(same) < 0.01 < shifted


def test_it_does_not_alarm_on_a_sample_from_the_reference_distribution() -> None:
    rng = np.random.default_rng(2)
    reference = _sample(rng, 150)
    test = mmd_test(
        _sample(rng, 30), reference, bandwidth=median_bandwidth(reference), false_alarm_rate=ALPHA
    )
    assert not test.alarm
    assert test.p_value > ALPHA


def test_it_alarms_on_a_shifted_sample() -> None:
    rng = np.random.default_rng(3)
    reference = _sample(rng, 150)
    test = mmd_test(
        _sample(rng, 30, shift=0.75),
        reference,
        bandwidth=median_bandwidth(reference),
        false_alarm_rate=ALPHA,
    )
    assert test.alarm
    assert test.p_value < ALPHA


def test_its_false_alarm_rate_is_the_stated_one() -> None:
    """Over 200 samples from the reference distribution, alarms stay within the binomial
    range of the stated 5% (3 standard deviations); shifted samples nearly always alarm."""
    rng = np.random.default_rng(4)
    reference = _sample(rng, 120)
    bandwidth = median_bandwidth(reference)
    trials = 200
    false_alarms = sum(
        mmd_test(_sample(rng, 20), reference, bandwidth=bandwidth, permutations=100, seed=i).alarm
        for i in range(trials)
    )
    limit = trials * ALPHA + 3 * np.sqrt(trials * ALPHA * (1 - ALPHA))
    assert false_alarms <= limit
    detected = sum(
        mmd_test(
            _sample(rng, 20, shift=1.0), reference, bandwidth=bandwidth, permutations=100, seed=i
        ).alarm
        for i in range(20)
    )
    assert detected >= 19


def test_it_refuses_a_reference_smaller_than_the_sample() -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="reference"):
        mmd_test(_sample(rng, 30), _sample(rng, 20), bandwidth=1.0)


def test_it_tests_label_drift_by_chi_square() -> None:
    # 2 x 2 table [[30, 70], [50, 50]]: expected [[40, 60], [40, 60]];
    # chi2 = 100/40 + 100/60 + 100/40 + 100/60 = 8.3333, 1 degree of freedom.
    result = label_drift(
        {"Cardiomegaly": 30, "(none detected)": 70}, {"Cardiomegaly": 50, "(none detected)": 50}
    )
    assert result is not None
    assert result.chi2 == pytest.approx(25 / 3)
    assert result.dof == 1
    assert result.p_value == pytest.approx(chi2.sf(25 / 3, 1))
    assert label_drift({"Cardiomegaly": 3}, {}) is None
