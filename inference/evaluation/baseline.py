"""The rule-based template baseline: the detection head's labels, one fixed sentence each.

It is what any drafting model must beat: the same detector (same findings, same boxes) with
no language model at all. It implements the :class:`inference.backends.base.Backend`
interface, so the evaluation drafts with it exactly as with a model. Imports no Django.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

from inference.backends.base import StudyInput
from inference.backends.reference import ReferenceBackend
from inference.drafting.wording import POSITION
from inference.labels import Label
from inference.types import Draft, Finding, Sentence

NAME = "template-baseline"
SOURCE = "template"
#: One sentence per label, each read back as exactly that label (positive) by the labeller.
TEMPLATES: Final[dict[Label, str]] = {
    Label.SUPPORT_DEVICES: "A support device is present.",
    Label.LUNG_OPACITY: "There is an airspace opacity.",
    Label.CONSOLIDATION: "There is focal consolidation.",
    Label.PNEUMONIA: "There is pneumonia.",
    Label.ATELECTASIS: "There is atelectasis.",
    Label.EDEMA: "There is pulmonary edema.",
    Label.LUNG_LESION: "There is a pulmonary nodule.",
    Label.PLEURAL_EFFUSION: "There is a pleural effusion.",
    Label.PNEUMOTHORAX: "There is a pneumothorax.",
    Label.PLEURAL_OTHER: "There is pleural thickening.",
    Label.CARDIOMEGALY: "The heart is enlarged.",
    Label.ENLARGED_CARDIOMEDIASTINUM: "The mediastinum is widened.",
    Label.FRACTURE: "There is a rib fracture.",
}
NORMAL_FINDINGS: Final = (
    "The heart size is normal.",
    "The lungs are clear.",
    "There is no pleural effusion or pneumothorax.",
)
NORMAL_IMPRESSION: Final = "No acute cardiopulmonary abnormality."


def template_sentences(findings: Sequence[Finding]) -> tuple[Sentence, ...]:
    """Findings: one template per detected label in anatomical order (the normal sentences
    when nothing is detected); impression: the abnormal labels, or "no acute abnormality"."""
    labels = sorted({f.label for f in findings if f.label in TEMPLATES}, key=POSITION.__getitem__)
    if not labels:
        normal = [Sentence(text, "findings", None, SOURCE) for text in NORMAL_FINDINGS]
        return (*normal, Sentence(NORMAL_IMPRESSION, "impression", None, SOURCE))
    out = [Sentence(TEMPLATES[label], "findings", label, SOURCE) for label in labels]
    abnormal = [label for label in labels if label is not Label.SUPPORT_DEVICES]
    impression = (
        ". ".join(TEMPLATES[label].removesuffix(".") for label in abnormal) + "."
        if abnormal
        else NORMAL_IMPRESSION
    )
    out.append(Sentence(impression, "impression", abnormal[0] if abnormal else None, SOURCE))
    return tuple(out)


class TemplateBaseline:
    """Implements ``inference.backends.base.Backend`` on a reference model's detector."""

    name = NAME

    def __init__(self, detector: ReferenceBackend) -> None:
        self.detector = detector
        self.model_name = NAME
        self.version = f"{detector.version}+template"
        self.image_size = detector.image_size

    def predict(self, study: StudyInput) -> Draft:
        return self.predict_batch([study])[0]

    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Detect in one batch, then write the templates. Raises ``NoFrontalImage``."""
        drafts = []
        for findings, timings in self.detector.detect_batch(studies):
            started = time.perf_counter()
            sentences = template_sentences(findings)
            timings["compose"] = (time.perf_counter() - started) * 1000
            drafts.append(
                Draft(
                    findings=findings,
                    sentences=sentences,
                    model_name=self.model_name,
                    model_version=self.version,
                    timings_ms=timings,
                )
            )
        return drafts
