"""Error analysis of drafts against the truth, with example case ids to look at.

* **missed**: a finding present in the truth that the draft text does not state (neither
  positively nor hedged);
* **hallucinated**: a finding the draft text asserts that the truth does not hold;
* **wrong laterality**: a finding the truth places on a side and the draft states, where the
  draft's side differs (the finding's own laterality when the backend sets one, else the
  side words of the sentences stating it); a draft that names no side is "unstated";
* **wrong severity**: likewise with the truth's severity (devices have none) against the
  severity words of the stating sentences, else the finding's confidence-derived severity.

Sides are the patient's, as in the truth and in report text. Imports no Django.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.drafting.wording import SEVERITY_WORDS
from inference.evaluation.cases import EvalCase, TruthFinding
from inference.evaluation.runner import CaseResult
from inference.labeller import label_report
from inference.labels import LABELS, Label, Mention
from inference.types import Laterality, Severity

#: Example case ids kept per error kind.
EXAMPLES = 10
_LEFT = re.compile(r"\bleft\b", re.IGNORECASE)
_RIGHT = re.compile(r"\bright\b", re.IGNORECASE)
_BOTH = re.compile(r"\b(?:bilateral\w*|bibasilar|both)\b", re.IGNORECASE)


def _stating_sentences(result: CaseResult, label: Label) -> list[str]:
    return [
        s.text
        for s in result.draft.sentences
        if s.section in {"findings", "impression"}
        and label_report(s.text).get(label) in {Mention.POSITIVE, Mention.UNCERTAIN}
    ]


def side_of(sentences: Sequence[str]) -> Laterality | None:
    """The side the sentences give: bilateral for "bilateral"/"both" or both sides named."""
    text = " ".join(sentences)
    if _BOTH.search(text) or (_LEFT.search(text) and _RIGHT.search(text)):
        return Laterality.BILATERAL
    if _LEFT.search(text):
        return Laterality.LEFT
    if _RIGHT.search(text):
        return Laterality.RIGHT
    return None


def severity_of(sentences: Sequence[str]) -> Severity | None:
    """The severity the sentences' words give (the most severe named), if any."""
    text = " ".join(sentences)
    named = [severity for severity, pattern in SEVERITY_WORDS.items() if pattern.search(text)]
    order = list(Severity)
    return max(named, key=order.index) if named else None


class _Tally:
    def __init__(self) -> None:
        self.count = 0
        self.by_label: Counter[str] = Counter()
        self.examples: list[dict[str, str]] = []

    def add(self, case_id: str, label: Label, **detail: str) -> None:
        self.count += 1
        self.by_label[label.value] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append({"case_id": case_id, "label": label.value, **detail})

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        return {
            "count": self.count,
            **extra,
            "by_label": dict(self.by_label.most_common()),
            "examples": self.examples,
        }


def _side_and_severity(
    case: EvalCase,
    result: CaseResult,
    truth: TruthFinding,
    tallies: dict[str, _Tally],
    assessed: Counter[str],
) -> None:
    sentences = _stating_sentences(result, truth.label)
    finding = next((f for f in result.draft.findings if f.label is truth.label), None)
    if truth.laterality is not Laterality.NONE:
        side: Laterality | None = finding.laterality if finding else None
        if side is None or side is Laterality.NONE:
            side = side_of(sentences)
        assessed["laterality"] += 1
        if side is None:
            assessed["laterality_unstated"] += 1
        elif side is not truth.laterality:
            tallies["wrong_laterality"].add(
                case.case_id, truth.label, truth=truth.laterality.value, draft=side.value
            )
    if truth.severity is not None:
        severity = severity_of(sentences) or (finding.severity if finding else None)
        assessed["severity"] += 1
        if severity is None:
            assessed["severity_unstated"] += 1
        elif severity is not truth.severity:
            tallies["wrong_severity"].add(
                case.case_id, truth.label, truth=truth.severity.value, draft=severity.value
            )


def analyse(
    cases: Sequence[EvalCase],
    results: Sequence[CaseResult],
    text_predicted: NDArray[np.bool_],
    hallucinated: NDArray[np.bool_],
) -> dict[str, Any]:
    """Counts, counts by label and example ids of each error kind (see the module docstring).

    ``text_predicted`` and ``hallucinated`` are the (N, 14) arrays of
    :class:`inference.evaluation.scoring.Scored`.
    """
    tallies = {
        kind: _Tally() for kind in ("missed", "hallucinated", "wrong_laterality", "wrong_severity")
    }
    assessed: Counter[str] = Counter()
    for i, (case, result) in enumerate(zip(cases, results, strict=True)):
        for j, label in enumerate(LABELS):
            if label is Label.NO_FINDING:
                continue
            if label in case.labels and not text_predicted[i, j]:
                tallies["missed"].add(case.case_id, label)
            if hallucinated[i, j]:
                tallies["hallucinated"].add(case.case_id, label)
        for truth in case.truth:
            if text_predicted[i, LABELS.index(truth.label)]:
                _side_and_severity(case, result, truth, tallies, assessed)
    return {
        "missed": tallies["missed"].as_dict(),
        "hallucinated": tallies["hallucinated"].as_dict(),
        "wrong_laterality": tallies["wrong_laterality"].as_dict(
            assessed=assessed["laterality"], unstated=assessed["laterality_unstated"]
        ),
        "wrong_severity": tallies["wrong_severity"].as_dict(
            assessed=assessed["severity"], unstated=assessed["severity_unstated"]
        ),
    }
