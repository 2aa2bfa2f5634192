"""inference.priors: change against the prior study, its sentence, and the labeller reading
the sentence back (new / unchanged / improved / worse)."""

from __future__ import annotations

import numpy as np
import pytest

from inference.labeller import label_report
from inference.labeller.change import IntervalChange, interval_changes
from inference.labels import Label, Mention
from inference.priors import ComparedFinding, compare_with_prior, embedding_distance

PRIOR_DATE = "2024-01-15"


def _effusion(probability: float, height: float) -> ComparedFinding:
    return ComparedFinding(
        Label.PLEURAL_EFFUSION, probability, (0.1, 0.9 - height, 0.45, 0.9), "right"
    )


def test_a_growing_effusion_is_worse_with_the_increased_sentence() -> None:
    [change] = compare_with_prior(
        [_effusion(0.8, 0.3)], [_effusion(0.75, 0.1)], prior_date=PRIOR_DATE
    )

    assert change.change is IntervalChange.WORSE
    assert change.sentence == "Right pleural effusion, increased since 2024-01-15."
    assert change.area_ratio == pytest.approx(3.0)
    assert 0 < (change.box_iou or 0) < 1


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        (_effusion(0.8, 0.2), _effusion(0.78, 0.21), IntervalChange.UNCHANGED),
        (_effusion(0.7, 0.1), _effusion(0.9, 0.3), IntervalChange.IMPROVED),
        (_effusion(0.8, 0.2), _effusion(0.2, 0.2), IntervalChange.NEW),  # below threshold before
    ],
)
def test_it_labels_unchanged_improved_and_new(
    now: ComparedFinding, before: ComparedFinding, expected: IntervalChange
) -> None:
    [change] = compare_with_prior([now], [before], prior_date=PRIOR_DATE)
    assert change.change is expected


def test_without_boxes_the_probability_decides() -> None:
    now = ComparedFinding(Label.CARDIOMEGALY, 0.9)
    before = ComparedFinding(Label.CARDIOMEGALY, 0.6)
    [change] = compare_with_prior([now], [before], prior_date=PRIOR_DATE)
    assert change.change is IntervalChange.WORSE
    assert change.sentence == "Cardiomegaly, increased since 2024-01-15."


def test_a_finding_gone_since_the_prior_is_improved_and_read_as_absent() -> None:
    [change] = compare_with_prior([], [_effusion(0.9, 0.2)], prior_date=PRIOR_DATE)

    assert change.change is IntervalChange.IMPROVED
    assert change.probability_now is None
    assert label_report(change.sentence)[Label.PLEURAL_EFFUSION] is Mention.NEGATIVE


@pytest.mark.parametrize("expected", list(IntervalChange))
def test_the_labeller_reads_each_sentence_back(expected: IntervalChange) -> None:
    before = {
        IntervalChange.NEW: [],
        IntervalChange.UNCHANGED: [_effusion(0.8, 0.2)],
        IntervalChange.IMPROVED: [_effusion(0.8, 0.4)],
        IntervalChange.WORSE: [_effusion(0.8, 0.05)],
    }[expected]
    [change] = compare_with_prior([_effusion(0.8, 0.2)], before, prior_date=PRIOR_DATE)

    assert change.change is expected
    assert label_report(change.sentence)[Label.PLEURAL_EFFUSION] is Mention.POSITIVE
    assert interval_changes(change.sentence) == {Label.PLEURAL_EFFUSION: expected}


def test_the_labeller_reads_radiologists_change_wording() -> None:
    text = (
        "Stable cardiomegaly. The left effusion has decreased. No pneumothorax. "
        "New right lower lobe consolidation."
    )
    assert interval_changes(text) == {
        Label.CARDIOMEGALY: IntervalChange.UNCHANGED,
        Label.PLEURAL_EFFUSION: IntervalChange.IMPROVED,
        Label.CONSOLIDATION: IntervalChange.NEW,
    }


def test_embedding_distance_is_zero_for_the_same_image_and_grows_with_difference() -> None:
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    assert embedding_distance(a, a) == pytest.approx(0.0)
    assert embedding_distance(a, np.array([0.0, 1.0, 0.0], dtype=np.float32)) == pytest.approx(1.0)
