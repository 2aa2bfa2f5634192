"""Typed, frozen values that cross the boundaries of the inference core. Imports no Django.

Arrays are numpy; each field's comment gives its shape, dtype and range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

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


#: The labs and vital signs a prompt names, in prompt order, with their default adult
#: reference range in the fusion catalogue's UCUM unit (``inference.fusion.inputs``). The
#: ranges are the clinical catalogue's defaults (``workstation.clinical.codes``; a test keeps
#: them equal); a value recorded with an HL7 abnormal flag is flagged as recorded instead.
PROMPT_LAB_RANGES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "crp": (0.0, 5.0),  # mg/L
        "wbc": (4.0, 11.0),  # 10*9/L
        "procalcitonin": (0.0, 0.5),  # ng/mL
        "spo2": (94.0, 100.0),  # %
        "temperature": (36.1, 37.8),  # Cel
    }
)
#: The words a lab flag is written as in the prompt.
LAB_FLAG_WORDS: Final = ("high", "low", "normal", "abnormal")
_HL7_FLAGS: Final = {"H": "high", "HH": "high", "L": "low", "LL": "low", "N": "normal"}
#: The words a smoking status is written as in the prompt.
SMOKING_WORDS: Final[Mapping[str, str]] = MappingProxyType(
    {"current": "current smoker", "former": "former smoker", "never": "never smoker"}
)


def lab_flag(code: str, value: float, abnormal_flag: str = "") -> str:
    """ "high", "low", "normal" or "abnormal" for one value of ``PROMPT_LAB_RANGES[code]``:
    its HL7 table 0078 flag when recorded ("A" is "abnormal"), else its default range."""
    recorded = abnormal_flag.strip().upper()
    if recorded in _HL7_FLAGS:
        return _HL7_FLAGS[recorded]
    if recorded:
        return "abnormal"
    low, high = PROMPT_LAB_RANGES[code]
    return "high" if value > high else "low" if value < low else "normal"


def lab_terms(
    values: Mapping[str, float], flags: Mapping[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    """``(code, flag)`` pairs for :attr:`ClinicalContext.labs`, in ``PROMPT_LAB_RANGES``
    order; codes outside it are left out. ``values`` are in the catalogue's units;
    ``flags`` are the HL7 abnormal flags recorded with them (missing or "" = from the range)."""
    flags = flags or {}
    return tuple(
        (code, lab_flag(code, values[code], flags.get(code, "")))
        for code in PROMPT_LAB_RANGES
        if code in values
    )


@dataclass(frozen=True)
class ClinicalContext:
    """What the requester knows about the patient; every field may be missing."""

    age_years: int | None = None
    sex: str = ""  # "M", "F", "O" or ""
    indication: str = ""
    history: str = ""
    prior_studies: tuple[str, ...] = ()  # short descriptions of prior studies
    smoking: str = ""  # "current", "former", "never" or ""
    labs: tuple[tuple[str, str], ...] = ()  # (code, flag) from :func:`lab_terms`

    def as_prompt(self) -> str:
        """The context as the prompt text a drafting model is conditioned on.

        Labs and vitals come before the free texts, so that a prompt cut at the model's
        ``max_prompt_tokens`` loses the long history rather than them; e.g.
        ``"age 71, male, current smoker, labs: crp high, wbc high, spo2 low, indication: cough"``.
        """
        parts = []
        if self.age_years is not None:
            parts.append(f"age {self.age_years}")
        if self.sex:
            parts.append({"M": "male", "F": "female"}.get(self.sex.upper(), self.sex))
        if self.smoking in SMOKING_WORDS:
            parts.append(SMOKING_WORDS[self.smoking])
        if self.labs:
            parts.append("labs: " + ", ".join(f"{code} {flag}" for code, flag in self.labs))
        if self.indication:
            parts.append(f"indication: {self.indication}")
        if self.history:
            parts.append(f"history: {self.history}")
        if self.prior_studies:
            parts.append("priors: " + "; ".join(self.prior_studies))
        return ", ".join(parts) if parts else "no clinical information"


def prompt_vocabulary() -> tuple[str, ...]:
    """Prompt fragments with every lab, flag and smoking word :meth:`ClinicalContext.as_prompt`
    can write: a report tokenizer is trained on them too, so these words are whole tokens.
    Ages, sexes and free text are left to the training texts (adding sample ages there made
    whole-number age tokens the detection head could memorise)."""
    labs = [
        ClinicalContext(labs=tuple((code, flag) for code in PROMPT_LAB_RANGES)).as_prompt()
        for flag in LAB_FLAG_WORDS
    ]
    return (*labs, ", ".join(SMOKING_WORDS.values()))


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
