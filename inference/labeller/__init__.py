"""A rule-based CheXpert labeller for chest X-ray report text, negation and uncertainty aware.

It reads free text (findings and/or impression) and says, for each of the 14 CheXpert labels the
text mentions, whether it is asserted (positive), denied (negative) or hedged (uncertain). It is
the QA step's reader of generated drafts and of signed reports (contradiction detection), and the
labeller behind "clinical-efficacy F1". Pure Python and :mod:`re`; imports no Django, loads no
model.

How it works (CheXpert's three stages, with regular expressions in place of a parser):

1. **Mention.** The text is split into sentences; the table in :mod:`inference.labeller.rules`
   (``PHRASES``: one row per phrase: label, pattern, what the phrase itself asserts) finds
   mentions. ``NOT_MENTIONS`` masks look-alikes first ("pericardial effusion" is no pleural
   effusion, "calcified nodule" no lung lesion). Rows with no label find abnormalities outside
   the 13 findings (scoliosis, emphysema, granulomas...), which only matter for "No Finding".
   The negation, hedge and clause-boundary cues of stage 2 live in :mod:`inference.labeller.cues`.
2. **Classify.** Each mention is judged inside its clause (the sentence cut at ";", "but",
   "however", "with", a comma that opens a new clause...). In order: a hedge that contains a
   negation ("cannot be excluded") makes it uncertain; a negation cue before it ("no", "without",
   "negative for", "free of", "resolution of"...) or after it ("is not seen", "has resolved")
   makes it negative; a hedge cue ("may", "possible", "likely", "suggestive of", "versus", "X or
   Y"...) makes it uncertain; otherwise it is what the phrase asserts. Phrases like "normal heart
   size" are negative mentions by themselves.
3. **Aggregate.** Per label over all sentences: positive beats uncertain beats negative. "No
   Finding" is positive when no label other than Support Devices is positive or uncertain and
   no other abnormality is asserted or hedged; otherwise it is absent (CheXpert never marks it
   negative).

Known limits: no coreference ("it has resolved"), no temporal reasoning beyond "no change in"
(pseudo-negation) and "no longer", and clause scoping is lexical, so unusual syntax can
mis-scope a cue. Measured agreement with the IU X-ray MeSH index: ``bench/labeller_f1.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from inference.labeller import cues
from inference.labeller.rules import NOT_MENTIONS, PHRASES, Phrase
from inference.labels import MENTION_PRECEDENCE, NO_FINDING_COMPATIBLE, Label, Mention

__all__ = [
    "NOT_MENTIONS",
    "PHRASES",
    "Phrase",
    "SentenceMention",
    "aggregate",
    "label_report",
    "label_sentences",
    "positive_labels",
    "split_sentences",
]


@dataclass(frozen=True)
class SentenceMention:
    """One mention of a label in one sentence, for provenance.

    ``start``/``end`` index the whole text (``text[start:end]`` is the matched phrase);
    ``sentence_start``/``sentence_end`` the sentence containing it. ``label`` is ``None`` for an
    abnormality outside the 13 findings, which only rules out "No Finding".
    """

    sentence_index: int
    sentence_start: int
    sentence_end: int
    label: Label | None
    mention: Mention
    phrase: str
    start: int
    end: int


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``, whitespace trimmed.

    A sentence ends at ``.``, ``!`` or ``?`` followed by whitespace, or at a newline; decimals
    ("1.3 cm") do not end one.
    """
    spans: list[tuple[int, int]] = []
    position = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        stop = match.start() if match is not None else len(text)
        chunk = text[position:stop]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((position + lead, position + len(chunk.rstrip())))
        if match is not None:
            position = match.end()
    return spans


def _compile(pattern: str) -> re.Pattern[str]:
    # A hyphen before a phrase makes another word ("non-calcified"); one after does not
    # ("fracture-dislocation").
    return re.compile(rf"(?<![\w-])(?:{pattern})(?!\w)", re.IGNORECASE)


_COMPILED: Final[tuple[tuple[Phrase, re.Pattern[str]], ...]] = tuple(
    (phrase, _compile(phrase.pattern)) for phrase in PHRASES
)
_COMPILED_NOT: Final[dict[Label, re.Pattern[str]]] = {
    label: _compile(pattern) for label, pattern in NOT_MENTIONS.items()
}


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with ``pattern``'s matches blanked out (same length, so spans stay valid)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _clause(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The text of the mention's clause before ``start`` and after ``end``."""
    begin, stop = 0, len(sentence)
    for boundary in cues.BOUNDARY.finditer(sentence):
        if boundary.end() <= start:
            begin = boundary.end()
        elif boundary.start() >= end:
            stop = boundary.start()
            break
    return sentence[begin:start], sentence[end:stop]


def _classify(sentence: str, start: int, end: int, asserts: Mention) -> Mention:
    """How the clause around ``sentence[start:end]`` qualifies a phrase asserting ``asserts``."""
    if asserts is Mention.NEGATIVE:
        return asserts
    before, after = _clause(_mask(sentence, cues.PSEUDO_NEGATION), start, end)
    if cues.NEGATED_HEDGE_BEFORE.search(before) or cues.NEGATED_HEDGE_AFTER.search(after):
        return Mention.UNCERTAIN
    if cues.NEGATION_BEFORE.search(before) or cues.NEGATION_AFTER.search(after):
        return Mention.NEGATIVE
    if (
        cues.HEDGE_BEFORE.search(before)
        or cues.HEDGE_OR_BEFORE.search(before)
        or cues.HEDGE_AFTER.search(after)
    ):
        return Mention.UNCERTAIN
    return asserts


def _sentence_mentions(sentence: str) -> list[tuple[Label | None, Mention, int, int]]:
    found: list[tuple[Label | None, Mention, int, int]] = []
    masked = {label: _mask(sentence, pattern) for label, pattern in _COMPILED_NOT.items()}
    for phrase, pattern in _COMPILED:
        haystack = masked.get(phrase.label, sentence) if phrase.label else sentence
        for match in pattern.finditer(haystack):
            mention = _classify(sentence, match.start(), match.end(), phrase.asserts)
            found.append((phrase.label, mention, match.start(), match.end()))
    # One mention per label per stretch of text: the longest (most specific) phrase wins.
    found.sort(key=lambda item: (item[2], -(item[3] - item[2])))
    kept: list[tuple[Label | None, Mention, int, int]] = []
    for item in found:
        label, _, start, end = item
        if any(k[0] == label and k[2] < end and start < k[3] for k in kept):
            continue
        kept.append(item)
    return kept


def label_sentences(text: str) -> list[SentenceMention]:
    """Every label mention in ``text``, sentence by sentence, in text order.

    Args:
        text: report text (any sections; ``XXXX`` anonymisation placeholders are harmless).

    Returns:
        One :class:`SentenceMention` per mention, including abnormalities outside the 13
        findings (``label=None``). "No Finding" is never mentioned; :func:`label_report`
        derives it.
    """
    results: list[SentenceMention] = []
    for index, (s_start, s_end) in enumerate(split_sentences(text)):
        sentence = text[s_start:s_end]
        for label, mention, start, end in _sentence_mentions(sentence):
            results.append(
                SentenceMention(
                    sentence_index=index,
                    sentence_start=s_start,
                    sentence_end=s_end,
                    label=label,
                    mention=mention,
                    phrase=sentence[start:end],
                    start=s_start + start,
                    end=s_start + end,
                )
            )
    return results


def aggregate(mentions: Iterable[SentenceMention]) -> dict[Label, Mention]:
    """Per-label result of sentence mentions (CheXpert's aggregation).

    Positive beats uncertain beats negative. "No Finding" is POSITIVE when no label outside
    {Support Devices} and no other abnormality is positive or uncertain; otherwise absent.
    """
    result: dict[Label, Mention] = {}
    finding = False
    for item in mentions:
        if item.mention is not Mention.NEGATIVE and item.label not in NO_FINDING_COMPATIBLE:
            finding = True
        if item.label is None:
            continue
        current = result.get(item.label)
        if current is None or MENTION_PRECEDENCE[item.mention] > MENTION_PRECEDENCE[current]:
            result[item.label] = item.mention
    if not finding:
        result[Label.NO_FINDING] = Mention.POSITIVE
    return result


def label_report(text: str) -> dict[Label, Mention]:
    """CheXpert labels of a report text.

    Args:
        text: free text, typically findings and impression.

    Returns:
        ``{label: mention}`` for the labels the text mentions; labels not mentioned are
        absent. "No Finding" is POSITIVE or absent, never NEGATIVE. Blank text gives ``{}``
        (nothing was said, so not even "No Finding").
    """
    if not text.strip():
        return {}
    return aggregate(label_sentences(text))


def positive_labels(
    labels: dict[Label, Mention], *, uncertain_as_positive: bool = True
) -> set[Label]:
    """The labels a result counts as present (uncertain included unless told otherwise)."""
    accepted = (
        {Mention.POSITIVE, Mention.UNCERTAIN} if uncertain_as_positive else {Mention.POSITIVE}
    )
    return {label for label, mention in labels.items() if mention in accepted}
