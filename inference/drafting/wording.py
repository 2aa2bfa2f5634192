"""The drafter's wording: label words, anatomy order, severity and side vocabulary, templates.

Pure functions and tables used by :mod:`inference.drafting.retrieval`. Imports no Django.
"""

from __future__ import annotations

import re
from typing import Final

from inference.labels import Label
from inference.sentence_bank import REGION_LABELS, NormalRegion
from inference.types import ClinicalContext, Finding, Laterality, Severity

#: Findings-section order: devices, lungs, pleura, heart and mediastinum, bones.
ANATOMY: Final[tuple[Label, ...]] = (
    Label.SUPPORT_DEVICES,
    Label.LUNG_OPACITY,
    Label.CONSOLIDATION,
    Label.PNEUMONIA,
    Label.ATELECTASIS,
    Label.EDEMA,
    Label.LUNG_LESION,
    Label.PLEURAL_EFFUSION,
    Label.PNEUMOTHORAX,
    Label.PLEURAL_OTHER,
    Label.CARDIOMEGALY,
    Label.ENLARGED_CARDIOMEDIASTINUM,
    Label.FRACTURE,
)
POSITION: Final = {label: i for i, label in enumerate(ANATOMY)}
NORMAL_REGIONS: Final[tuple[NormalRegion, ...]] = tuple(
    sorted(
        (r for r in NormalRegion if r is not NormalRegion.STUDY),
        key=lambda r: min(POSITION[label] for label in REGION_LABELS[r]),
    )
)

#: Words naming a label in queries and in fallback sentences (read POSITIVE by the labeller).
LABEL_WORDS: Final[dict[Label, str]] = {
    Label.ENLARGED_CARDIOMEDIASTINUM: "widened mediastinum",
    Label.CARDIOMEGALY: "cardiomegaly",
    Label.LUNG_OPACITY: "airspace opacity",
    Label.LUNG_LESION: "pulmonary nodule",
    Label.EDEMA: "pulmonary edema",
    Label.CONSOLIDATION: "consolidation",
    Label.PNEUMONIA: "pneumonia",
    Label.ATELECTASIS: "atelectasis",
    Label.PNEUMOTHORAX: "pneumothorax",
    Label.PLEURAL_EFFUSION: "pleural effusion",
    Label.PLEURAL_OTHER: "pleural thickening",
    Label.FRACTURE: "rib fracture",
    Label.SUPPORT_DEVICES: "support device",
}
#: Labels stated by a rule sentence instead of the bank: the head says "a support device" but
#: never which one, and every bank sentence names one (pacemaker, PICC...), which would be
#: stating what was not detected.
GENERIC_SENTENCES: Final[dict[Label, str]] = {
    Label.SUPPORT_DEVICES: "Support device in place; position to be confirmed on the image.",
}
SIZED = frozenset({Label.PLEURAL_EFFUSION, Label.PNEUMOTHORAX, Label.LUNG_LESION})
SEVERITY_WORDS: Final[dict[Severity, re.Pattern[str]]] = {
    Severity.MILD: re.compile(r"\b(?:small|mild|mildly|minimal|trace|tiny|slight|minor)\b", re.I),
    Severity.MODERATE: re.compile(r"\b(?:moderate|moderately)\b", re.I),
    Severity.SEVERE: re.compile(
        r"\b(?:large|severe|severely|extensive|marked|markedly|massive)\b", re.I
    ),
}
# Anatomy each region's statements talk about. A normal statement may touch only regions with
# no finding: the labeller misses some normal wordings ("heart size ... within normal limits"
# without "mediastinum"), and such a sentence must not sit beside a cardiomegaly.
TOPICS: Final[dict[NormalRegion, re.Pattern[str]]] = {
    NormalRegion.LUNGS: re.compile(
        r"\b(?:lungs?|pulmonary|airspace|air\s+space|parenchym\w*|vascular\w*|interstiti\w*)\b",
        re.I,
    ),
    NormalRegion.PLEURAL_EFFUSION: re.compile(r"\b(?:effusions?|pleura\w*|costophrenic)\b", re.I),
    NormalRegion.PNEUMOTHORAX: re.compile(r"\bpneumothora\w*", re.I),
    NormalRegion.HEART: re.compile(r"\b(?:heart|cardiac|cardio\w*)", re.I),
    NormalRegion.MEDIASTINUM: re.compile(r"mediastin\w*|\bhil(?:a|ar|um)\b", re.I),
    NormalRegion.BONES: re.compile(
        r"\b(?:bones?|bony|osseous|skelet\w*|ribs?|fractures?|spine|thoracic\s+spine)\b", re.I
    ),
}
SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def topics(text: str) -> set[NormalRegion]:
    return {region for region, pattern in TOPICS.items() if pattern.search(text)}


def side_tier(finding: Laterality, sentence: tuple[Laterality, ...]) -> int:
    """Rank of a sentence's sides for a finding's side: 0 best; 3 = cannot be made right."""
    named = frozenset(sentence)
    if finding is Laterality.NONE:
        return 0 if not named else 3
    if not named:
        return 1
    if finding is Laterality.BILATERAL:
        both = frozenset({Laterality.LEFT, Laterality.RIGHT})
        return 0 if named in ({Laterality.BILATERAL}, both) else 3
    if named == {finding}:
        return 0
    if len(named) == 1 and Laterality.BILATERAL not in named:
        return 2  # the other single side: swapped by substitute_side
    return 3


def substitute_side(text: str, side: Laterality) -> str:
    """``text`` with "left"/"right" swapped to ``side`` (case kept); other sides: unchanged."""
    if side not in (Laterality.LEFT, Laterality.RIGHT):
        return text

    def swap(match: re.Match[str]) -> str:
        word = side.value
        return word.capitalize() if match.group(1)[0].isupper() else word

    return SIDE_WORD.sub(swap, text)


def query_text(finding: Finding, context: ClinicalContext) -> str:
    severity = ""
    if finding.severity is Severity.MILD:
        severity = "small" if finding.label in SIZED else "mild"
    elif finding.severity is Severity.SEVERE:
        severity = "large" if finding.label in SIZED else "severe"
    elif finding.severity is Severity.MODERATE:
        severity = "moderate"
    words = " ".join(w for w in (finding.laterality.value, severity) if w)
    query = f"{words} {LABEL_WORDS.get(finding.label, finding.label.value.lower())}".strip()
    return f"{query}. {context.indication}".strip() if context.indication else query


SECTIONS: Final = {
    "findings": re.compile(r"\bfindings?\b", re.IGNORECASE),
    "impression": re.compile(r"\bimpressions?\b", re.IGNORECASE),
    "recommendations": re.compile(r"\brecommendations?\b", re.IGNORECASE),
}


def template_sections(template: str) -> tuple[str, ...]:
    """The sections a template asks for, in its order; all three when it names none."""
    found = sorted(
        (match.start(), name)
        for name, pattern in SECTIONS.items()
        if (match := pattern.search(template))
    )
    return tuple(name for _, name in found) or tuple(SECTIONS)
