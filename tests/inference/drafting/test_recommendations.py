from __future__ import annotations

import pytest

from inference.drafting.recommendations import (
    RULES,
    nodule_risk,
    recommendation_rule,
    recommendations,
)
from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.types import ClinicalContext, Finding, Severity


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_it_words_rules_so_the_labeller_reads_no_finding_into_them(rule: object) -> None:
    text = rule.text  # type: ignore[attr-defined]
    reading = label_report(text)
    assert Mention.POSITIVE not in {m for lab, m in reading.items() if lab is not Label.NO_FINDING}
    assert reading.get(rule.label) is not Mention.NEGATIVE  # type: ignore[attr-defined]


def test_it_names_each_rule_once() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("context", "risk"),
    [
        (ClinicalContext(age_years=30, history="smoker"), "young"),
        (ClinicalContext(age_years=50, history="20 pack-years"), "high"),
        (ClinicalContext(age_years=50, history="breast cancer 2019"), "high"),
        (ClinicalContext(age_years=70), "high"),
        (ClinicalContext(age_years=50, history="non-smoker"), "low"),
        (ClinicalContext(age_years=50), "unknown"),
        (ClinicalContext(), "unknown"),
    ],
)
def test_it_bands_nodule_risk_from_age_and_history(context: ClinicalContext, risk: str) -> None:
    assert nodule_risk(context) == risk


def test_it_chooses_trauma_wording_for_a_fracture_after_trauma() -> None:
    fracture = Finding(Label.FRACTURE, 0.8)
    trauma = recommendation_rule(fracture, ClinicalContext(indication="MVC, chest wall pain"))
    plain = recommendation_rule(fracture, ClinicalContext(indication="cough"))
    assert trauma is not None and trauma.name == "fracture-trauma"
    assert plain is not None and plain.name == "fracture"


def test_it_chooses_pneumothorax_wording_by_size_and_procedure() -> None:
    small = Finding(Label.PNEUMOTHORAX, 0.8, Severity.MILD)
    large = Finding(Label.PNEUMOTHORAX, 0.8, Severity.SEVERE)
    after_biopsy = ClinicalContext(indication="post CT-guided lung biopsy")
    assert recommendation_rule(small, ClinicalContext()).name == "pneumothorax-small"  # type: ignore[union-attr]
    assert recommendation_rule(large, ClinicalContext()).name == "pneumothorax"  # type: ignore[union-attr]
    assert recommendation_rule(large, after_biopsy).name == "pneumothorax-post-procedure"  # type: ignore[union-attr]


def test_it_gives_each_text_once_and_nothing_for_labels_without_rules() -> None:
    findings = [
        Finding(Label.CONSOLIDATION, 0.8),
        Finding(Label.PNEUMONIA, 0.7),
        Finding(Label.ATELECTASIS, 0.7),
    ]
    chosen = recommendations(findings, ClinicalContext(age_years=72))
    assert [rule.label for rule in chosen] == [Label.CONSOLIDATION]
