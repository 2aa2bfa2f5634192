"""The template baseline: one sentence per detected label, read back by the labeller."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.backends.base import StudyInput
from inference.backends.reference import ReferenceBackend
from inference.evaluation.baseline import TEMPLATES, TemplateBaseline, template_sentences
from inference.evaluation.cases import phantom_case
from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.types import Finding


@pytest.mark.parametrize("label", list(TEMPLATES))
def test_each_template_states_its_label(label: Label) -> None:
    assert label_report(TEMPLATES[label]).get(label) is Mention.POSITIVE


def test_no_detection_gives_a_normal_report() -> None:
    text = " ".join(s.text for s in template_sentences([]))

    assert label_report(text).get(Label.NO_FINDING) is Mention.POSITIVE


def test_findings_follow_anatomy_and_the_impression_lists_the_abnormal_ones() -> None:
    sentences = template_sentences(
        [
            Finding(Label.CARDIOMEGALY, 0.8),
            Finding(Label.SUPPORT_DEVICES, 0.9),
            Finding(Label.PNEUMOTHORAX, 0.7),
        ]
    )

    assert [s.label for s in sentences if s.section == "findings"] == [
        Label.SUPPORT_DEVICES,
        Label.PNEUMOTHORAX,
        Label.CARDIOMEGALY,
    ]
    impression = next(s.text for s in sentences if s.section == "impression")
    assert impression == "There is a pneumothorax. The heart is enlarged."


def test_it_drafts_like_a_model_from_the_detectors_findings(tiny_model_dir: Path) -> None:
    detector = ReferenceBackend(tiny_model_dir, "cpu")
    baseline = TemplateBaseline(detector)
    case = phantom_case(100_000, detector.image_size)
    study = StudyInput(case.case_id, (case.image,), case.context)

    draft = baseline.predict(study)

    assert draft.model_name == "template-baseline" and draft.model_version == "test-1+template"
    assert draft.findings == detector.detect_batch([study])[0][0]
    stated = {s.label for s in draft.sentences if s.section == "findings" and s.label}
    assert stated == {f.label for f in draft.findings}
    assert "compose" in draft.timings_ms
