"""Fusion's decision at the operating threshold: raised, lowered, or left as the image said;
an unfitted (pass-through) label never changes the image's decision."""

from __future__ import annotations

import pytest

from inference.fusion.decision import (
    CONTEXT_SOURCE,
    ContextEffect,
    context_decisions,
    context_effect,
    evidence_names,
)
from inference.fusion.model import FusedFinding
from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.types import Draft, Finding, Sentence


def _fused(label: Label, image: float, adjusted: float, *, fitted: bool = True) -> FusedFinding:
    return FusedFinding(label, image, adjusted, 0.0, {}, {}, (), fitted)


@pytest.mark.parametrize(
    ("image", "adjusted", "reported", "fitted", "expected"),
    [
        (0.38, 0.71, False, True, ContextEffect.RAISED),
        (0.38, 0.45, False, True, ContextEffect.NONE),
        (0.62, 0.21, True, True, ContextEffect.LOWERED),
        (0.62, 0.55, True, True, ContextEffect.NONE),
        (0.62, 0.21, True, False, ContextEffect.NONE),
        (0.38, 0.71, False, False, ContextEffect.NONE),
        (0.38, 0.50, False, True, ContextEffect.RAISED),  # at the threshold counts as reported
    ],
)
def test_it_decides_by_the_adjusted_probability_at_the_threshold(
    image: float, adjusted: float, reported: bool, fitted: bool, expected: ContextEffect
) -> None:
    fused = _fused(Label.PNEUMONIA, image, adjusted, fitted=fitted)

    assert context_effect(fused, reported=reported, threshold=0.5) is expected


def test_a_raised_finding_joins_the_draft_with_a_sentence_that_states_it() -> None:
    draft = Draft(
        findings=(Finding(Label.CARDIOMEGALY, 0.8),),
        sentences=(Sentence("The heart is enlarged.", "findings", Label.CARDIOMEGALY),),
        model_name="t",
        model_version="t",
    )
    evidence = [
        {"code": "crp", "display": "C-reactive protein", "value": "180", "unit": "mg/L",
         "contribution_logit": 1.2},
        {"code": "age", "display": "Age", "value": "70", "unit": "a", "contribution_logit": -0.1},
    ]  # fmt: skip

    findings, sentences, effects = context_decisions(
        draft=draft,
        fused={
            Label.CARDIOMEGALY: _fused(Label.CARDIOMEGALY, 0.8, 0.8),
            Label.PNEUMONIA: _fused(Label.PNEUMONIA, 0.38, 0.71),
        },
        evidence={Label.PNEUMONIA: evidence},
        thresholds={Label.CARDIOMEGALY: 0.5, Label.PNEUMONIA: 0.5},
        critical=frozenset({Label.PNEUMONIA}),
    )

    assert [f.label for f in findings] == [Label.CARDIOMEGALY, Label.PNEUMONIA]
    raised = findings[1]
    assert raised.confidence == 0.71 and raised.is_critical and raised.box is None
    assert raised.context_contribution == pytest.approx(0.33)
    assert effects == {
        Label.CARDIOMEGALY: ContextEffect.NONE,
        Label.PNEUMONIA: ContextEffect.RAISED,
    }
    sentence, impression = sentences
    assert (sentence.label, sentence.section, sentence.source) == (
        Label.PNEUMONIA,
        "findings",
        CONTEXT_SOURCE,
    )
    assert "C-reactive protein 180 mg/L" in sentence.text and "Age" not in sentence.text
    assert label_report(sentence.text) == {Label.PNEUMONIA: Mention.POSITIVE}
    assert (impression.label, impression.section) == (Label.PNEUMONIA, "impression")
    assert impression.text == (
        "Pneumonia, given the clinical context (C-reactive protein 180 mg/L)."
    )
    assert label_report(impression.text) == {Label.PNEUMONIA: Mention.POSITIVE}


def test_evidence_names_keep_the_direction_asked_for_and_name_free_text() -> None:
    evidence = [
        {"code": "history", "display": "Clinical history", "value": "fever and cough",
         "unit": "", "contribution_logit": 0.9},
        {"code": "crp", "display": "C-reactive protein", "value": "2", "unit": "mg/L",
         "contribution_logit": -0.7},
        {"code": "prior", "display": "Prior study", "value": "1.2.3", "contribution_logit": 0.5},
    ]  # fmt: skip

    assert evidence_names(evidence, sign=1.0) == ["Clinical history"]
    assert evidence_names(evidence, sign=-1.0) == ["C-reactive protein 2 mg/L"]
