"""inference.types.ClinicalContext: labs, vitals and smoking as compact prompt terms."""

from __future__ import annotations

from inference.types import PROMPT_LAB_RANGES, ClinicalContext, lab_flag, lab_terms
from workstation.clinical.codes import CATALOGUE


def test_it_writes_labs_and_smoking_before_the_free_texts() -> None:
    context = ClinicalContext(
        age_years=71,
        sex="M",
        indication="cough",
        history="long history " * 20,
        smoking="former",
        labs=lab_terms({"temperature": 38.7, "crp": 120.0, "spo2": 91.0, "wbc": 8.0}),
    )

    assert context.as_prompt().startswith(
        "age 71, male, former smoker, labs: crp high, wbc normal, spo2 low, "
        "temperature high, indication: cough, history: long history"
    )


def test_a_context_without_labs_reads_as_before() -> None:
    context = ClinicalContext(age_years=50, sex="F", indication="cough")

    assert context.as_prompt() == "age 50, female, indication: cough"
    assert ClinicalContext().as_prompt() == "no clinical information"


def test_a_recorded_abnormal_flag_wins_over_the_default_range() -> None:
    assert lab_flag("crp", 8.0) == "high"
    assert lab_flag("crp", 8.0, "N") == "normal"
    assert lab_flag("wbc", 3.0, "LL") == "low"
    assert lab_flag("wbc", 9.0, "A") == "abnormal"
    assert lab_terms({"crp": 8.0, "sodium": 120.0}, {"crp": "N"}) == (("crp", "normal"),)


def test_its_default_ranges_are_the_clinical_catalogue_ones() -> None:
    assert {code: CATALOGUE[code].reference for code in PROMPT_LAB_RANGES} == dict(
        PROMPT_LAB_RANGES
    )
