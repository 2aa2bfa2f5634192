"""inference.vqa: questions about one study answered from its findings, signed text and prior."""

from __future__ import annotations

import pytest

from inference.labels import DEFAULT_CRITICAL_LABELS, Label
from inference.types import Laterality, Severity
from inference.vqa import (
    CANNOT,
    DEMONSTRATION_NOTICE,
    MAX_QUESTION_CHARS,
    FindingRecord,
    Intent,
    Source,
    StudyFacts,
    answer_question,
    parse_question,
)

EFFUSION = FindingRecord(
    label=Label.PLEURAL_EFFUSION,
    confidence=0.91,
    laterality=Laterality.RIGHT,
    severity=Severity.MILD,
    box=(100, 200, 300, 400),
    heatmap="pleural_effusion.png",
    heatmap_url="/api/v1/reports/7/heatmaps/pleural_effusion.png",
    is_critical=True,
)
CARDIOMEGALY = FindingRecord(label=Label.CARDIOMEGALY, confidence=0.55, box=(50, 50, 90, 90))
PNEUMOTHORAX = FindingRecord(
    label=Label.PNEUMOTHORAX, confidence=0.4, laterality=Laterality.LEFT, is_critical=True
)


def draft(*findings: FindingRecord, demonstration: bool = True) -> StudyFacts:
    """An unsigned study with an AI draft of ``findings``."""
    return StudyFacts(
        study_uid="1.2.3.2",
        study_date="2026-03-02",
        findings=findings,
        has_draft=True,
        model_name="reference-tiny",
        model_version="demo-1",
        demonstration=demonstration,
    )


def signed(text: str, *findings: FindingRecord) -> StudyFacts:
    return StudyFacts(
        study_uid="1.2.3.2",
        study_date="2026-03-02",
        findings=findings,
        has_draft=bool(findings),
        signed_text=text,
        model_name="reference-tiny",
        model_version="demo-1",
        demonstration=True,
    )


def ask(question: str, facts: StudyFacts, prior: StudyFacts | None = None) -> object:
    return answer_question(question, facts, prior=prior, critical=DEFAULT_CRITICAL_LABELS)


# --- Reading the question -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "label"),
    [
        ("Is there a pleural effusion?", Label.PLEURAL_EFFUSION),
        ("any effusions?", Label.PLEURAL_EFFUSION),
        ("Is there a hemothorax?", Label.PLEURAL_EFFUSION),
        ("Is there a nodule?", Label.LUNG_LESION),
        ("could this be a mass", Label.LUNG_LESION),
        ("Is the heart enlarged?", Label.CARDIOMEGALY),
        ("cardiomegaly?", Label.CARDIOMEGALY),
        ("Is there a broken rib?", Label.FRACTURE),
        ("Is the PICC line visible?", Label.SUPPORT_DEVICES),
        ("Any sign of heart failure?", Label.EDEMA),
        ("Is there collapse of the left lower lobe?", Label.ATELECTASIS),
        ("Is there lung opacity?", Label.LUNG_OPACITY),
        ("Is there enlarged cardiomediastinum?", Label.ENLARGED_CARDIOMEDIASTINUM),
    ],
)
def test_it_maps_synonyms_to_labels_with_the_labellers_vocabulary(
    question: str, label: Label
) -> None:
    assert parse_question(question).labels == (label,)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Is there a pneumothorax?", Intent.PRESENCE),
        ("Where is the effusion?", Intent.LOCATION),
        ("Which side is the pneumothorax on?", Intent.LOCATION),
        ("How large is the effusion?", Intent.SEVERITY),
        ("Has the nodule grown since the prior?", Intent.CHANGE),
        ("What has changed since the last study?", Intent.CHANGE),
        ("What is the most urgent finding?", Intent.MOST_URGENT),
        ("Anything I should worry about?", Intent.MOST_URGENT),
        ("Is the pneumothorax bigger than before?", Intent.CHANGE),
        ("Are the lungs clear?", Intent.NORMAL),
        ("Is this normal?", Intent.NORMAL),
        ("What is the patient's blood pressure?", Intent.UNANSWERABLE),
        ("Is there emphysema?", Intent.UNANSWERABLE),
    ],
)
def test_it_reads_what_the_question_asks(question: str, intent: Intent) -> None:
    assert parse_question(question).intent is intent


@pytest.mark.parametrize("question", ["", "   \n", "x" * (MAX_QUESTION_CHARS + 1)])
def test_it_refuses_a_blank_or_overlong_question(question: str) -> None:
    with pytest.raises(ValueError, match=r"empty|longer"):
        parse_question(question)


# --- Presence -----------------------------------------------------------------------------
def test_it_answers_presence_from_the_ai_draft_with_its_evidence() -> None:
    answer = ask("Is there a pleural effusion?", draft(EFFUSION, CARDIOMEGALY))
    assert answer.answerable and answer.intent is Intent.PRESENCE
    assert answer.text.startswith("Yes. The AI draft finds pleural effusion")
    assert "0.91" in answer.text and "right" in answer.text
    (evidence,) = answer.evidence
    assert evidence.source is Source.AI_DRAFT
    assert evidence.label is Label.PLEURAL_EFFUSION
    assert evidence.confidence == pytest.approx(0.91)
    assert evidence.bounding_box == (100, 200, 300, 400)
    assert evidence.heatmap == "pleural_effusion.png"
    assert evidence.as_dict()["heatmap_url"].endswith("pleural_effusion.png")
    assert answer.notice == DEMONSTRATION_NOTICE


def test_it_says_no_when_the_draft_does_not_report_the_finding() -> None:
    answer = ask("Is there a pneumothorax?", draft(EFFUSION))
    assert answer.text.startswith("No pneumothorax is reported")
    assert answer.evidence == ()


def test_a_finding_the_radiologist_rejected_counts_as_absent_before_signing() -> None:
    rejected = FindingRecord(Label.CARDIOMEGALY, 0.55, decision="rejected")
    answer = ask("Is the heart enlarged?", draft(EFFUSION, rejected))
    assert answer.text.startswith("No cardiomegaly is reported")
    assert "rejected" in answer.text


def test_the_signed_text_decides_and_its_sentence_is_evidence() -> None:
    facts = signed(
        "Small right pleural effusion. Heart size is normal. No pneumothorax.",
        FindingRecord(**{**EFFUSION.__dict__, "decision": "accepted"}),
        FindingRecord(**{**CARDIOMEGALY.__dict__, "decision": "rejected"}),
    )
    effusion = ask("is there a pleural effusion?", facts)
    assert effusion.text.startswith("Yes. The signed report describes pleural effusion")
    assert [e.source for e in effusion.evidence] == [Source.SIGNED_REPORT, Source.AI_DRAFT]
    assert effusion.evidence[0].sentence == "Small right pleural effusion."
    assert effusion.evidence[1].decision == "accepted"

    heart = ask("Is the heart enlarged?", facts)
    assert heart.text == 'No. The signed report states: "Heart size is normal."'
    # The AI's rejected finding is not offered as evidence once the report is signed.
    assert [e.source for e in heart.evidence] == [Source.SIGNED_REPORT]


def test_hedged_signed_text_answers_possibly() -> None:
    answer = ask("Is there a pneumothorax?", signed("Possible small left apical pneumothorax."))
    assert answer.text.startswith("Possibly. The signed report is uncertain about pneumothorax")


# --- Location and severity ----------------------------------------------------------------
def test_it_answers_where_with_the_side_and_draws_the_region() -> None:
    answer = ask("Where is the effusion?", draft(EFFUSION))
    assert answer.intent is Intent.LOCATION
    assert "on the right side" in answer.text and "drawn on the image" in answer.text
    assert answer.evidence[0].bounding_box == (100, 200, 300, 400)


def test_location_comes_from_the_signed_sentence_when_the_ai_has_no_side() -> None:
    answer = ask("Which side is the pneumothorax?", signed("Large left pneumothorax."))
    assert "on the left side" in answer.text


def test_it_answers_size_from_the_report_words_then_the_ai_severity() -> None:
    assert "is mild" in ask("How large is the effusion?", draft(EFFUSION)).text
    text = ask("How big is the pneumothorax?", signed("Large left pneumothorax.")).text
    assert "is severe" in text
    ungraded = ask("How severe is the cardiomegaly?", draft(CARDIOMEGALY)).text
    assert "does not grade" in ungraded


# --- Change against the prior -------------------------------------------------------------
PRIOR = StudyFacts(
    study_uid="1.2.3.1",
    study_date="2025-11-20",
    findings=(FindingRecord(Label.PLEURAL_EFFUSION, 0.8, Laterality.RIGHT, Severity.MILD),),
    has_draft=True,
    signed_text="Small right pleural effusion. Small nodule in the right upper lobe.",
)


def test_it_compares_with_the_prior_and_names_it() -> None:
    grown = FindingRecord(Label.LUNG_LESION, 0.7, severity=Severity.SEVERE, box=(1, 1, 50, 50))
    answer = ask("Has the nodule grown since the prior?", draft(EFFUSION, grown), prior=PRIOR)
    assert answer.intent is Intent.CHANGE
    assert "persists since the prior of 2025-11-20" in answer.text
    assert "larger/worse: severe now, mild on the prior" in answer.text
    assert answer.prior_study_uid == "1.2.3.1"
    assert answer.as_dict()["prior"] == {"study_uid": "1.2.3.1", "study_date": "2025-11-20"}
    assert {e.is_prior for e in answer.evidence} == {True, False}


def test_it_reports_new_and_resolved_findings_overall() -> None:
    answer = ask("What has changed since the previous film?", draft(PNEUMOTHORAX), prior=PRIOR)
    assert "Pneumothorax is new since the prior" in answer.text
    assert "Pleural effusion has resolved" in answer.text
    assert "Lung lesion has resolved" in answer.text


def test_a_change_question_without_a_prior_cannot_be_answered() -> None:
    answer = ask("Has the effusion changed since the prior?", draft(EFFUSION))
    assert not answer.answerable
    assert answer.text.startswith(CANNOT)
    assert "no earlier study" in answer.reason


# --- Most urgent and normal ---------------------------------------------------------------
def test_the_most_urgent_finding_follows_triage_weights() -> None:
    # A critical pneumothorax at 0.4 outranks a non-critical cardiomegaly at 0.55.
    answer = ask("What is the most urgent finding?", draft(CARDIOMEGALY, PNEUMOTHORAX))
    assert answer.text.startswith("The most urgent finding is pneumothorax")
    assert "a critical finding" in answer.text
    assert "Then: cardiomegaly" in answer.text
    assert answer.evidence[0].label is Label.PNEUMOTHORAX


def test_it_says_whether_the_study_is_normal() -> None:
    assert ask("Is this normal?", draft()).text.startswith("Yes. The AI draft describes no")
    abnormal = ask("Is this normal?", draft(EFFUSION))
    assert abnormal.text == "No. The AI draft describes pleural effusion."
    scoliosis = ask("Is this study normal?", signed("Lungs are clear. Mild scoliosis."))
    assert scoliosis.text.startswith("No. The signed report describes scoliosis")


# --- Cannot answer ------------------------------------------------------------------------
def test_a_question_outside_the_findings_gets_a_clear_cannot_answer_with_the_reason() -> None:
    answer = ask("What is the patient's blood pressure?", draft(EFFUSION))
    assert not answer.answerable and answer.text.startswith(CANNOT)
    assert "names none of the findings" in answer.reason
    emphysema = ask("Is there emphysema?", draft(EFFUSION))
    assert "emphysema is not one of the 14 findings" in emphysema.text


def test_a_study_without_draft_or_signed_report_cannot_answer() -> None:
    answer = ask("Is there a pleural effusion?", StudyFacts(study_uid="1.2"))
    assert not answer.answerable
    assert "no AI draft and no signed report" in answer.reason


# --- A VLM's answer -----------------------------------------------------------------------
def test_a_vlm_answer_keeps_the_structured_evidence_and_says_it_is_ai() -> None:
    answer = answer_question(
        "Is there a pleural effusion?",
        draft(EFFUSION, demonstration=False),
        critical=DEFAULT_CRITICAL_LABELS,
        vlm_answer="  A small right pleural effusion is seen. ",
        vlm_model="medgemma 4b",
    )
    assert answer.answered_by == "vlm" and answer.model == "medgemma 4b"
    assert answer.text == "A small right pleural effusion is seen."
    assert answer.evidence[0].bounding_box == (100, 200, 300, 400)
    assert answer.notice == "AI generated."
