"""Taking one label out of a sentence that lists several, so the rest of what it says stays.

Fusion may raise a label the image backend's sentence denies ("No pneumothorax, pleural
effusion or pneumonia."). Dropping the whole sentence would lose what it says about the other
labels; :func:`sentence_without` removes only the label's phrase and the list separator next
to it, and joins the new last pair with the removed item's conjunction ("No pneumothorax or
pleural effusion."). The result is checked with the labeller itself:
it must no longer mention the label and must say exactly what the original said about every
other label, else ``None`` (the caller drops the sentence). Imports no Django.
"""

from __future__ import annotations

import re

from inference.labeller import label_report, label_sentences
from inference.labels import Label

_BEFORE = re.compile(r"(?:\s*,\s*(?:(?:or|and|nor)\s+)?|\s+(?:or|and|nor)\s+)$", re.I)
_AFTER = re.compile(r"^(?:\s*,\s*(?:(?:or|and|nor)\s+)?|\s+(?:or|and|nor)\s+)", re.I)
_LIST_ITEM = re.compile(r"^[\w-]+(?: [\w-]+){0,3}$")  # "pleural effusion", not a clause
_CONJUNCTION = re.compile(r"\b(or|and|nor)\b", re.I)
# "Cardiomegaly without pneumonia.": a trailing negated clause goes whole.
_WITHOUT = re.compile(r",?\s+(?:without|with\s+no)(?:\s+(?:evidence|signs?)\s+of)?\s+$", re.I)


def _others(text: str, label: Label) -> dict[Label, object]:
    return {k: v for k, v in label_report(text).items() if k not in (label, Label.NO_FINDING)}


def sentence_without(sentence: str, label: Label) -> str | None:
    """``sentence`` with ``label``'s mention and its list separator removed, or ``None``
    when that does not leave a sentence that says the same about every other label (or
    says nothing about any label)."""
    spans = [(m.start, m.end) for m in label_sentences(sentence) if m.label is label]
    if not spans:
        return sentence
    text = sentence
    for start, end in sorted(spans, reverse=True):
        before, after = text[:start], text[end:]
        joined = _BEFORE.search(before)
        if joined is not None:
            head = before[: joined.start()]
            conjunction = _CONJUNCTION.search(joined.group())
            item = head.rsplit(", ", 1)[-1]
            if conjunction is not None and ", " in head and _LIST_ITEM.match(item):
                # The last item went: its conjunction joins the new last pair ("No A, B or
                # C" without C reads "No A or B").
                cut = head.rindex(", ")
                head = f"{head[:cut]} {conjunction.group(1)} {head[cut + 2 :]}"
            text = head + after
            continue
        joined = _AFTER.match(after) or _WITHOUT.search(before)
        if joined is None:
            return None  # the label is not an item of a list: nothing safe to cut
        if joined.re is _WITHOUT:
            text = before[: joined.start()] + after
        else:
            text = before + after[joined.end() :]
    text = re.sub(r"\s+([.,;:])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    others = _others(sentence, label)
    if not others or label in label_report(text) or _others(text, label) != others:
        return None
    return text
