"""Worklist triage: a priority score from critical findings, confidence and clinical urgency.

The score, in 0..1 (higher reads first), is

    score = W_CRITICAL * c + W_FINDINGS * a + W_URGENCY * u

* ``c = 1 - prod(1 - p)`` over the critical findings' confidences ``p``: the chance, taking the
  findings as independent, that at least one critical finding is real;
* ``a``, the same over the other abnormal findings ("No Finding" and support devices are not
  abnormal);
* ``u``, the weight of the most urgent term in the indication and history
  (:data:`URGENCY_TERMS`, 0..1).

The weights sum to 1, so the score is in 0..1. With W_CRITICAL = 0.6 and W_FINDINGS = 0.15,
a critical finding at confidence 0.25 or more outranks any number of non-critical ones in
the same clinical context. A study is STAT when the requester said so (``stat``, ``urgent``,
``emergency``...) or its score reaches :data:`STAT_SCORE` (a critical finding at 0.75, or at
0.5 with chest pain). The worklist's maximum-wait escalation is separate: this score never
holds a study back. Imports no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from inference.labels import NO_FINDING_COMPATIBLE, Label
from inference.types import ClinicalContext, Finding

W_CRITICAL: Final = 0.6
W_FINDINGS: Final = 0.15
W_URGENCY: Final = 0.25
STAT_SCORE: Final = 0.45


@dataclass(frozen=True)
class UrgencyTerm:
    name: str
    pattern: re.Pattern[str]
    weight: float  # 0..1


def _term(name: str, pattern: str, weight: float) -> UrgencyTerm:
    return UrgencyTerm(name, re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), weight)


#: Clinical urgency in the indication/history. Weights: 1.0 for what is read at once in an
#: emergency department (trauma, stroke, hypoxia, arrest); 0.8 for chest pain and respiratory
#: distress; 0.7 for breathlessness, haemoptysis and post-procedure checks (iatrogenic
#: pneumothorax); 0.6 for line/tube placement (a device may not be used until its position is
#: confirmed); 0.4 for fever/sepsis; 0.2 for cough.
URGENCY_TERMS: Final[tuple[UrgencyTerm, ...]] = (
    _term("trauma", r"trauma\w*|mvc|mva|motor\s+vehicle|collision|assault\w*|stab\w*|gunshot", 1.0),
    _term("stroke", r"stroke|cva|hemiparesis|facial\s+droop", 1.0),
    _term("hypoxia", r"hypoxi\w*|desaturat\w*|low\s+(?:o2|oxygen)\s+sat\w*|sats?\s+\d\d", 1.0),
    _term("arrest", r"(?:cardiac|respiratory)\s+arrest|code\s+blue|unresponsive", 1.0),
    _term("chest pain", r"chest\s+pain|pleuritic|acs|stemi|nstemi", 0.8),
    _term("respiratory distress", r"respiratory\s+distress|resp\s+distress|tachypn\w*", 0.8),
    _term("dyspnoea", r"shortness\s+of\s+breath|sob|dyspn\w*|breathless\w*", 0.7),
    _term("haemoptysis", r"ha?emoptysis", 0.7),
    _term(
        "post procedure",
        r"post[- ]?(?:procedur\w*|op\w*)|biopsy|thoracentesis|bronchoscopy|ablation",
        0.7,
    ),
    _term(
        "line placement",
        r"(?:line|tube|picc|catheter|port|drain|pacemaker)\s+(?:placement|insertion|position\w*)|"
        r"ng\s+tube|ett|endotracheal|intubat\w*",
        0.6,
    ),
    _term("fever", r"fever\w*|febrile|sepsis|septic|rigors", 0.4),
    _term("cough", r"cough\w*", 0.2),
)
_STAT = re.compile(r"\b(?:stat|urgent\w*|emergen\w*|asap|critical|immediate\w*)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Triage:
    """A study's priority with its parts, for the worklist's "why is this first" tooltip."""

    score: float  # 0..1
    stat: bool
    critical: float  # c above, 0..1
    findings: float  # a above, 0..1
    urgency: float  # u above, 0..1
    urgency_terms: tuple[str, ...]  # names of the matched URGENCY_TERMS


def _any_of(confidences: Iterable[float]) -> float:
    miss = 1.0
    for p in confidences:
        miss *= 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - miss


def urgency(context: ClinicalContext) -> tuple[float, tuple[str, ...]]:
    """``(u, names)``: the highest weight of the matched urgency terms, and their names."""
    text = f"{context.indication} {context.history}"
    matched = [term for term in URGENCY_TERMS if term.pattern.search(text)]
    return max((t.weight for t in matched), default=0.0), tuple(t.name for t in matched)


def triage(
    findings: Sequence[Finding], context: ClinicalContext, *, critical: frozenset[Label]
) -> Triage:
    """The score and its parts (formula in the module docstring)."""
    c = _any_of(f.confidence for f in findings if f.label in critical)
    a = _any_of(
        f.confidence
        for f in findings
        if f.label not in critical and f.label not in NO_FINDING_COMPATIBLE
    )
    u, names = urgency(context)
    score = min(max(W_CRITICAL * c + W_FINDINGS * a + W_URGENCY * u, 0.0), 1.0)
    requested = bool(_STAT.search(f"{context.indication} {context.history}"))
    return Triage(
        score=score,
        stat=requested or score >= STAT_SCORE,
        critical=c,
        findings=a,
        urgency=u,
        urgency_terms=names,
    )


def priority_score(
    findings: Sequence[Finding], context: ClinicalContext, *, critical: frozenset[Label]
) -> float:
    """The worklist priority in 0..1 (higher reads first)."""
    return triage(findings, context, critical=critical).score


def is_stat(
    findings: Sequence[Finding], context: ClinicalContext, *, critical: frozenset[Label]
) -> bool:
    """Whether the study is STAT: requested as such, or scored at least :data:`STAT_SCORE`."""
    return triage(findings, context, critical=critical).stat
