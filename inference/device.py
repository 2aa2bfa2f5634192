"""The one place that decides which device a model runs on. Imports no Django."""

from __future__ import annotations

import torch


def select_device(preferred: str | None = None) -> torch.device:
    """The device to run models on: ``preferred`` if given and usable, else CUDA when
    available, else the CPU.

    Args:
        preferred: a torch device string ("cpu", "cuda", "cuda:1") or ``None``/"" for auto.

    Raises:
        ValueError: ``preferred`` names CUDA but no CUDA device is available, or is not a
            device string torch understands.
    """
    if preferred:
        try:
            device = torch.device(preferred)
        except RuntimeError as error:
            raise ValueError(f"not a device: {preferred!r}") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {preferred!r} requested but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
