"""The one interface every drafting backend implements. Imports no Django."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from inference.types import ClinicalContext, Draft, PreparedImage


class ModelNotLoaded(RuntimeError):
    """A backend's model could not be loaded; the message names what is missing, e.g.
    ``model not loaded: /models/x missing config.json``."""


class NoFrontalImage(ValueError):
    """The study has no frontal chest radiograph to draft from."""


@dataclass(frozen=True)
class StudyInput:
    """Everything a backend may use to draft one study (loaded by the Django edge)."""

    study_uid: str
    images: tuple[PreparedImage, ...]  # the frontal image first; lateral after, if any
    context: ClinicalContext = field(default_factory=ClinicalContext)
    report_template: str = ""
    confidence_threshold: float | None = None  # None: the registry's per-label thresholds


@runtime_checkable
class Backend(Protocol):
    """A drafting model. Instances are loaded once per worker process and reused."""

    name: str  # registry key, e.g. "reference"
    version: str  # model version written into every draft

    def predict(self, study: StudyInput) -> Draft:
        """Draft one study. Raises ``NoFrontalImage`` or ``ModelNotLoaded``."""
        ...

    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Draft several studies in one forward pass where the model allows it."""
        ...
