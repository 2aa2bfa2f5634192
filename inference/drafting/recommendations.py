"""Recommendation rules: the one table of follow-up advice per finding, chosen by clinical context.

Each :class:`RecommendationRule` names a label, a condition on the finding and the clinical
context, and a sentence. For each finding the *first* rule of its label whose condition holds
is used, so specific rules come before the label's default. Rules are written so the labeller
never reads them as asserting or denying a finding ("consider chest tube" is at most an
*uncertain* support device), which keeps the QA step's reading of a whole draft honest.

Lung lesion (mass/nodule) wording follows the Fleischner Society 2017 guidelines (MacMahon et
al., Radiology 2017;284:228-243). They govern incidental nodules on CT in adults aged 35 or
over and separate low-risk patients (minimal or no smoking history, no other known risk
factors) from high-risk ones (smoking, prior malignancy, older age...). A radiograph cannot
size or characterise a nodule well enough to apply them directly, so a nodule on a radiograph
always leads to CT; the context only changes the wording: under 35 the guidelines do not apply
(infection is the likelier cause, so a short-interval radiograph comes first); high risk
(smoking or malignancy in the indication/history, or age 65 or over) asks for CT without delay
and high-risk follow-up; known low risk gets the low-risk wording; unknown risk says the
interval depends on risk factors. Imports no Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from inference.labels import Label
from inference.types import ClinicalContext, Finding, Severity

HIGH_RISK_AGE = 65  # years: older age is a Fleischner risk factor; this cut-off is ours
FLEISCHNER_MIN_AGE = 35  # years: the guidelines do not apply to younger patients

_SMOKER = re.compile(r"\b(?:smok\w*|pack[- ]?years?|tobacco|cigarettes?|cigars?)\b", re.I)
_NON_SMOKER = re.compile(r"\b(?:non[- ]?smoker|never[- ]smoker|never\s+smoked)\b", re.I)
_MALIGNANCY = re.compile(
    r"\b(?:cancer|malignan\w*|carcinoma|lymphoma|sarcoma|melanoma|metasta\w*|oncolog\w*)\b", re.I
)
_TRAUMA = re.compile(
    r"\b(?:trauma\w*|fall|fell|mvc|mva|motor\s+vehicle|collision|assault\w*|injur\w*|blunt)\b",
    re.I,
)
_INFECTION = re.compile(r"\b(?:fever\w*|febrile|sepsis|septic|sputum|infect\w*|pneumonia)\b", re.I)
_PROCEDURE = re.compile(
    r"\b(?:post[- ]?(?:procedur\w*|op\w*)|biopsy|thoracentesis|line\s+placement|central\s+line|"
    r"picc|catheter\s+placement|pacemaker\s+(?:placement|insertion))\b",
    re.I,
)


def _said(context: ClinicalContext, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.search(f"{context.indication} {context.history}"))


def nodule_risk(context: ClinicalContext) -> str:
    """Fleischner-style risk band from the context: "young", "high", "low" or "unknown"."""
    if context.age_years is not None and context.age_years < FLEISCHNER_MIN_AGE:
        return "young"
    smoker = _said(context, _SMOKER) and not _said(context, _NON_SMOKER)
    if smoker or _said(context, _MALIGNANCY):
        return "high"
    if context.age_years is not None and context.age_years >= HIGH_RISK_AGE:
        return "high"
    if _said(context, _NON_SMOKER):
        return "low"
    return "unknown"


Condition = Callable[[Finding, ClinicalContext], bool]


def _always(_finding: Finding, _context: ClinicalContext) -> bool:
    return True


def _risk(band: str) -> Condition:
    def condition(_finding: Finding, context: ClinicalContext) -> bool:
        return nodule_risk(context) == band

    return condition


def _context(pattern: re.Pattern[str]) -> Condition:
    def condition(_finding: Finding, context: ClinicalContext) -> bool:
        return _said(context, pattern)

    return condition


def _severity(*levels: Severity) -> Condition:
    def condition(finding: Finding, _context: ClinicalContext) -> bool:
        return finding.severity in levels

    return condition


def _older_or_smoker(_finding: Finding, context: ClinicalContext) -> bool:
    old = context.age_years is not None and context.age_years >= 50
    return old or (_said(context, _SMOKER) and not _said(context, _NON_SMOKER))


@dataclass(frozen=True)
class RecommendationRule:
    """One recommendation; ``name`` becomes the sentence's provenance ``rule:<name>``."""

    name: str
    label: Label
    text: str
    applies: Condition = _always


RULES: Final[tuple[RecommendationRule, ...]] = (
    RecommendationRule(
        "pneumothorax-post-procedure",
        Label.PNEUMOTHORAX,
        "Post-procedural finding: urgent clinical correlation; consider chest tube if clinically "
        "indicated, otherwise short-interval follow-up radiograph to assess for progression.",
        _context(_PROCEDURE),
    ),
    RecommendationRule(
        "pneumothorax-small",
        Label.PNEUMOTHORAX,
        "Urgent clinical correlation; short-interval follow-up radiograph to assess for "
        "progression; consider chest tube if clinically indicated.",
        _severity(Severity.MILD),
    ),
    RecommendationRule(
        "pneumothorax",
        Label.PNEUMOTHORAX,
        "Urgent clinical correlation; consider chest tube if clinically indicated.",
    ),
    RecommendationRule(
        "lung-lesion-under-35",
        Label.LUNG_LESION,
        "Follow-up chest radiograph in 6-8 weeks (after treatment if infection is suspected); "
        "CT chest if persistent. Fleischner guidelines do not apply under 35 years.",
        _risk("young"),
    ),
    RecommendationRule(
        "lung-lesion-high-risk",
        Label.LUNG_LESION,
        "CT chest recommended for further characterisation without delay; high-risk patient: "
        "subsequent follow-up per Fleischner Society 2017 high-risk guidance.",
        _risk("high"),
    ),
    RecommendationRule(
        "lung-lesion-low-risk",
        Label.LUNG_LESION,
        "CT chest recommended for further characterisation; low-risk patient: subsequent "
        "follow-up per Fleischner Society 2017 low-risk guidance.",
        _risk("low"),
    ),
    RecommendationRule(
        "lung-lesion",
        Label.LUNG_LESION,
        "CT chest recommended for further characterisation; follow-up interval per Fleischner "
        "Society 2017 guidelines according to the patient's risk factors.",
    ),
    RecommendationRule(
        "pleural-effusion-infection",
        Label.PLEURAL_EFFUSION,
        "Clinical correlation; consider diagnostic aspiration, as infected pleural fluid "
        "needs to be excluded in this clinical setting.",
        _context(_INFECTION),
    ),
    RecommendationRule(
        "pleural-effusion",
        Label.PLEURAL_EFFUSION,
        "Clinical correlation; ultrasound assessment and aspiration if clinically indicated.",
    ),
    RecommendationRule(
        "fracture-trauma",
        Label.FRACTURE,
        "In the setting of trauma, CT chest is recommended to assess for associated injury.",
        _context(_TRAUMA),
    ),
    RecommendationRule(
        "fracture",
        Label.FRACTURE,
        "Correlate with point tenderness; dedicated rib views or CT if clinically indicated.",
    ),
    RecommendationRule(
        "mediastinum-trauma",
        Label.ENLARGED_CARDIOMEDIASTINUM,
        "CT angiography of the chest recommended to assess for aortic injury.",
        _context(_TRAUMA),
    ),
    RecommendationRule(
        "mediastinum",
        Label.ENLARGED_CARDIOMEDIASTINUM,
        "Comparison with prior imaging; contrast-enhanced CT chest if clinically indicated.",
    ),
    RecommendationRule(
        "pneumonia-follow-up-older-or-smoker",
        Label.PNEUMONIA,
        "Follow-up chest radiograph 6-8 weeks after treatment to confirm resolution and to "
        "assess for an underlying abnormality.",
        _older_or_smoker,
    ),
    RecommendationRule(
        "pneumonia",
        Label.PNEUMONIA,
        "Clinical correlation; follow-up chest radiograph if symptoms persist after treatment.",
    ),
    RecommendationRule(
        "consolidation-older-or-smoker",
        Label.CONSOLIDATION,
        "Follow-up chest radiograph 6-8 weeks after treatment to confirm resolution and to "
        "assess for an underlying abnormality.",
        _older_or_smoker,
    ),
    RecommendationRule(
        "consolidation",
        Label.CONSOLIDATION,
        "Clinical correlation; follow-up chest radiograph to document resolution.",
    ),
    RecommendationRule(
        "lung-opacity",
        Label.LUNG_OPACITY,
        "Clinical correlation; follow-up chest radiograph to document resolution.",
    ),
    RecommendationRule(
        "edema", Label.EDEMA, "Correlate with clinical volume status and cardiac function."
    ),
    RecommendationRule(
        "cardiomegaly",
        Label.CARDIOMEGALY,
        "Echocardiography may be considered if clinically indicated.",
    ),
    RecommendationRule(
        "support-devices-placement",
        Label.SUPPORT_DEVICES,
        "Confirm the position described above against the intended position before use.",
        _context(_PROCEDURE),
    ),
)


def recommendation_rule(finding: Finding, context: ClinicalContext) -> RecommendationRule | None:
    """The first rule of ``finding``'s label whose condition holds; None if the label has none."""
    for rule in RULES:
        if rule.label is finding.label and rule.applies(finding, context):
            return rule
    return None


def recommendations(
    findings: Sequence[Finding], context: ClinicalContext
) -> list[RecommendationRule]:
    """The rules for ``findings`` in their order, each text once."""
    chosen: list[RecommendationRule] = []
    for finding in findings:
        rule = recommendation_rule(finding, context)
        if rule is not None and all(rule.text != c.text for c in chosen):
            chosen.append(rule)
    return chosen
