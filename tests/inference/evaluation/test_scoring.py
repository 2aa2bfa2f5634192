"""Scoring, error analysis and subgroup audit on hand-made drafts (no model involved)."""

from __future__ import annotations

import numpy as np
import pytest

from inference.evaluation.cases import EvalCase, TruthFinding, age_band
from inference.evaluation.metrics import resample_indices
from inference.evaluation.runner import CaseResult
from inference.evaluation.scoring import box_iou, score_system
from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label
from inference.types import (
    ClinicalContext,
    Draft,
    Finding,
    Laterality,
    PreparedImage,
    Sentence,
    Severity,
)

IMAGE = PreparedImage(np.zeros((8, 8), np.float32), (64, 64), 0.125, (0, 0))
THRESHOLDS = np.full(len(LABELS), 0.5, dtype=np.float32)


def probabilities(**high: float) -> np.ndarray:
    out = np.full(len(LABELS), 0.1, dtype=np.float32)
    for name, value in high.items():
        out[LABELS.index(Label[name])] = value
    return out


def result(case_id: str, p: np.ndarray, text: str, *findings: Finding) -> CaseResult:
    sentences = tuple(Sentence(s.strip() + ".", "findings") for s in text.split(".") if s.strip())
    return CaseResult(case_id, p, Draft(findings, sentences, "hand", "1"), latency_ms=10.0)


def case(case_id: str, labels: set[Label], age: int, sex: str, *truth: TruthFinding) -> EvalCase:
    return EvalCase(
        case_id=case_id,
        image=IMAGE,
        context=ClinicalContext(age_years=age, sex=sex),
        labels=frozenset(labels),
        reference="reference text",
        truth=truth,
    )


@pytest.fixture
def scored() -> dict:
    effusion = TruthFinding(
        Label.PLEURAL_EFFUSION, Laterality.LEFT, Severity.MODERATE, (10, 10, 30, 30)
    )
    pneumothorax = TruthFinding(Label.PNEUMOTHORAX, Laterality.RIGHT, Severity.MILD, (0, 0, 9, 9))
    cases = [
        case("c1", {Label.PLEURAL_EFFUSION}, 35, "F", effusion),
        case("c2", {Label.PNEUMOTHORAX}, 70, "M", pneumothorax),
        case("c3", {Label.NO_FINDING}, 50, "F"),
    ]
    results = [
        # Detected with half the truth box; the text puts it on the wrong side, too small.
        result(
            "c1",
            probabilities(PLEURAL_EFFUSION=0.9),
            "There is a small right pleural effusion.",
            Finding(Label.PLEURAL_EFFUSION, 0.9, Severity.SEVERE, box=(10, 10, 30, 20)),
        ),
        # Pneumothorax missed by head and text; the text invents an effusion.
        result(
            "c2",
            probabilities(PNEUMOTHORAX=0.2),
            "The lungs are clear. There is a pleural effusion.",
        ),
        result("c3", probabilities(NO_FINDING=0.8), "No acute cardiopulmonary abnormality."),
    ]
    figures, _ = score_system(
        cases,
        results,
        thresholds=THRESHOLDS,
        critical=DEFAULT_CRITICAL_LABELS,
        draws=resample_indices(3, 30, seed=0),
    )
    return figures


def test_critical_sensitivity_counts_truth_critical_findings_the_head_found(scored: dict) -> None:
    assert scored["summary"]["critical_sensitivity"] == 0.5  # effusion found, pneumothorax not


def test_hallucination_rate_is_the_share_of_drafts_asserting_an_absent_finding(
    scored: dict,
) -> None:
    assert scored["summary"]["hallucination_rate"] == pytest.approx(1 / 3)
    assert scored["summary"]["unsupported_rate"] == pytest.approx(1 / 3)
    assert scored["errors"]["hallucinated"]["examples"] == [
        {"case_id": "c2", "label": "Pleural Effusion"}
    ]


def test_box_iou_averages_over_detected_truth_boxes(scored: dict) -> None:
    assert scored["summary"]["box_iou"] == pytest.approx(0.5)


def test_error_analysis_names_missed_side_and_severity_errors(scored: dict) -> None:
    errors = scored["errors"]

    assert errors["missed"]["examples"] == [{"case_id": "c2", "label": "Pneumothorax"}]
    assert errors["wrong_laterality"]["examples"] == [
        {"case_id": "c1", "label": "Pleural Effusion", "truth": "left", "draft": "right"}
    ]
    assert errors["wrong_laterality"]["assessed"] == 1
    assert errors["wrong_severity"]["examples"][0]["draft"] == "mild"  # "small", not the head's


def test_detection_f1_and_per_label_figures(scored: dict) -> None:
    # TPs: effusion (c1), No Finding (c3); FN: pneumothorax (c2).
    assert scored["summary"]["micro_f1_14"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    effusion = next(r for r in scored["per_label"] if r["label"] == "Pleural Effusion")
    assert effusion["positives"] == 1 and effusion["auc"]["value"] == 1.0


def test_subgroups_report_groups_and_gaps(scored: dict) -> None:
    sex = scored["subgroups"]["sex"]

    assert [g["group"] for g in sex["groups"]] == ["female", "male"]
    assert sex["equalised_odds"]["tpr_gap"] == 1.0  # female TPR 1, male TPR 0
    assert [g["group"] for g in scored["subgroups"]["age_band"]["groups"]] == [
        "40-59",
        "60-79",
        "<40",
    ]


def test_box_iou_and_age_bands() -> None:
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert [age_band(a) for a in (None, 39, 40, 79, 80)] == [
        "unknown",
        "<40",
        "40-59",
        "60-79",
        "80+",
    ]
