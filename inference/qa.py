"""QA of report text against the detection head: discrepancy flags and hallucinations.

The rule labeller (:mod:`inference.labeller`) reads a text (an AI draft or a radiologist's
signed report) and its reading is compared, label by label, with what the detection head
found. For a *critical* label:

* the head detects it and the text omits it -> ``OMITTED``, review required;
* the head detects it and the text negates it -> ``NEGATED``, review required;
* the text asserts it and the head did not detect it -> ``UNSUPPORTED``, review required.

Uncertain mentions are handled deliberately. A hedge ("cannot exclude a pneumothorax",
"possible nodule") neither confirms nor contradicts the head: it raises the finding without
committing to it, which is a reader's legitimate judgement. So a hedged critical label yields
an informational flag (``HEDGED`` when the head detected it, ``HEDGED_UNSUPPORTED`` when it did
not) that is shown but does not by itself require review. This differs on purpose from
evaluation, where CheXpert counts uncertain as positive. :func:`hallucinations` likewise counts
only POSITIVE statements.

What counts as "detected": with ``threshold=None`` every finding passed in is a detection (the
caller passes the head's thresholded findings); with a threshold (one number, or one per
label) a finding is a detection when its confidence reaches it, so the caller may pass the
head's full output. Imports no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from inference.labeller import label_report
from inference.labels import LABELS, Label, Mention
from inference.types import Finding

Threshold = float | Mapping[Label, float] | None


class QaFlagKind(StrEnum):
    OMITTED = "omitted"
    NEGATED = "negated"
    UNSUPPORTED = "unsupported"
    HEDGED = "hedged"
    HEDGED_UNSUPPORTED = "hedged_unsupported"


#: Kinds that require a radiologist's review before the text may stand.
BLOCKING_KINDS = frozenset({QaFlagKind.OMITTED, QaFlagKind.NEGATED, QaFlagKind.UNSUPPORTED})


@dataclass(frozen=True)
class QaFlag:
    """One disagreement between the text and the detection head on one label."""

    kind: QaFlagKind
    label: Label
    detail: str  # for people: "Pneumothorax: detected (0.91) but the text negates it"

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING_KINDS

    def as_dict(self) -> dict[str, str | bool]:
        """The JSON shape of the report API's ``qa_flags`` entries."""
        return {
            "kind": self.kind.value,
            "label": self.label.value,
            "detail": self.detail,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class QaResult:
    requires_radiologist_review: bool
    flags: tuple[QaFlag, ...]  # in LABELS order, at most one per label


def _threshold(threshold: Threshold, label: Label) -> float:
    if threshold is None:
        return 0.0
    if isinstance(threshold, Mapping):
        return float(threshold.get(label, 0.5))
    return float(threshold)


def detections(findings: Iterable[Finding], *, threshold: Threshold = None) -> dict[Label, float]:
    """``{label: highest confidence}`` of the findings that count as detected."""
    detected: dict[Label, float] = {}
    for finding in findings:
        if finding.confidence >= _threshold(threshold, finding.label):
            detected[finding.label] = max(detected.get(finding.label, 0.0), finding.confidence)
    return detected


def _best_confidence(findings: Iterable[Finding], label: Label) -> float | None:
    values = [f.confidence for f in findings if f.label is label]
    return max(values) if values else None


def qa_check(
    findings: Sequence[Finding],
    text: str,
    *,
    critical: frozenset[Label],
    threshold: Threshold = None,
) -> QaResult:
    """Compare ``text`` with the detection head on the ``critical`` labels.

    Args:
        findings: the head's findings (see the module docstring for ``threshold``).
        text: the report text to check, typically findings + impression. Recommendations may
            be included: their rule sentences never assert a finding.
        critical: the labels whose disagreement matters (a deployment's critical set).
        threshold: None (every finding is a detection), a number, or per-label numbers
            (labels missing from the mapping use 0.5).

    Returns:
        The flags, and ``requires_radiologist_review`` when any flag is blocking.
    """
    detected = detections(findings, threshold=threshold)
    reading = label_report(text)
    flags: list[QaFlag] = []
    for label in LABELS:
        if label not in critical or label is Label.NO_FINDING:
            continue
        mention = reading.get(label)
        name = label.value
        if label in detected:
            seen = f"{name}: detected ({detected[label]:.2f})"
            if mention is None:
                flags.append(QaFlag(QaFlagKind.OMITTED, label, f"{seen} but the text omits it"))
            elif mention is Mention.NEGATIVE:
                flags.append(QaFlag(QaFlagKind.NEGATED, label, f"{seen} but the text negates it"))
            elif mention is Mention.UNCERTAIN:
                flags.append(QaFlag(QaFlagKind.HEDGED, label, f"{seen}; the text only hedges"))
            continue
        confidence = _best_confidence(findings, label)
        head = f"below threshold ({confidence:.2f})" if confidence is not None else "not detected"
        if mention is Mention.POSITIVE:
            detail = f"{name}: the text asserts it but the detection head is {head}"
            flags.append(QaFlag(QaFlagKind.UNSUPPORTED, label, detail))
        elif mention is Mention.UNCERTAIN:
            detail = f"{name}: the text raises it as possible; the detection head is {head}"
            flags.append(QaFlag(QaFlagKind.HEDGED_UNSUPPORTED, label, detail))
    return QaResult(
        requires_radiologist_review=any(flag.blocking for flag in flags), flags=tuple(flags)
    )


def hallucinations(
    findings: Sequence[Finding], text: str, *, threshold: Threshold = None
) -> tuple[Label, ...]:
    """Labels the text states as POSITIVE without a detection, in :data:`LABELS` order.

    "No Finding" is never one. Uncertain statements are not counted (see the module
    docstring). The dashboard's hallucination rate is the share of reports with any.
    """
    detected = detections(findings, threshold=threshold)
    reading = label_report(text)
    return tuple(
        label
        for label in LABELS
        if label is not Label.NO_FINDING
        and reading.get(label) is Mention.POSITIVE
        and label not in detected
    )
