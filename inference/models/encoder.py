"""Vision encoders of the reference model. Each exposes ``feature_layer``: the module whose
output is the last spatial feature map (batch, channels, h, w), the layer Grad-CAM reads.
Imports no Django.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.models.config import ReferenceConfig


class ConvEncoder(nn.Module):
    """A small CNN: per stage a stride-2 3x3 conv and a 3x3 conv, BatchNorm and GELU (ReLU
    after the last stage). BatchNorm, not GroupNorm: per-image normalisation followed by
    global average pooling leaves the pooled features nearly constant (measured: the tiny
    model could not learn a lesion with GroupNorm).

    Input (batch, 1, S, S) normalised pixels; output (batch, C, S / 2^stages, ...).
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        previous = 1
        for index, width in enumerate(channels):
            last = index == len(channels) - 1
            stages.append(
                nn.Sequential(
                    nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.GELU(),
                    nn.Conv2d(width, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    # Non-negative last features: Grad-CAM's weighted sum then localises
                    # (a GELU's negative tail made the maps flat and negative).
                    nn.ReLU() if last else nn.GELU(),
                )
            )
            previous = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels[-1]

    @property
    def feature_layer(self) -> nn.Module:
        return self.stages[-1]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.stages(pixels)


class ViTEncoder(nn.Module):
    """A transformers ViT (built from a config, or loaded from a local directory); the
    patch tokens are reshaped into a (batch, hidden, side, side) map by ``spatial``."""

    def __init__(self, config: ReferenceConfig) -> None:
        super().__init__()
        from transformers import ViTConfig, ViTModel

        if config.encoder_dir:
            self.vit = ViTModel.from_pretrained(
                Path(config.encoder_dir), local_files_only=True, add_pooling_layer=False
            )
        else:
            built = ViTConfig(
                image_size=config.image_size,
                patch_size=config.vit_patch,
                num_channels=1,
                hidden_size=config.vit_hidden,
                num_hidden_layers=config.vit_layers,
                num_attention_heads=config.vit_heads,
                intermediate_size=4 * config.vit_hidden,
            )
            self.vit = ViTModel(built, add_pooling_layer=False)
        vit_config: Any = self.vit.config
        self.channels_in = int(vit_config.num_channels)
        self.side = int(vit_config.image_size) // int(vit_config.patch_size)
        self.out_channels = int(vit_config.hidden_size)
        self.spatial = nn.Identity()

    @property
    def feature_layer(self) -> nn.Module:
        return self.spatial

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.channels_in != pixels.shape[1]:
            pixels = pixels.expand(-1, self.channels_in, -1, -1)
        tokens = self.vit(pixel_values=pixels).last_hidden_state[:, 1:]  # drop [CLS]
        batch, _count, hidden = tokens.shape
        grid = tokens.transpose(1, 2).reshape(batch, hidden, self.side, self.side)
        return self.spatial(grid)


def build_encoder(config: ReferenceConfig) -> ConvEncoder | ViTEncoder:
    """The encoder ``config.encoder`` names. Raises ``ValueError`` for an unknown kind."""
    if config.encoder == "cnn":
        return ConvEncoder(config.encoder_channels)
    if config.encoder == "vit":
        return ViTEncoder(config)
    raise ValueError(f"unknown encoder kind {config.encoder!r}")
