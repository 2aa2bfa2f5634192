"""inference.reasoning: a differential weighed by context and nodule follow-up per
Fleischner 2017 by size, age and smoking, labelled as decision support."""

from __future__ import annotations

from inference.fusion.inputs import FusionInputs
from inference.labels import Label
from inference.reasoning import (
    DECISION_SUPPORT_NOTICE,
    GUIDELINE_FLEISCHNER_2017,
    ReasonedFinding,
    differential,
    nodule_recommendation,
    recommendations,
)
from tests.inference.fusion.cases import measurement

CONSOLIDATION = ReasonedFinding(Label.CONSOLIDATION, 0.8, "right")


def _ranked(inputs: FusionInputs, *findings: ReasonedFinding) -> list[str]:
    return [
        item.diagnosis
        for item in differential(list(findings) or [CONSOLIDATION], inputs)
        if item.pattern == "airspace opacity"
    ]


def test_consolidation_with_fever_and_raised_crp_favours_bacterial_over_viral_pneumonia() -> None:
    inputs = FusionInputs(
        history_text="productive cough",
        measurements={
            "temperature": measurement("temperature", 38.9),
            "crp": measurement("crp", 160.0),
            "procalcitonin": measurement("procalcitonin", 1.2),
        },
    )
    ranked = _ranked(inputs)
    assert ranked[0] == "bacterial pneumonia"
    assert ranked.index("bacterial pneumonia") < ranked.index("viral / atypical pneumonia")
    top = differential([CONSOLIDATION], inputs)[0]
    assert "fever (38.9 Cel)" in top.supporting
    assert "CRP >= 100 mg/L (160 mg/L)" in top.supporting


def test_the_same_consolidation_without_signs_of_infection_favours_atelectasis() -> None:
    inputs = FusionInputs(
        history_text="post-operative day 2",
        measurements={
            "temperature": measurement("temperature", 36.8),
            "crp": measurement("crp", 4.0),
        },
    )
    assert _ranked(inputs)[0] == "atelectasis"


def test_absent_inputs_are_listed_as_unknown_not_counted() -> None:
    [*items] = differential([CONSOLIDATION], FusionInputs())
    bacterial = next(i for i in items if i.diagnosis == "bacterial pneumonia")
    assert bacterial.score == 1.0
    assert "fever" in bacterial.unknown and not bacterial.supporting


def test_nodule_follow_up_depends_on_size_age_and_smoking() -> None:
    smoker = FusionInputs(age_years=70, smoking="current")
    never = FusionInputs(age_years=50, smoking="never")
    young = FusionInputs(age_years=25, smoking="never")
    nodule = ReasonedFinding(Label.LUNG_LESION, 0.8, "right", size_mm=7.0)

    high = nodule_recommendation(nodule, smoker)
    low = nodule_recommendation(nodule, never)
    under_35 = nodule_recommendation(nodule, young)

    assert (
        high.rule == "fleischner-2017:solid:6-8mm:high" and "then CT at 18-24 months" in high.text
    )
    assert (
        low.rule == "fleischner-2017:solid:6-8mm:low" and "consider CT at 18-24 months" in low.text
    )
    assert under_35.rule == "fleischner-2017:not-applicable-under-35"
    assert {high.guideline, low.guideline} == {GUIDELINE_FLEISCHNER_2017}
    small = nodule_recommendation(ReasonedFinding(Label.LUNG_LESION, 0.8, size_mm=4.0), never)
    assert small.text.endswith("no routine follow-up.")
    mass = nodule_recommendation(ReasonedFinding(Label.LUNG_LESION, 0.8, size_mm=45.0), never)
    assert mass.rule == "fleischner-2017:mass"
    unsized = nodule_recommendation(ReasonedFinding(Label.LUNG_LESION, 0.8), smoker)
    assert unsized.rule == "fleischner-2017:size-unknown:high"


def test_recommendations_cover_lung_lesions_only_and_the_notice_says_decision_support() -> None:
    found = recommendations(
        [CONSOLIDATION, ReasonedFinding(Label.LUNG_LESION, 0.9, size_mm=7.0)], FusionInputs()
    )
    assert [r.label for r in found] == [Label.LUNG_LESION]
    assert "decision support" in DECISION_SUPPORT_NOTICE.lower()
