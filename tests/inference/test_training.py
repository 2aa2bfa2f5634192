"""inference.training: the tiny model learns; stages train what they should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.labels import LABELS
from inference.models.reference import build_reference_model
from inference.registry import reference_config
from inference.training import (
    Stage,
    cosine_with_warmup,
    detection_logits,
    fit_calibration,
    roc_auc,
    train,
)
from tests.inference.models.synthetic import (
    LESION,
    LESION_REPORT,
    NORMAL_REPORT,
    dataset,
    trained_tiny,
)


def test_it_learns_the_tiny_model() -> None:
    trained = trained_tiny()
    encoder_stage = trained.results[0]
    assert encoder_stage.epoch_losses[-1] < 0.5 * encoder_stage.epoch_losses[0]
    index = LABELS.index(LESION)
    targets = np.stack([item.labels for item in trained.items])[:, index]
    after = roc_auc(detection_logits(trained.model, trained.items)[:, index], targets)
    print(
        f"tiny: {sum(p.numel() for p in trained.model.parameters())} parameters, "
        f"{sum(r.seconds for r in trained.results):.1f} s, loss "
        f"{encoder_stage.epoch_losses[0]:.3f}->{encoder_stage.epoch_losses[-1]:.3f}, AUC "
        f"{roc_auc(trained.initial_logits[:, index], targets):.3f}->{after:.3f}"
    )
    assert after > 0.8


def test_it_generalises_detection_to_new_images() -> None:
    trained = trained_tiny()
    held_out = [item for item, _ in dataset(32, seed=99)]
    index = LABELS.index(LESION)
    targets = np.stack([item.labels for item in held_out])[:, index]
    assert roc_auc(detection_logits(trained.model, held_out)[:, index], targets) > 0.75


def test_it_trains_only_the_projector_and_language_model_in_stage_2() -> None:
    torch.manual_seed(0)
    items = [item for item, _ in dataset(8, seed=3)]
    model = build_reference_model(reference_config("tiny"), [NORMAL_REPORT, LESION_REPORT] * 2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = train(model, items, stage=Stage.LANGUAGE, epochs=1, batch_size=4, grad_accum=2)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert result.optimiser_steps == 1
    assert any(name.startswith("lm.") for name in changed)
    assert any(name.startswith("projector.") for name in changed)
    assert not any(name.startswith(("encoder.", "detection_")) for name in changed)
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards


def test_it_calibrates_on_held_out_items() -> None:
    trained = trained_tiny()
    held_out = [item for item, _ in dataset(32, seed=7)]
    original = trained.model.calibration
    try:
        calibration = fit_calibration(trained.model, held_out)
        assert calibration.method == "platt" and calibration.fitted_on == 32
        assert calibration.scale[LABELS.index(LESION)] != 1.0
    finally:
        trained.model.calibration = original


def test_it_warms_up_then_decays_the_learning_rate_on_a_cosine() -> None:
    factor = cosine_with_warmup(100)
    assert factor(0) < factor(4) == 1.0
    assert 0.4 < factor(50) < 0.6
    assert factor(99) < 0.01


def test_it_computes_auc_from_ranks_with_ties() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4], dtype=np.float32)
    targets = np.array([0, 0, 1, 1, 1], dtype=np.float32)
    # positives (0.35, 0.8, 0.4) vs negatives (0.1, 0.4): wins 1+0, 1+1, 1+0.5 of 6
    assert roc_auc(scores, targets) == pytest.approx(4.5 / 6)
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(scores, np.ones(5))


def test_it_refuses_an_empty_dataset() -> None:
    model = build_reference_model(reference_config("tiny"), [NORMAL_REPORT] * 2)
    with pytest.raises(ValueError):
        train(model, [], stage=Stage.ENCODER)
