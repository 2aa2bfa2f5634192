from __future__ import annotations

import pytest

from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label
from inference.qa import QaFlagKind, detections, hallucinations, qa_check
from inference.types import Finding

CRITICAL = DEFAULT_CRITICAL_LABELS
PNEUMOTHORAX = Finding(Label.PNEUMOTHORAX, 0.91)
CONSISTENT = (
    "Small left apical pneumothorax. The lungs are clear. No pleural effusion. "
    "Heart size is normal. IMPRESSION: Small left pneumothorax."
)


def test_it_raises_no_flag_for_a_consistent_draft() -> None:
    result = qa_check([PNEUMOTHORAX], CONSISTENT, critical=CRITICAL)
    assert result.flags == ()
    assert not result.requires_radiologist_review


def test_it_flags_a_detected_critical_finding_the_text_negates() -> None:
    result = qa_check([PNEUMOTHORAX], "No pneumothorax. The lungs are clear.", critical=CRITICAL)
    assert result.requires_radiologist_review
    [flag] = result.flags
    assert (flag.kind, flag.label) == (QaFlagKind.NEGATED, Label.PNEUMOTHORAX)
    assert flag.detail == "Pneumothorax: detected (0.91) but the text negates it"
    assert flag.as_dict()["blocking"] is True


def test_it_flags_a_detected_critical_finding_the_text_omits() -> None:
    result = qa_check([PNEUMOTHORAX], "The lungs are clear.", critical=CRITICAL)
    assert result.requires_radiologist_review
    assert [f.kind for f in result.flags] == [QaFlagKind.OMITTED]


def test_it_flags_a_critical_finding_asserted_without_detection() -> None:
    findings = [PNEUMOTHORAX, Finding(Label.FRACTURE, 0.12)]
    text = CONSISTENT + " Acute displaced fracture of the left 6th rib."
    result = qa_check(findings, text, critical=CRITICAL, threshold=0.5)
    assert result.requires_radiologist_review
    [flag] = result.flags
    assert flag.kind is QaFlagKind.UNSUPPORTED
    assert flag.detail == (
        "Fracture: the text asserts it but the detection head is below threshold (0.12)"
    )


def test_it_ignores_disagreements_on_labels_outside_the_critical_set() -> None:
    result = qa_check(
        [Finding(Label.CARDIOMEGALY, 0.8)], "Heart size is normal.", critical=CRITICAL
    )
    assert result.flags == ()
    only_cardiomegaly = frozenset({Label.CARDIOMEGALY})
    flagged = qa_check(
        [Finding(Label.CARDIOMEGALY, 0.8)], "Heart size is normal.", critical=only_cardiomegaly
    )
    assert flagged.requires_radiologist_review


def test_it_shows_hedged_critical_mentions_without_requiring_review() -> None:
    hedged = qa_check([PNEUMOTHORAX], "A small pneumothorax cannot be excluded.", critical=CRITICAL)
    assert [f.kind for f in hedged.flags] == [QaFlagKind.HEDGED]
    assert not hedged.requires_radiologist_review
    raised = qa_check([], "Possible right pleural effusion.", critical=CRITICAL)
    assert [f.kind for f in raised.flags] == [QaFlagKind.HEDGED_UNSUPPORTED]
    assert not raised.requires_radiologist_review
    assert hallucinations([], "Possible right pleural effusion.") == ()


def test_it_counts_findings_as_detected_by_threshold_when_given_one() -> None:
    findings = [Finding(Label.PNEUMOTHORAX, 0.4), Finding(Label.EDEMA, 0.7)]
    assert set(detections(findings)) == {Label.PNEUMOTHORAX, Label.EDEMA}
    assert set(detections(findings, threshold=0.5)) == {Label.EDEMA}
    per_label = {Label.PNEUMOTHORAX: 0.3, Label.EDEMA: 0.8}
    assert set(detections(findings, threshold=per_label)) == {Label.PNEUMOTHORAX}


def test_it_lists_positive_statements_without_detection_as_hallucinations() -> None:
    text = "Large right pleural effusion. Cardiomegaly. No pneumothorax. Possible edema."
    findings = [Finding(Label.CARDIOMEGALY, 0.9), Finding(Label.PLEURAL_EFFUSION, 0.2)]
    assert hallucinations(findings, text) == ()
    assert hallucinations(findings, text, threshold=0.5) == (Label.PLEURAL_EFFUSION,)
    assert hallucinations([], "The lungs are clear.") == ()


@pytest.mark.parametrize(
    "text",
    [
        "Pneumonia is in the differential.",
        "Possibility of left rib fracture.",
        "Additional fractures cannot entirely be excluded.",
    ],
)
def test_it_reads_hedged_statements_as_raising_not_asserting(text: str) -> None:
    assert hallucinations([], text) == ()
    result = qa_check([], text, critical=frozenset(LABELS))
    assert {f.kind for f in result.flags} <= {QaFlagKind.HEDGED_UNSUPPORTED}
    assert not result.requires_radiologist_review
