from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label
from inference.triage import is_stat, priority_score, triage
from inference.types import ClinicalContext, Finding

CRITICAL = DEFAULT_CRITICAL_LABELS
ROUTINE = ClinicalContext(age_years=60, indication="pre-operative assessment")


def _score(findings: list[Finding], context: ClinicalContext = ROUTINE) -> float:
    return priority_score(findings, context, critical=CRITICAL)


def test_it_ranks_critical_above_non_critical_above_normal() -> None:
    critical = _score([Finding(Label.PNEUMOTHORAX, 0.6)])
    non_critical = _score([Finding(Label.CARDIOMEGALY, 0.95), Finding(Label.EDEMA, 0.9)])
    normal = _score([])
    assert critical > non_critical > normal == 0.0


def test_it_weights_critical_findings_by_confidence() -> None:
    assert _score([Finding(Label.FRACTURE, 0.9)]) > _score([Finding(Label.FRACTURE, 0.5)])


def test_it_does_not_count_devices_or_no_finding_as_abnormal() -> None:
    assert _score([Finding(Label.SUPPORT_DEVICES, 0.99), Finding(Label.NO_FINDING, 0.9)]) == 0.0


@pytest.mark.parametrize(
    "indication",
    [
        "trauma",
        "shortness of breath",
        "dyspnoea",
        "Chest pain",
        "stroke",
        "hypoxia",
        "post procedure",
        "PICC line placement",
    ],
)
def test_it_raises_the_score_for_an_urgent_indication(indication: str) -> None:
    findings = [Finding(Label.ATELECTASIS, 0.7)]
    urgent = ClinicalContext(age_years=60, indication=indication)
    assert _score(findings, urgent) > _score(findings)
    assert triage(findings, urgent, critical=CRITICAL).urgency_terms


def test_it_marks_stat_for_confident_critical_findings_or_a_stat_request() -> None:
    assert is_stat([Finding(Label.PNEUMOTHORAX, 0.9)], ROUTINE, critical=CRITICAL)
    assert not is_stat([Finding(Label.CARDIOMEGALY, 0.9)], ROUTINE, critical=CRITICAL)
    assert is_stat([], ClinicalContext(indication="STAT portable film"), critical=CRITICAL)
    assert not is_stat([], ClinicalContext(indication="status post CABG"), critical=CRITICAL)


@given(
    st.lists(
        st.tuples(st.sampled_from(LABELS), st.floats(min_value=0.0, max_value=1.0)), max_size=20
    ),
    st.text(max_size=80),
)
def test_it_stays_between_zero_and_one(pairs: list[tuple[Label, float]], indication: str) -> None:
    findings = [Finding(label, p) for label, p in pairs]
    score = _score(findings, ClinicalContext(indication=f"trauma, chest pain {indication}"))
    assert 0.0 <= score <= 1.0
