"""Interval change words: what a report says about a finding against the prior study.

"Right pleural effusion, increased since 2024-01-15" asserts the effusion (the labeller reads
it positive) and says it is worse; this module reads the second part. The four labels are
the ones the priors comparison (``inference.priors``) writes, so QA can check a draft's
comparison sentences against the comparison it computed. Imports no Django.
"""

from __future__ import annotations

import re
from enum import StrEnum

from inference.labeller import label_sentences
from inference.labels import Label, Mention


class IntervalChange(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    IMPROVED = "improved"
    WORSE = "worse"


# Checked in this order within a finding's sentence; "no change" before "change" words.
_CUES: tuple[tuple[IntervalChange, re.Pattern[str]], ...] = (
    (
        IntervalChange.UNCHANGED,
        re.compile(
            r"\b(?:unchanged|stable|no\s+(?:significant\s+|interval\s+)*change|"
            r"not\s+(?:significantly\s+)?changed|similar|persist\w*)\b",
            re.I,
        ),
    ),
    (
        IntervalChange.WORSE,
        re.compile(
            r"\b(?:increas\w*|enlarg\w*|worse\w*|worsen\w*|progress\w*|larger|grown|growing|"
            r"more\s+extensive)\b",
            re.I,
        ),
    ),
    (
        IntervalChange.IMPROVED,
        re.compile(
            r"\b(?:decreas\w*|improv\w*|smaller|reduc\w*|less\s+extensive|resolv\w*|"
            r"resolution|clear\w*)\b",
            re.I,
        ),
    ),
    (IntervalChange.NEW, re.compile(r"\b(?:new|newly|interval\s+development)\b", re.I)),
)


def interval_changes(text: str) -> dict[Label, IntervalChange]:
    """The change the text states for each labelled finding (first statement wins).

    A finding mentioned without a change word is absent from the result. A resolved finding
    (read negative by the labeller) is ``IMPROVED``.
    """
    out: dict[Label, IntervalChange] = {}
    for mention in label_sentences(text):
        if mention.label is None or mention.label in out:
            continue
        if (
            mention.mention is Mention.NEGATIVE
            and "resol" not in text[mention.sentence_start : mention.sentence_end].lower()
        ):
            continue
        sentence = text[mention.sentence_start : mention.sentence_end]
        for change, pattern in _CUES:
            if pattern.search(sentence):
                out[mention.label] = change
                break
    return out
