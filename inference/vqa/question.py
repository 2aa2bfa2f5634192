"""Reading a question: which findings it names and what it asks about them.

Findings are found by the report labeller's own mention stage (:func:`inference.labeller.
label_sentences`, with its phrase table and look-alike masks), so "effusion", "fluid in the
pleural space", "nodule", "mass", "enlarged heart" or "broken rib" map to the same CheXpert
labels the labeller reads in reports: there is no second synonym list to drift. The 14 label
names themselves ("Lung Opacity", "Support Devices") are also recognised. The intent (presence,
location, severity, change, most urgent, normal) comes from a few question-word patterns below.
Imports no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from inference.labeller import label_sentences
from inference.labels import Label
from inference.vqa.types import Intent

MAX_QUESTION_CHARS: Final = 500


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)


_CHANGE = _words(
    r"chang\w*|grow\w*|grew|grown|bigger|larger|smaller|wors\w*|better|improv\w*|progress\w*|"
    r"resolv\w*|new|since|prior|previous(?:ly)?|earlier|last\s+(?:study|film|x-?ray|exam\w*)|"
    r"compar\w*|interval|increas\w*|decreas\w*|stable|still|persist\w*"
)
_LOCATION = _words(
    r"where|which\s+(?:side|lung|lobe|zone)|what\s+(?:side|lung|lobe|zone)|side|left|right|"
    r"bilateral|both\s+sides|locat\w*|lobe|zone|position\w*|region"
)
_SEVERITY = _words(
    r"how\s+(?:big|large|bad|severe|serious|extensive|much|significant)|size|sized|severity|"
    r"severe|extent|mild|moderate|large|small|big|grade|degree|how\s+sure|confiden\w*"
)
_URGENT = _words(
    r"(?:most|more)\s+(?:urgent|important|serious|critical|concerning|worrying|significant|"
    r"dangerous|pressing)|worst|priorit\w*|urgent\w*|critical|emergenc\w*|act\s+on|"
    r"worr\w*|concern\w*|serious|dangerous"
)
_NORMAL = _words(
    r"normal|abnormal\w*|unremarkable|anything\s+(?:wrong|abnormal|there|significant)|"
    r"any\s+(?:findings?|abnormalit\w*|problems?|pathology)|what\s+(?:are|were)\s+the\s+findings|"
    r"what\s+(?:does|do)\s+(?:it|this|the\s+\w+|you)\s+show|what\s+is\s+(?:wrong|found|seen)|"
    r"what\s+(?:did|do)\s+you\s+(?:find|see)|findings|clear|healthy|ok(?:ay)?|fine|negative"
)


@dataclass(frozen=True)
class ParsedQuestion:
    """A question as the engine reads it.

    ``labels`` are the findings it names, in the order it names them (never "No Finding":
    asking about it is asking whether the study is normal). ``outside`` are abnormalities
    the labeller knows but which are not among the 14 labels ("emphysema", "scoliosis").
    """

    text: str
    intent: Intent
    labels: tuple[Label, ...]
    outside: tuple[str, ...]


def _named_labels(text: str) -> tuple[list[Label], list[str]]:
    found: list[tuple[int, Label]] = []
    outside: list[str] = []
    for mention in label_sentences(text):
        if mention.label is None:
            outside.append(mention.phrase.lower())
        else:
            found.append((mention.start, mention.label))
    folded = " ".join(text.split()).casefold()
    for label in Label:
        at = folded.find(label.value.casefold())
        if at >= 0:
            found.append((at, label))
    labels: list[Label] = []
    for _, label in sorted(found, key=lambda item: item[0]):
        if label not in labels:
            labels.append(label)
    return labels, outside


def parse_question(question: str) -> ParsedQuestion:
    """What ``question`` asks about which findings.

    Raises:
        ValueError: the question is blank or longer than :data:`MAX_QUESTION_CHARS`.
    """
    text = " ".join(question.split())
    if not text:
        raise ValueError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    labels, outside = _named_labels(text)
    asks_normal = Label.NO_FINDING in labels
    labels = [label for label in labels if label is not Label.NO_FINDING]
    if labels:
        if _CHANGE.search(text):
            intent = Intent.CHANGE
        elif _LOCATION.search(text):
            intent = Intent.LOCATION
        elif _SEVERITY.search(text):
            intent = Intent.SEVERITY
        else:
            intent = Intent.PRESENCE
    elif outside:
        intent = Intent.UNANSWERABLE
    elif _URGENT.search(text):
        intent = Intent.MOST_URGENT
    elif _CHANGE.search(text):
        intent = Intent.CHANGE
    elif asks_normal or _NORMAL.search(text):
        intent = Intent.NORMAL
    else:
        intent = Intent.UNANSWERABLE
    return ParsedQuestion(text=text, intent=intent, labels=tuple(labels), outside=tuple(outside))
