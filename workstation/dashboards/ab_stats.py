"""Two-sample tests for an A/B comparison, with Bonferroni correction (Django-free).

Each study is drafted by one arm only, so the samples are independent: Mann-Whitney U
(two-sided, normal approximation with continuity and tie corrections) for continuous
figures, the pooled two-proportion z-test for rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import mannwhitneyu, norm

PROMOTION_ALPHA = 0.01  # a difference counts when its Bonferroni-adjusted p is below this


@dataclass(frozen=True)
class TestResult:
    test: str  # "mann-whitney" | "two-proportion z"
    statistic: float | None
    p_value: float | None  # None: a sample is empty (or has no variation to test)


def mann_whitney(control: Sequence[float], candidate: Sequence[float]) -> TestResult:
    if not control or not candidate:
        return TestResult("mann-whitney", None, None)
    result = mannwhitneyu(candidate, control, alternative="two-sided", method="asymptotic")
    p = float(result.pvalue)
    return TestResult("mann-whitney", float(result.statistic), None if math.isnan(p) else p)


def two_proportions(successes: tuple[int, int], totals: tuple[int, int]) -> TestResult:
    """z = (p2 - p1) / sqrt(p (1 - p) (1/n1 + 1/n2)) with the pooled p; (control, candidate)."""
    (x1, x2), (n1, n2) = successes, totals
    if n1 == 0 or n2 == 0:
        return TestResult("two-proportion z", None, None)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return TestResult("two-proportion z", None, None)
    z = (x2 / n2 - x1 / n1) / se
    return TestResult("two-proportion z", z, float(2 * norm.sf(abs(z))))


def bonferroni(p_values: Sequence[float | None]) -> list[float | None]:
    """Each p times the number of tests made (untestable ones do not count), capped at 1."""
    tests = sum(p is not None for p in p_values)
    return [None if p is None else min(1.0, p * tests) for p in p_values]
