"""Live QA of the text a radiologist is typing against the AI draft's detected findings.

The report editor sends its current sections (debounced) and shows what comes back, e.g.
"You wrote "No pneumothorax." but the model found Pneumothorax at 0.93". The check is
``inference.qa.qa_check`` (the rule labeller re-read of the text, compared with the detection
head on the deployment's critical labels), the same check the drafting pipeline runs on the
AI's own text; this module adds where in which section the offending sentence is, so the
editor can select it. A selector: it reads, never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.labeller import label_sentences
from inference.labels import Label, Mention
from inference.qa import QaFlag, QaFlagKind, qa_check
from inference.services import critical_labels
from inference.types import Finding
from reports.models import AiDraft, Report

SECTIONS = ("findings", "impression", "recommendations")
_LABEL_VALUES = frozenset(label.value for label in Label)


@dataclass(frozen=True)
class Quote:
    section: str  # findings | impression | recommendations
    start: int  # character offsets of the sentence within its section
    end: int
    text: str


@dataclass(frozen=True)
class LiveFlag:
    flag: QaFlag
    confidence: float | None  # the model's confidence for the label, None when not proposed
    quote: Quote | None  # the sentence that states (or negates, or hedges) the label
    message: str  # for the radiologist, in the second person

    def as_dict(self) -> dict[str, Any]:
        quote = self.quote
        return {
            **self.flag.as_dict(),
            "confidence": self.confidence,
            "message": self.message,
            "quote": None
            if quote is None
            else {
                "section": quote.section,
                "start": quote.start,
                "end": quote.end,
                "text": quote.text,
            },
        }


@dataclass(frozen=True)
class LiveQa:
    requires_radiologist_review: bool
    flags: tuple[LiveFlag, ...]
    checked_labels: tuple[str, ...]  # the critical labels the check covers
    has_ai_findings: bool  # False: the report has no AI draft to compare with


def _draft_findings(report: Report) -> tuple[Finding, ...]:
    detail = AiDraft.objects.filter(version__report=report).only("findings").first()
    if detail is None:
        return ()
    return tuple(
        Finding(label=Label(f["label"]), confidence=float(f["confidence"]))
        for f in detail.findings
        if f.get("label") in _LABEL_VALUES
    )


_WANTED = {
    QaFlagKind.NEGATED: Mention.NEGATIVE,
    QaFlagKind.UNSUPPORTED: Mention.POSITIVE,
    QaFlagKind.HEDGED: Mention.UNCERTAIN,
    QaFlagKind.HEDGED_UNSUPPORTED: Mention.UNCERTAIN,
}


def _quote(sections: dict[str, str], label: Label, mention: Mention) -> Quote | None:
    """The first sentence, in section order, mentioning ``label`` the way the flag says."""
    for section in SECTIONS:
        text = sections[section]
        for item in label_sentences(text):
            if item.label is label and item.mention is mention:
                sentence = text[item.sentence_start : item.sentence_end]
                return Quote(section, item.sentence_start, item.sentence_end, sentence)
    return None


def _message(flag: QaFlag, confidence: float | None, quote: Quote | None) -> str:
    name = flag.label.value
    found = f"the model found {name} at {confidence:.2f}" if confidence is not None else ""
    said = f'You wrote "{quote.text}"' if quote else "Your text"
    if flag.kind is QaFlagKind.OMITTED:
        return f"{found[0].upper()}{found[1:]}, but your text does not mention it."
    if flag.kind is QaFlagKind.NEGATED:
        return f"{said} but {found}."
    if flag.kind is QaFlagKind.HEDGED:
        return f"{said} (a hedge); {found}."
    head = (
        f"the model scored {name} only {confidence:.2f}"
        if confidence is not None
        else f"the model did not detect {name}"
    )
    if flag.kind is QaFlagKind.UNSUPPORTED:
        return f"{said} but {head}."
    return f"{said} (raised as possible); {head}."


def report_text_qa(
    *, report: Report, findings: str, impression: str, recommendations: str
) -> LiveQa:
    """QA flags for the given sections of ``report`` against its AI draft's findings."""
    detected = _draft_findings(report)
    sections = {"findings": findings, "impression": impression, "recommendations": recommendations}
    critical = critical_labels()
    text = "\n\n".join(part for part in (findings, impression, recommendations) if part)
    result = qa_check(detected, text, critical=critical)
    best: dict[Label, float] = {}
    for finding in detected:
        best[finding.label] = max(best.get(finding.label, 0.0), finding.confidence)
    flags = []
    for flag in result.flags:
        mention = _WANTED.get(flag.kind)
        quote = _quote(sections, flag.label, mention) if mention is not None else None
        confidence = best.get(flag.label)
        flags.append(LiveFlag(flag, confidence, quote, _message(flag, confidence, quote)))
    return LiveQa(
        requires_radiologist_review=result.requires_radiologist_review,
        flags=tuple(flags),
        checked_labels=tuple(sorted(label.value for label in critical)),
        has_ai_findings=bool(detected),
    )
