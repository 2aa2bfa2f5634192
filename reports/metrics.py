"""How much the radiologist changed the AI draft: edit distances and finding differences.

Pure functions over text and decisions (no ORM); ``report_sign`` stores the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from inference.labeller import label_report, positive_labels
from inference.labels import Label
from reports.content import FindingVerdict
from reports.models import Decision

# Words (with inner hyphens/apostrophes) and single punctuation marks are the word-level
# tokens: "No effusion." -> ["No", "effusion", "."].
_TOKEN = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]")


@dataclass(frozen=True)
class EditMetrics:
    char_distance: float  # normalised Levenshtein over characters, 0 (same) .. 1
    word_distance: float  # normalised Levenshtein over word tokens, 0 .. 1
    ai_labels: tuple[Label, ...]  # labeller positives (uncertain counts) in the AI draft
    signed_labels: tuple[Label, ...]  # ... in the signed text
    findings_added: tuple[Label, ...]  # in the signed text, not in the draft
    findings_removed: tuple[Label, ...]  # in the draft, not in the signed text
    accepted: int
    edited: int
    rejected: int
    added: int
    unreviewed: int


def normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _ordered(labels: set[Label]) -> tuple[Label, ...]:
    return tuple(label for label in Label if label in labels)


def edit_metrics_compute(
    *, draft_text: str, signed_text: str, decisions: Sequence[FindingVerdict]
) -> EditMetrics:
    """Distances between the AI draft and the signed text, and what the labeller reads in each.

    Whitespace runs count as one space (re-wrapping a line is no edit); case counts.
    """
    draft, signed = normalise_whitespace(draft_text), normalise_whitespace(signed_text)
    ai = positive_labels(label_report(draft)) if draft else set()
    human = positive_labels(label_report(signed)) if signed else set()
    counts = {decision: 0 for decision in Decision}
    for verdict in decisions:
        counts[verdict.decision] += 1
    return EditMetrics(
        char_distance=float(Levenshtein.normalized_distance(draft, signed)),
        word_distance=float(Levenshtein.normalized_distance(tokens(draft), tokens(signed))),
        ai_labels=_ordered(ai),
        signed_labels=_ordered(human),
        findings_added=_ordered(human - ai),
        findings_removed=_ordered(ai - human),
        accepted=counts[Decision.ACCEPTED],
        edited=counts[Decision.EDITED],
        rejected=counts[Decision.REJECTED],
        added=counts[Decision.ADDED],
        unreviewed=counts[Decision.PROPOSED],
    )
