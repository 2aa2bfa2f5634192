"""Two-sample drift statistics, Django-free: maximum mean discrepancy with an RBF kernel and
a threshold calibrated by permutation on the reference; chi-square on finding counts.

MMD^2 is the unbiased U-statistic (Gretton et al., 2012): zero in expectation when both
samples come from one distribution, so a threshold calibrated on splits of the reference
holds, conservatively, for a reference of full size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2_contingency

Embeddings = NDArray[np.floating]  # (n, dim)


def _squared_distances(a: Embeddings, b: Embeddings) -> NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    d = (a64**2).sum(1)[:, None] + (b64**2).sum(1)[None, :] - 2.0 * a64 @ b64.T
    return np.maximum(d, 0.0)


def median_bandwidth(reference: Embeddings) -> float:
    """The median heuristic: the median Euclidean distance between distinct reference points
    (1.0 if they all coincide)."""
    d = np.sqrt(_squared_distances(reference, reference))
    upper = d[np.triu_indices(len(reference), k=1)]
    positive = upper[upper > 0]
    return float(np.median(positive)) if positive.size else 1.0


def _mmd2_from_gram(gram: NDArray[np.float64], n: int) -> float:
    """Unbiased MMD^2 of the first ``n`` rows/columns of ``gram`` against the rest."""
    m = gram.shape[0] - n
    kxx, kyy, kxy = gram[:n, :n], gram[n:, n:], gram[:n, n:]
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def mmd2(x: Embeddings, y: Embeddings, *, bandwidth: float) -> float:
    """Unbiased MMD^2 between samples ``x`` (n, d) and ``y`` (m, d), n, m >= 2, with the
    kernel exp(-||a - b||^2 / (2 bandwidth^2))."""
    both = np.concatenate([x, y])
    gram = np.exp(-_squared_distances(both, both) / (2.0 * bandwidth**2))
    return _mmd2_from_gram(gram, len(x))


@dataclass(frozen=True)
class MmdTest:
    mmd2: float
    threshold: float  # the (1 - false_alarm_rate) quantile of MMD^2 between reference splits
    p_value: float  # share of reference splits at least as far apart as the sample
    false_alarm_rate: float
    permutations: int
    bandwidth: float

    @property
    def alarm(self) -> bool:
        return self.mmd2 > self.threshold


def mmd_test(
    recent: Embeddings,
    reference: Embeddings,
    *,
    bandwidth: float,
    false_alarm_rate: float = 0.05,
    permutations: int = 200,
    seed: int = 0,
) -> MmdTest:
    """MMD^2 of ``recent`` against ``reference`` and its calibrated threshold.

    The null distribution comes from the reference alone: each permutation splits it at
    random into a pseudo-recent part of ``len(recent)`` points and the rest, so a sample
    from the reference distribution alarms with probability about ``false_alarm_rate``.
    Raises ``ValueError`` when the reference has fewer than ``len(recent) + 2`` points or
    ``recent`` fewer than 2.
    """
    n = len(recent)
    if n < 2 or len(reference) < n + 2:
        raise ValueError(
            f"drift needs at least 2 recent embeddings and {n + 2} reference ones "
            f"(have {n} and {len(reference)})"
        )
    gamma = 1.0 / (2.0 * bandwidth**2)
    reference_gram = np.exp(-_squared_distances(reference, reference) * gamma)
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    for i in range(permutations):
        order = rng.permutation(len(reference))
        null[i] = _mmd2_from_gram(reference_gram[np.ix_(order, order)], n)
    observed = mmd2(recent, reference, bandwidth=bandwidth)
    return MmdTest(
        mmd2=observed,
        threshold=float(np.quantile(null, 1.0 - false_alarm_rate)),
        p_value=float((1 + (null >= observed).sum()) / (permutations + 1)),
        false_alarm_rate=false_alarm_rate,
        permutations=permutations,
        bandwidth=bandwidth,
    )


@dataclass(frozen=True)
class LabelDrift:
    chi2: float
    dof: int
    p_value: float
    labels: tuple[str, ...]  # the labels compared (those seen in either period)


def label_drift(recent: Mapping[str, int], baseline: Mapping[str, int]) -> LabelDrift | None:
    """Chi-square test of homogeneity of the detected-finding distribution in two periods.

    ``recent``/``baseline`` count detections per label (a draft with several findings counts
    once for each; drafts with none count under their own key, so a shift to or from finding
    nothing shows too). ``None`` when a period is empty or fewer than two labels were seen.
    """
    labels = tuple(
        sorted(k for k in set(recent) | set(baseline) if recent.get(k) or baseline.get(k))
    )
    table = np.array(
        [[int(counts.get(label, 0)) for label in labels] for counts in (recent, baseline)]
    )
    if len(labels) < 2 or table.sum(1).min() == 0:
        return None
    result = chi2_contingency(table, correction=False)
    return LabelDrift(
        chi2=float(result.statistic),
        dof=int(result.dof),
        p_value=float(result.pvalue),
        labels=labels,
    )
