"""What a study says about one finding: present, uncertain or absent, and on what evidence.

Once a report is signed, the radiologist's text decides (read by the rule labeller, negation
and uncertainty aware); the AI finding is evidence only where the radiologist confirmed it
(accepted/edited) or the signed text states the same finding. Before signing, the AI draft
is all there is, and a finding the radiologist rejected in the current version counts as
absent. Imports no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from inference.labeller import aggregate, label_sentences
from inference.labels import NO_FINDING_COMPATIBLE, Label, Mention
from inference.vqa.types import (
    CONFIRMED_DECISIONS,
    REJECTED_DECISION,
    Evidence,
    FindingRecord,
    Presence,
    Source,
    StudyFacts,
)

_MENTION_PRESENCE: Final = {
    Mention.POSITIVE: Presence.PRESENT,
    Mention.UNCERTAIN: Presence.UNCERTAIN,
    Mention.NEGATIVE: Presence.ABSENT,
}
_SIDE_WORDS: Final = (
    ("bilateral", re.compile(r"\b(?:bilateral\w*|both|bibasilar|bibasal)\b", re.IGNORECASE)),
    ("right", re.compile(r"\bright\b", re.IGNORECASE)),
    ("left", re.compile(r"\bleft\b", re.IGNORECASE)),
)
#: Size words of report text, mapped onto the draft's severity scale.
_SIZE_WORDS: Final = (
    ("severe", re.compile(r"\b(?:large|severe|massive|marked(?:ly)?|extensive|huge)\b", re.I)),
    ("moderate", re.compile(r"\b(?:moderate(?:ly)?|medium)\b", re.I)),
    ("mild", re.compile(r"\b(?:small|mild(?:ly)?|trace|tiny|minimal|slight(?:ly)?)\b", re.I)),
)
_HEADING: Final = re.compile(r"^\s*[A-Z][A-Z ]{2,30}:\s*")  # "FINDINGS: ", "IMPRESSION: "
SEVERITY_RANK: Final = {"mild": 1, "moderate": 2, "severe": 3}


@dataclass(frozen=True)
class LabelState:
    """One finding in one study. ``note`` explains an absence or a disagreement."""

    label: Label
    presence: Presence
    finding: FindingRecord | None  # the AI finding used as evidence, if any
    sentence: str  # the signed report's sentence about it, if any
    note: str = ""

    @property
    def side(self) -> str:
        """ "left", "right", "bilateral" or "" from the AI finding, else the sentence."""
        if self.finding is not None and self.finding.laterality.value:
            return self.finding.laterality.value
        return next((name for name, pat in _SIDE_WORDS if pat.search(self.sentence)), "")

    @property
    def severity(self) -> str:
        """ "mild", "moderate", "severe" or "" from the sentence, else the AI finding."""
        from_text = next((name for name, pat in _SIZE_WORDS if pat.search(self.sentence)), "")
        if from_text:
            return from_text
        if self.finding is not None and self.finding.severity is not None:
            return self.finding.severity.value
        return ""

    @property
    def weight(self) -> float:
        """How sure the study is of it: the AI's confidence, else 1.0 stated / 0.5 hedged."""
        if self.finding is not None:
            return self.finding.confidence
        return 1.0 if self.presence is Presence.PRESENT else 0.5

    def evidence(self, facts: StudyFacts, *, is_prior: bool = False) -> list[Evidence]:
        items = []
        if self.sentence:
            items.append(
                Evidence(
                    label=self.label,
                    source=Source.SIGNED_REPORT,
                    study_uid=facts.study_uid,
                    study_date=facts.study_date,
                    is_prior=is_prior,
                    laterality=self.side,
                    severity=self.severity,
                    sentence=self.sentence,
                )
            )
        if self.finding is not None:
            f = self.finding
            items.append(
                Evidence(
                    label=self.label,
                    source=Source.AI_DRAFT,
                    study_uid=facts.study_uid,
                    study_date=facts.study_date,
                    is_prior=is_prior,
                    confidence=f.confidence,
                    bounding_box=f.box,
                    heatmap=f.heatmap,
                    heatmap_url=f.heatmap_url,
                    laterality=f.laterality.value,
                    severity=f.severity.value if f.severity else "",
                    decision=f.decision,
                )
            )
        return items


class StudyReading:
    """The labeller's reading of a study's signed text, computed once per study."""

    def __init__(self, facts: StudyFacts) -> None:
        self.facts = facts
        text = facts.signed_text or ""
        self.mentions = label_sentences(text) if text.strip() else []
        self.labels = aggregate(self.mentions) if self.mentions else {}
        self.text = text

    def sentence(self, label: Label, mention: Mention) -> str:
        """The first sentence that mentions ``label`` as ``mention``, section heading removed."""
        for item in self.mentions:
            if item.label == label and item.mention is mention:
                return _HEADING.sub("", self.text[item.sentence_start : item.sentence_end])
        return ""

    def state(self, label: Label) -> LabelState:
        if self.facts.is_signed:
            return self._signed_state(label)
        return self._draft_state(label)

    def _signed_state(self, label: Label) -> LabelState:
        mention = self.labels.get(label)
        finding = self.facts.finding(label)
        sentence = self.sentence(label, mention) if mention is not None else ""
        stated = mention in (Mention.POSITIVE, Mention.UNCERTAIN)
        confirmed = finding is not None and (
            finding.decision in CONFIRMED_DECISIONS
            or (stated and finding.decision != REJECTED_DECISION)
        )
        shown = finding if confirmed else None
        if mention is not None:
            return LabelState(label, _MENTION_PRESENCE[mention], shown, sentence)
        if shown is not None:
            return LabelState(label, Presence.PRESENT, shown, "", "confirmed by the radiologist")
        if self.labels.get(Label.NO_FINDING) is Mention.POSITIVE:
            return LabelState(
                label, Presence.ABSENT, None, "", "the signed report describes no abnormality"
            )
        return LabelState(label, Presence.ABSENT, None, "", "the signed report does not mention it")

    def _draft_state(self, label: Label) -> LabelState:
        finding = self.facts.finding(label)
        if finding is None:
            return LabelState(
                label, Presence.ABSENT, None, "", "the AI draft does not report it above threshold"
            )
        if finding.decision == REJECTED_DECISION:
            return LabelState(
                label, Presence.ABSENT, finding, "", "the radiologist rejected the AI finding"
            )
        return LabelState(label, Presence.PRESENT, finding, "")

    def abnormal(self) -> list[LabelState]:
        """Every finding present or uncertain in the study ("No Finding" and devices aside)."""
        candidates = {f.label for f in self.facts.findings} | set(self.labels)
        states = [self.state(label) for label in Label if label in candidates]
        return [
            s
            for s in states
            if s.presence is not Presence.ABSENT and s.label not in NO_FINDING_COMPATIBLE
        ]

    def other_abnormality(self) -> str:
        """A signed-text abnormality outside the 14 labels ("scoliosis"), or ""."""
        for item in self.mentions:
            if item.label is None and item.mention is not Mention.NEGATIVE:
                return item.phrase
        return ""
