"""inference.fusion.fit: grouped cross-validation keeps an image's cases in one fold, never
lets a fold's truth reach its own predictions, and picks the penalty with the lowest
out-of-fold log-loss."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.fusion.fit import PENALTIES, FusionCase, cross_validate, fit_fusion, folds
from inference.fusion.metrics import auc
from inference.labels import Label
from tests.inference.fusion.cases import infection_cases


def _grouped(n: int, per_image: int, seed: int = 3) -> list[FusionCase]:
    return [
        replace(case, image_key=f"img{i // per_image}")
        for i, case in enumerate(infection_cases(n, seed=seed))
    ]


def test_cases_of_one_image_share_a_fold_and_folds_are_balanced() -> None:
    cases = _grouped(200, per_image=4)

    fold = folds(cases, k=5)

    for start in range(0, 200, 4):
        assert len(set(fold[start : start + 4].tolist())) == 1
    assert sorted(np.bincount(fold).tolist()) == [40] * 5


def test_cases_without_an_image_key_are_each_their_own_group() -> None:
    fold = folds(infection_cases(10, seed=4), k=5)

    assert np.bincount(fold).tolist() == [2] * 5


def test_a_folds_own_truth_never_reaches_its_out_of_fold_predictions() -> None:
    cases = _grouped(240, per_image=4)
    fold = folds(cases)
    flipped = [
        replace(c, targets={Label.PNEUMONIA: 1 - c.targets[Label.PNEUMONIA]}) if f == 0 else c
        for c, f in zip(cases, fold, strict=True)
    ]

    before = cross_validate(Label.PNEUMONIA, cases, penalties=(10.0,))
    after = cross_validate(Label.PNEUMONIA, flipped, penalties=(10.0,))

    assert before is not None and after is not None
    in_fold = fold == 0
    np.testing.assert_allclose(before.out_of_fold[in_fold], after.out_of_fold[in_fold])
    assert not np.allclose(before.out_of_fold[~in_fold], after.out_of_fold[~in_fold])


def test_the_chosen_penalty_has_the_lowest_out_of_fold_log_loss_of_the_grid() -> None:
    cases = _grouped(300, per_image=3)

    chosen = cross_validate(Label.PNEUMONIA, cases)
    each = {p: cross_validate(Label.PNEUMONIA, cases, penalties=(p,)) for p in PENALTIES}

    assert chosen is not None
    losses = {p: cv.log_loss for p, cv in each.items() if cv is not None}
    assert chosen.penalty == min(losses, key=losses.__getitem__)
    assert chosen.log_loss == pytest.approx(min(losses.values()))
    # Image and labs carry the truth here, so the out-of-fold ranking is good.
    assert chosen.targets.shape == chosen.out_of_fold.shape == (300,)
    assert auc(chosen.out_of_fold, chosen.targets) > 0.85


def test_a_label_with_too_few_positives_is_not_cross_validated() -> None:
    cases = [
        replace(c, targets={Label.PNEUMONIA: int(i < 3)})
        for i, c in enumerate(_grouped(100, per_image=2))
    ]

    assert cross_validate(Label.PNEUMONIA, cases) is None


def test_a_larger_penalty_shrinks_the_weights() -> None:
    cases = _grouped(200, per_image=4)

    loose = fit_fusion(cases, (Label.PNEUMONIA,), penalties={Label.PNEUMONIA: 1.0})
    tight = fit_fusion(cases, (Label.PNEUMONIA,), penalties={Label.PNEUMONIA: 300.0})

    norm = {
        name: float(np.linalg.norm(model.labels[Label.PNEUMONIA].weights))
        for name, model in (("loose", loose), ("tight", tight))
    }
    assert norm["tight"] < norm["loose"]
