"""Hybrid fusion through the context prompt: a tiny reference model trained where a bright
disc is pneumonia only in an infected patient learns it from the labs in its prompt."""

from __future__ import annotations

import functools

import numpy as np
import torch

from inference.labels import LABELS, Label
from inference.models.reference import NO_CONTEXT_PROMPT, ReferenceModel, build_reference_model
from inference.registry import reference_config
from inference.training import Stage, TrainingItem, roc_auc, train
from inference.types import ClinicalContext, lab_terms
from tests.inference.models.synthetic import (
    LESION_REPORT,
    NORMAL_REPORT,
    chest,
    labels_vector,
    with_disc,
)

PNEUMONIA = LABELS.index(Label.PNEUMONIA)
INFECTED_LABS = {"crp": 150.0, "wbc": 16.0, "procalcitonin": 2.0, "temperature": 38.9}
WELL_LABS = {"crp": 2.0, "wbc": 7.0, "procalcitonin": 0.05, "temperature": 36.8}


def _context(rng: np.random.Generator, infected: bool) -> ClinicalContext:
    return ClinicalContext(
        age_years=int(rng.integers(20, 90)),
        sex=str(rng.choice(["M", "F"])),
        labs=lab_terms(INFECTED_LABS if infected else WELL_LABS),
        indication=str(rng.choice(["cough", "chest pain", "follow-up"])),  # not the answer
    )


def _items(n: int, seed: int) -> list[tuple[TrainingItem, bool, bool]]:
    """(item, disc drawn, infected); pneumonia = disc and infected."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        disc, infected = i % 2 == 0, bool(rng.random() < 0.5)
        image = with_disc(chest(rng), rng)[0] if disc else chest(rng)
        present = {Label.CONSOLIDATION} | ({Label.PNEUMONIA} if infected else set())
        item = TrainingItem(
            pixels=image,
            labels=labels_vector(present if disc else {Label.NO_FINDING}),
            report=LESION_REPORT if disc else NORMAL_REPORT,
            prompt=_context(rng, infected).as_prompt(),
        )
        out.append((item, disc, infected))
    return out


@functools.cache
def _trained() -> ReferenceModel:
    torch.manual_seed(0)
    items = [item for item, _, _ in _items(64, seed=3)]
    texts = [NORMAL_REPORT, LESION_REPORT, *(item.prompt for item in items)]
    model = build_reference_model(reference_config("tiny"), texts)
    train(model, items, stage=Stage.ENCODER, epochs=6, lr=3e-3, batch_size=8)
    train(model, items, stage=Stage.PROJECTOR, epochs=5, lr=3e-3, batch_size=8)
    return model.eval()


@torch.no_grad()
def _pneumonia_logits(model: ReferenceModel, pixels: np.ndarray, prompts: list[str]) -> np.ndarray:
    batch = torch.from_numpy(pixels[:, None])
    ids = [model.encode_prompt(prompt) for prompt in prompts]
    return model.detection_logits(batch, ids)[:, PNEUMONIA].numpy()


def test_the_prompt_carries_the_labs_as_whole_tokens() -> None:
    model = _trained()
    prompt = ClinicalContext(age_years=70, sex="M", labs=lab_terms(INFECTED_LABS)).as_prompt()

    ids = model.encode_prompt(prompt)

    assert "labs: crp high, wbc high, procalcitonin high, temperature high" in prompt
    assert model.tokenizer.decode(ids) == prompt
    assert len(ids) <= model.config.max_prompt_tokens
    tokens = {model.tokenizer.tokenizer.id_to_token(i) for i in ids}
    assert {"Ġcrp", "Ġwbc", "Ġprocalcitonin", "Ġhigh"} <= tokens
    assert "[UNK]" not in tokens


def test_the_detection_logits_follow_the_labs_in_the_prompt() -> None:
    from inference.preprocess import normalise

    model = _trained()
    held_out = _items(48, seed=11)
    pixels = np.stack([normalise(item.pixels) for item, _, _ in held_out]).astype(np.float32)
    rng = np.random.default_rng(0)
    infected = [_context(rng, True).as_prompt() for _ in held_out]
    well = [_context(rng, False).as_prompt() for _ in held_out]
    actual = [item.prompt for item, _, _ in held_out]
    disc = np.array([d for _, d, _ in held_out])

    with_fever = _pneumonia_logits(model, pixels, infected)
    without = _pneumonia_logits(model, pixels, well)
    truth = np.array([float(d and i) for _, d, i in held_out])
    with_labs = roc_auc(_pneumonia_logits(model, pixels, actual), truth)
    image_only = roc_auc(_pneumonia_logits(model, pixels, [NO_CONTEXT_PROMPT] * 48), truth)
    # The same images: only the labs differ, and infected labs raise pneumonia.
    assert float(np.mean(with_fever[disc] - without[disc])) > 0.4
    assert with_labs > image_only + 0.1


def test_a_checkpoint_saved_before_the_context_norm_keeps_its_raw_context() -> None:
    from inference.models.config import ReferenceConfig

    assert ReferenceConfig.from_dict({"size": "tiny"}).context_norm is False
    assert ReferenceConfig.from_dict({"context_norm": True}).context_norm is True
    assert ReferenceConfig().context_norm is True
