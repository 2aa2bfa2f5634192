"""What fusion decides about a label at its operating threshold, and the sentence that says so.

The image backend reports a label when its probability reaches the label's operating
threshold (``inference.registry.threshold_for``: the request's override, else the backend's
own, else the registry default). Fusion may move a label across that threshold:

* **raised**: the image backend did not report it, its context-adjusted probability reaches
  the threshold: the draft gains the finding, its confidence the adjusted probability, its
  sentence sourced :data:`CONTEXT_SOURCE`;
* **lowered**: the image backend reported it, its adjusted probability is below the
  threshold: the finding is kept (what the image saw is never deleted; the radiologist
  decides), marked, with a sentence saying so.

Only a fitted label model moves a label: a pass-through label keeps the image's decision.
The sentences state the label positively (the rule labeller reads them as present), so QA
counts the finding as both detected and stated. Imports no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

from inference.backends.base import StudyInput
from inference.fusion.model import FusedFinding
from inference.labels import LABELS, Label
from inference.registry import severity_for, threshold_for
from inference.types import Draft, Finding, Sentence

#: ``Sentence.source`` of the sentences fusion adds to a draft.
CONTEXT_SOURCE: Final = "context-fusion"


class ContextEffect(StrEnum):
    """How the clinical context moved a label relative to its operating threshold."""

    RAISED = "raised"  # below threshold on the image alone, at or above it with context
    LOWERED = "lowered"  # reported by the image backend, below threshold with context
    NONE = ""  # same side of the threshold (or the label model is not fitted)


def context_effect(fused: FusedFinding, *, reported: bool, threshold: float) -> ContextEffect:
    """The effect of context on one label.

    Args:
        fused: the label's fusion result.
        reported: whether the image backend reported the label as a finding.
        threshold: the label's operating threshold (probability, 0..1).
    """
    if not fused.fitted:
        return ContextEffect.NONE
    above = fused.adjusted_probability >= threshold
    if above and not reported:
        return ContextEffect.RAISED
    if reported and not above:
        return ContextEffect.LOWERED
    return ContextEffect.NONE


def _because(evidence: Sequence[str]) -> str:
    return f" ({', '.join(evidence)})" if evidence else ""


def raised_sentence(
    label: Label, fused: FusedFinding, threshold: float, evidence: Sequence[str] = ()
) -> str:
    """The findings sentence of a label raised by context, e.g. "Pneumonia, raised by the
    clinical context to 0.71 (C-reactive protein 180 mg/L); image alone 0.38, operating
    threshold 0.50." ``evidence`` names the inputs that raised it, largest first."""
    return (
        f"{label.value}, raised by the clinical context to {fused.adjusted_probability:.2f}"
        f"{_because(evidence)}; image alone {fused.image_probability:.2f}, operating threshold "
        f"{threshold:.2f}."
    )


def raised_impression(label: Label, evidence: Sequence[str] = ()) -> str:
    """The impression sentence of a label raised by context, e.g. "Pneumonia, given the
    clinical context (C-reactive protein 180 mg/L)." It states the label positively (a
    hedge such as "favoured" reads as uncertain to the labeller and QA)."""
    return f"{label.value}, given the clinical context{_because(evidence)}."


def lowered_sentence(
    label: Label, fused: FusedFinding, threshold: float, evidence: Sequence[str] = ()
) -> str:
    """The findings sentence of a reported label the context lowers below its threshold; the
    finding stays in the draft for the radiologist to decide."""
    return (
        f"{label.value} on the image ({fused.image_probability:.2f}), lowered by the clinical "
        f"context to {fused.adjusted_probability:.2f}{_because(evidence)}; operating threshold "
        f"{threshold:.2f}, kept for the radiologist to decide."
    )


def operating_threshold(label: Label, *, backend: object, study_input: StudyInput) -> float:
    """The threshold the image backend reports ``label`` at: the request's override, else
    the backend's own per-label ``thresholds``, else the registry default."""
    override = study_input.confidence_threshold
    if override is None:
        override = (getattr(backend, "thresholds", None) or {}).get(label)
    return threshold_for(label, override)


def evidence_names(evidence: Sequence[dict[str, Any]], *, sign: float, limit: int = 3) -> list[str]:
    """Up to ``limit`` context values (e.g. "C-reactive protein 180 mg/L") that moved a
    finding in the direction of ``sign`` (+1 raised, -1 lowered), from evidence entries as
    ``workstation.clinical.analysis`` builds them (sorted by |contribution_logit|). Free
    text is named, not quoted; the prior study is left out (it is the comparison's)."""
    names: list[str] = []
    for item in evidence:
        if item["contribution_logit"] * sign <= 0 or item["code"] == "prior":
            continue
        shown = f"{item['display']} {item['value']} {item['unit']}".strip()
        if item["code"] in ("history", "indication") or len(shown) > 60:
            shown = str(item["display"])
        if shown not in names:
            names.append(shown)
    return names[:limit]


def context_decisions(
    *,
    draft: Draft,
    fused: Mapping[Label, FusedFinding],
    evidence: Mapping[Label, Sequence[dict[str, Any]]],
    thresholds: Mapping[Label, float],
    critical: frozenset[Label],
) -> tuple[tuple[Finding, ...], tuple[Sentence, ...], dict[Label, ContextEffect]]:
    """Apply fusion's decisions to a draft.

    Args:
        draft: the image backend's draft.
        fused: fusion results of the reported labels and of the candidates to raise.
        evidence: per label, the evidence entries (for the sentences).
        thresholds: per label in ``fused``, its operating threshold.
        critical: the deployment's critical labels (a raised finding is critical if in it).

    Returns:
        The draft's findings followed by those raised by context (confidence: the adjusted
        probability; no box or heatmap, the image did not localise them), the sentences
        saying what context raised (a findings and an impression sentence) or lowered (a
        findings sentence), source :data:`CONTEXT_SOURCE`, in label order, and the effect per
        label of ``fused``.
    """
    reported = {f.label for f in draft.findings}
    effects = {
        label: context_effect(result, reported=label in reported, threshold=thresholds[label])
        for label, result in fused.items()
    }
    raised = tuple(
        Finding(
            label=label,
            confidence=fused[label].adjusted_probability,
            severity=severity_for(fused[label].adjusted_probability),
            is_critical=label in critical,
            context_contribution=fused[label].adjusted_probability - fused[label].image_probability,
        )
        for label in LABELS
        if effects.get(label) is ContextEffect.RAISED
    )
    sentences: list[Sentence] = []
    impressions: list[Sentence] = []
    for label in LABELS:
        effect = effects.get(label, ContextEffect.NONE)
        if effect is ContextEffect.RAISED:
            named = evidence_names(evidence.get(label, ()), sign=1.0)
            text = raised_sentence(label, fused[label], thresholds[label], named)
            # The impression reads the finding in its context, as the radiologist would.
            impressions.append(
                Sentence(raised_impression(label, named), "impression", label, CONTEXT_SOURCE)
            )
        elif effect is ContextEffect.LOWERED:
            named = evidence_names(evidence.get(label, ()), sign=-1.0)
            text = lowered_sentence(label, fused[label], thresholds[label], named)
        else:
            continue
        sentences.append(Sentence(text, "findings", label, CONTEXT_SOURCE))
    return draft.findings + raised, (*sentences, *impressions), effects
