"""The reference model's directory format (version 1). Imports no Django.

A model directory holds::

    config.json        ReferenceConfig (architecture, label order)
    model.safetensors  weights (tied LM embeddings stored once)
    tokenizer.json     the report tokenizer (tokenizers library)
    calibration.json   per-label Platt scaling (identity until fitted)
    model_card.json    ModelCard: name, version, intended use, training data, metrics

Nothing is ever fetched from a hub: everything is read from this directory (and, for
``large`` built fresh, from the local pretrained directories its config names).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from inference.backends.base import ModelNotLoaded
from inference.models.calibration import Calibration
from inference.models.config import ReferenceConfig
from inference.models.reference import ReferenceModel
from inference.models.tokenizer import ReportTokenizer
from inference.registry import MODEL_CARD_INTENDED_USE

CONFIG, WEIGHTS, TOKENIZER, CALIBRATION, CARD = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "calibration.json",
    "model_card.json",
)
#: Files :func:`load_reference_model` cannot do without, in the order they are checked.
REQUIRED_FILES = (CONFIG, WEIGHTS, TOKENIZER, CARD)


@dataclass(frozen=True)
class ModelCard:
    """What the model is, written next to its weights and shown with its output."""

    name: str
    version: str
    intended_use: str = MODEL_CARD_INTENDED_USE
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    size: str = ""
    parameters: int = 0
    created: str = ""  # ISO 8601 UTC

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            intended_use=str(data.get("intended_use", MODEL_CARD_INTENDED_USE)),
            training_data=str(data.get("training_data", "")),
            metrics={str(k): float(v) for k, v in dict(data.get("metrics", {})).items()},
            size=str(data.get("size", "")),
            parameters=int(data.get("parameters", 0)),
            created=str(data.get("created", "")),
        )


def save_reference_model(model: ReferenceModel, directory: Path, card: ModelCard) -> Path:
    """Write the model directory (created if needed; files are overwritten). Returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG).write_text(model.config.to_json())
    save_model(model, str(directory / WEIGHTS))
    model.tokenizer.save(directory / TOKENIZER)
    model.calibration.save(directory / CALIBRATION)
    if not card.parameters or not card.created:
        card = ModelCard(
            **{
                **asdict(card),
                "size": card.size or model.config.size,
                "parameters": card.parameters or sum(p.numel() for p in model.parameters()),
                "created": card.created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    (directory / CARD).write_text(card.to_json())
    return directory


def load_reference_model(
    directory: Path, device: torch.device | None = None
) -> tuple[ReferenceModel, ModelCard]:
    """Load a model directory in eval mode.

    Raises:
        ModelNotLoaded: a required file is missing or unreadable; the message reads
            ``model not loaded: <dir> missing config.json``.
    """
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise ModelNotLoaded(f"model not loaded: {directory} missing {name}")
    try:
        # A large model's architecture comes from its pretrained directories, so they must
        # still be there; their weights are then overwritten by the checkpoint's.
        config = ReferenceConfig.load(directory / CONFIG)
        model = ReferenceModel(config, ReportTokenizer.load(directory / TOKENIZER))
        load_model(model, str(directory / WEIGHTS), strict=True)
        card = ModelCard.from_dict(json.loads((directory / CARD).read_text()))
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelNotLoaded(f"model not loaded: {directory} unreadable ({error})") from error
    if (directory / CALIBRATION).is_file():
        model.calibration = Calibration.load(directory / CALIBRATION)
    model.eval()
    return model.to(device or torch.device("cpu")), card
