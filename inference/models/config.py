"""The reference model's architecture as a JSON-serialisable value. Imports no torch, no Django.

It is written as ``config.json`` in a model directory and is all :func:`from_pretrained` needs
to rebuild the network before loading its weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from inference.labels import LABELS

CONFIG_VERSION = 1


@dataclass(frozen=True)
class ReferenceConfig:
    """Sizes of the vision encoder, projector, language model and detection head."""

    size: str = "tiny"  # registry key this config came from
    image_size: int = 64  # model input side in pixels (letterboxed square)
    encoder: str = "cnn"  # "cnn" (trained from scratch) or "vit" (transformers ViT)
    encoder_channels: tuple[int, ...] = (16, 32)  # cnn: one stride-2 stage each
    vit_hidden: int = 192
    vit_layers: int = 4
    vit_heads: int = 3
    vit_patch: int = 16
    image_tokens_side: int = 4  # the feature map is pooled to side x side image tokens
    lm_embd: int = 64
    lm_layers: int = 2
    lm_heads: int = 2
    lm_positions: int = 256
    vocab_size: int = 1024  # size the report tokenizer is trained to
    max_prompt_tokens: int = 64  # age, sex, smoking, five labs/vitals and an indication
    max_report_tokens: int = 128
    dropout: float = 0.1
    # The detection head reads the clinical context's mean token embedding layer-normalised
    # (no parameters): raw GPT-2 embeddings are ~0.02 in size, too small for the head to learn
    # the labs in the few steps it trains. False for checkpoints saved before it existed.
    context_norm: bool = True
    encoder_dir: str = ""  # large: local directory of a pretrained transformers ViT
    lm_dir: str = ""  # large: local directory of a pretrained GPT-2 (with tokenizer.json)
    labels: tuple[str, ...] = tuple(label.value for label in LABELS)
    config_version: int = CONFIG_VERSION

    @property
    def num_image_tokens(self) -> int:
        return self.image_tokens_side**2

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceConfig:
        """Rebuild from :meth:`to_json`'s output; unknown keys are ignored, lists become
        tuples. Raises ``ValueError`` when the label order differs from ``LABELS``."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        values.setdefault("context_norm", False)  # saved before the field existed
        config = replace(cls(), **values)
        if config.labels != tuple(label.value for label in LABELS):
            raise ValueError("checkpoint label order differs from inference.labels.LABELS")
        return config

    @classmethod
    def load(cls, path: Path) -> ReferenceConfig:
        return cls.from_dict(json.loads(path.read_text()))
