"""inference.models: the reference model, its directory format, tokenizer and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.backends.base import ModelNotLoaded
from inference.labels import LABELS
from inference.models.calibration import Calibration, fit_platt
from inference.models.checkpoint import REQUIRED_FILES, ModelCard, load_reference_model
from inference.models.reference import ReferenceModel, build_reference_model
from inference.models.tokenizer import ReportTokenizer, format_report, split_report
from inference.registry import LOSS_WEIGHTS, MODEL_CARD_INTENDED_USE, reference_config
from inference.training import collate
from tests.inference.models.synthetic import LESION_REPORT, NORMAL_REPORT, dataset


@pytest.fixture(scope="module")
def fresh() -> ReferenceModel:
    torch.manual_seed(0)
    items = [item for item, _ in dataset(4, seed=5)]
    return build_reference_model(
        reference_config("tiny"), [NORMAL_REPORT, LESION_REPORT] + [i.prompt for i in items]
    ).eval()


def test_it_round_trips_report_sections() -> None:
    text = format_report("Lungs clear.", "Normal.", "None.")
    assert split_report(text) == {
        "findings": "Lungs clear.",
        "impression": "Normal.",
        "recommendations": "None.",
    }
    assert split_report("no header here") == {"findings": "no header here"}


def test_it_decodes_what_the_tokenizer_encodes() -> None:
    tokenizer = ReportTokenizer.train([NORMAL_REPORT, LESION_REPORT] * 3, vocab_size=300)
    assert tokenizer.decode(tokenizer.encode(LESION_REPORT)) == LESION_REPORT
    assert len({tokenizer.pad_id, tokenizer.sep_id, tokenizer.eos_id}) == 3


def test_it_weights_the_loss_as_the_specification_says(fresh: ReferenceModel) -> None:
    items = [item for item, _ in dataset(4, seed=5)]
    parts = fresh.loss(collate(fresh, items, fresh.device))
    expected = (
        LOSS_WEIGHTS.report_nll * parts.report_nll
        + LOSS_WEIGHTS.detection_bce * parts.detection_bce
        + LOSS_WEIGHTS.projector_l2 * parts.projector_l2
    )
    assert (LOSS_WEIGHTS.report_nll, LOSS_WEIGHTS.detection_bce, LOSS_WEIGHTS.projector_l2) == (
        1.0,
        0.5,
        1e-4,
    )
    assert float(parts.total.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)


def test_it_has_finite_gradients_with_respect_to_the_input(fresh: ReferenceModel) -> None:
    pixels = torch.randn(2, 1, 64, 64, requires_grad=True)
    fresh.detection_logits(pixels, [fresh.encode_prompt("age 50")] * 2).sum().backward()
    assert pixels.grad is not None and torch.isfinite(pixels.grad).all()
    assert float(pixels.grad.abs().sum()) > 0


def test_it_generates_text_by_beam_search(fresh: ReferenceModel) -> None:
    text = fresh.generate(torch.zeros(1, 1, 64, 64), "age 50, male", num_beams=4, max_new_tokens=8)
    assert isinstance(text, str)


def test_it_saves_and_loads_the_same_model(fresh: ReferenceModel, tmp_path: Path) -> None:
    fresh.calibration = Calibration("platt", (2.0,) * 14, (0.5,) * 14, fitted_on=10)
    card = ModelCard(name="reference-tiny", version="test-1", metrics={"auc": 0.9})
    fresh.save_pretrained(tmp_path, card)
    loaded, loaded_card = load_reference_model(tmp_path)
    pixels = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(
            loaded.probabilities(loaded.detection_logits(pixels, [(1, 2)])),
            fresh.probabilities(fresh.detection_logits(pixels, [(1, 2)])),
            rtol=1e-5,
        )
    stored = json.loads((tmp_path / "model_card.json").read_text())
    assert stored["intended_use"] == MODEL_CARD_INTENDED_USE
    assert loaded_card.version == "test-1" and loaded_card.parameters > 0
    assert loaded.calibration.scale[0] == 2.0
    assert loaded.targets == LABELS
    fresh.calibration = Calibration.identity()


@pytest.mark.parametrize("missing", REQUIRED_FILES)
def test_it_raises_model_not_loaded_naming_the_missing_file(
    fresh: ReferenceModel, tmp_path: Path, missing: str
) -> None:
    fresh.save_pretrained(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(ModelNotLoaded, match=f"^model not loaded: {tmp_path} missing {missing}$"):
        ReferenceModel.from_pretrained(tmp_path)


def test_it_fits_platt_scaling_that_sharpens_underconfident_logits() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((400, 14)) < 0.5).astype(np.float32)
    logits = ((targets * 2 - 1) * 0.5 + 0.3 * rng.standard_normal((400, 14))).astype(np.float32)
    targets[:, 0] = 0  # one class only: stays identity
    calibration = fit_platt(logits, targets)
    assert calibration.scale[0] == 1.0 and calibration.bias[0] == 0.0
    assert all(s > 2.0 for s in calibration.scale[1:])
    assert calibration.fitted_on == 400


def test_it_builds_a_large_model_from_local_pretrained_directories(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel, ViTConfig, ViTModel

    vit_dir, lm_dir = tmp_path / "vit", tmp_path / "gpt2"
    ViTModel(
        ViTConfig(
            image_size=32,
            patch_size=8,
            num_channels=3,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        add_pooling_layer=False,
    ).save_pretrained(vit_dir)
    tokenizer = ReportTokenizer.train([NORMAL_REPORT, LESION_REPORT] * 3, vocab_size=300)
    GPT2LMHeadModel(
        GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=64, n_embd=32, n_layer=1, n_head=2)
    ).save_pretrained(lm_dir)
    tokenizer.save(lm_dir / "tokenizer.json")
    config = reference_config(
        "large",
        image_size=32,
        image_tokens_side=2,
        encoder_dir=str(vit_dir),
        lm_dir=str(lm_dir),
        max_report_tokens=16,
    )
    model = build_reference_model(config)
    features = model.encode(torch.zeros(1, 1, 32, 32))
    assert features.shape == (1, 32, 4, 4)
    assert model.encoder.feature_layer is model.encoder.spatial
    model.save_pretrained(tmp_path / "large")
    assert load_reference_model(tmp_path / "large")[0].config.size == "large"
