"""Shared by the training commands: register the model a run just saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.db import DatabaseError

from inference.model_registry.services import model_version_register
from inference.model_registry.weights import RegistryError


def register_trained(model_dir: Path, write: Callable[[str], None]) -> bool:
    """Register a freshly trained model (same name and version re-trained replaces an
    unpromoted row). Failure does not lose the model: the message says how to register it
    later. Returns whether it was registered."""
    try:
        row, created = model_version_register(model_dir=model_dir, replace=True)
    except (RegistryError, DatabaseError) as error:
        write(
            f"model saved in {model_dir} but NOT registered ({error}); after fixing that run "
            f"`python manage.py register_model --model-dir {model_dir}`"
        )
        return False
    verb = "registered" if created else "already registered; updated"
    write(f"{row.key} {verb} in the model registry (sha256 {row.sha256[:12]}..., {row.status})")
    return True
