"""The values VQA reads and writes: one study's facts in, an answer with its evidence out.

The Django edge builds :class:`StudyFacts` from the stored AI draft, the signed report and
the radiologist's per-finding decisions; the engine never touches the database. Imports no
Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inference.labels import Label
from inference.types import Laterality, Severity

#: Per-finding decisions that mean a radiologist confirmed the AI finding (reports.Decision).
CONFIRMED_DECISIONS = frozenset({"accepted", "edited", "added"})
REJECTED_DECISION = "rejected"


class Intent(StrEnum):
    """What a question asks."""

    PRESENCE = "presence"  # "is there a pleural effusion?"
    LOCATION = "location"  # "where is the effusion?", "which side?"
    SEVERITY = "severity"  # "how large is it?", "is it severe?"
    CHANGE = "change"  # "has the nodule grown since the prior?"
    MOST_URGENT = "most_urgent"  # "what is the most urgent finding?"
    NORMAL = "normal"  # "is this normal?"
    UNANSWERABLE = "unanswerable"


class Source(StrEnum):
    """Where a piece of evidence comes from."""

    AI_DRAFT = "ai_draft"  # the model's structured finding (confidence, box, heatmap)
    SIGNED_REPORT = "signed_report"  # a sentence of the radiologist's signed text


class Presence(StrEnum):
    PRESENT = "present"
    UNCERTAIN = "uncertain"
    ABSENT = "absent"


@dataclass(frozen=True)
class FindingRecord:
    """One AI finding as stored with the draft (``reports.AiDraft.findings``).

    ``box`` is ``(x0, y0, x1, y1)`` in original image pixels. ``decision`` is the
    radiologist's verdict on it in the newest (or signed) version: "proposed", "accepted",
    "edited", "rejected", or ``None`` when no decision row exists.
    """

    label: Label
    confidence: float  # 0..1, the model's calibrated probability
    laterality: Laterality = Laterality.NONE
    severity: Severity | None = None
    box: tuple[int, int, int, int] | None = None
    heatmap: str | None = None  # overlay file name
    heatmap_url: str | None = None  # where the browser fetches it, when the edge knows
    is_critical: bool = False
    decision: str | None = None


@dataclass(frozen=True)
class StudyFacts:
    """What is known about one study.

    ``signed_text`` is ``None`` until the report is signed; then it is the signed sections
    and addenda as one text. ``has_draft`` says whether an AI draft exists at all (an empty
    ``findings`` with a draft means the model found nothing above its thresholds).
    """

    study_uid: str
    study_date: str = ""  # ISO date or ""
    findings: tuple[FindingRecord, ...] = ()
    has_draft: bool = False
    signed_text: str | None = None
    model_name: str = ""
    model_version: str = ""
    demonstration: bool = False

    @property
    def is_signed(self) -> bool:
        return self.signed_text is not None

    def finding(self, label: Label) -> FindingRecord | None:
        return next((f for f in self.findings if f.label == label), None)


@dataclass(frozen=True)
class Evidence:
    """One thing an answer rests on, with what the viewer needs to draw it."""

    label: Label
    source: Source
    study_uid: str
    study_date: str = ""
    is_prior: bool = False
    confidence: float | None = None
    bounding_box: tuple[int, int, int, int] | None = None
    heatmap: str | None = None
    heatmap_url: str | None = None
    laterality: str = ""
    severity: str = ""
    sentence: str = ""  # the signed report's sentence, for SIGNED_REPORT evidence
    decision: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label.value,
            "source": self.source.value,
            "study_uid": self.study_uid,
            "study_date": self.study_date,
            "is_prior": self.is_prior,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "bounding_box": list(self.bounding_box) if self.bounding_box else None,
            "heatmap": self.heatmap,
            "heatmap_url": self.heatmap_url,
            "laterality": self.laterality,
            "severity": self.severity,
            "sentence": self.sentence,
            "decision": self.decision,
        }


@dataclass(frozen=True)
class Answer:
    """An answer to one question about one study.

    ``answerable`` is False when the study cannot answer it; ``reason`` then says why, and
    ``text`` starts "I cannot answer that from this study". ``answered_by`` is "structured"
    (the findings and the labeller) or "vlm" (an image-text model's own words, with the
    structured evidence attached). ``notice`` labels AI output ("demonstration model, not for
    clinical use").
    """

    question: str
    intent: Intent
    labels: tuple[Label, ...]
    text: str
    answerable: bool
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""
    prior_study_uid: str = ""
    prior_study_date: str = ""
    answered_by: str = "structured"
    model: str = ""
    notice: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "intent": self.intent.value,
            "labels": [label.value for label in self.labels],
            "answer": self.text,
            "answerable": self.answerable,
            "reason": self.reason,
            "evidence": [e.as_dict() for e in self.evidence],
            "prior": (
                {"study_uid": self.prior_study_uid, "study_date": self.prior_study_date}
                if self.prior_study_uid
                else None
            ),
            "answered_by": self.answered_by,
            "model": self.model,
            "notice": self.notice,
        }
