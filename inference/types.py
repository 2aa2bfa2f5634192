"""Typed, frozen values that cross the boundaries of the inference core. Imports no Django.

Arrays are numpy; each field's comment gives its shape, dtype and range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from inference.labels import Label


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class Laterality(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    NONE = ""


@dataclass(frozen=True)
class ClinicalContext:
    """What the requester knows about the patient; every field may be missing."""

    age_years: int | None = None
    sex: str = ""  # "M", "F", "O" or ""
    indication: str = ""
    history: str = ""
    prior_studies: tuple[str, ...] = ()  # short descriptions of prior studies

    def as_prompt(self) -> str:
        """The context as the prompt text a drafting model is conditioned on."""
        parts = []
        if self.age_years is not None:
            parts.append(f"age {self.age_years}")
        if self.sex:
            parts.append({"M": "male", "F": "female"}.get(self.sex.upper(), self.sex))
        if self.indication:
            parts.append(f"indication: {self.indication}")
        if self.history:
            parts.append(f"history: {self.history}")
        if self.prior_studies:
            parts.append("priors: " + "; ".join(self.prior_studies))
        return ", ".join(parts) if parts else "no clinical information"


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for a model, with what is needed to map results back to it."""

    pixels: NDArray[np.float32]  # (size, size), float32, 0..1, display orientation (0 = black)
    original_shape: tuple[int, int]  # (rows, columns) of the stored image
    scale: float  # model pixels per original pixel (same on both axes; letterboxed)
    offset: tuple[int, int]  # (row, column) of the original image's corner in ``pixels``
    sop_uid: str = ""
    view_position: str = ""


@dataclass(frozen=True)
class Finding:
    """One detected finding, in original-image pixel coordinates."""

    label: Label
    confidence: float  # calibrated probability, 0..1
    severity: Severity | None = None
    laterality: Laterality = Laterality.NONE
    box: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1), original image pixels
    is_critical: bool = False
    heatmap: NDArray[np.float32] | None = field(default=None, compare=False)  # (rows, cols) 0..1
    context_contribution: float | None = None  # probability change when context is removed


@dataclass(frozen=True)
class Sentence:
    """A sentence of a draft with where it came from (provenance)."""

    text: str
    section: str  # "findings" | "impression" | "recommendations"
    label: Label | None = None  # the finding it states, None for a normal-region statement
    source: str = ""  # e.g. "iu-xray:CXR1234" or "generated"


@dataclass(frozen=True)
class Draft:
    """A drafted report for one study; produced by a model, signed only by a person."""

    findings: tuple[Finding, ...]
    sentences: tuple[Sentence, ...]
    model_name: str
    model_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    def section(self, name: str) -> str:
        return " ".join(s.text for s in self.sentences if s.section == name)

    @property
    def findings_text(self) -> str:
        return self.section("findings")

    @property
    def impression(self) -> str:
        return self.section("impression")

    @property
    def recommendations(self) -> str:
        return self.section("recommendations")
