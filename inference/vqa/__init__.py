"""Visual question answering about one study: "is there a pleural effusion?", "where is it?",
"has the nodule grown since the prior?", "what is the most urgent finding?", "is this normal?".

With the demonstration, reference, retrieval or ONNX model, answers come from the study's
structured AI findings (confidence, laterality, severity, box, heatmap), the signed report as
the rule labeller reads it, and the prior study's findings; a question outside that gets "I
cannot answer that from this study" with the reason. With an ``hf`` image-text model, the
model's own words are the answer and the same evidence is attached. Imports no Django.
"""

from inference.vqa.engine import CANNOT, DEMONSTRATION_NOTICE, answer_question
from inference.vqa.question import MAX_QUESTION_CHARS, ParsedQuestion, parse_question
from inference.vqa.types import (
    Answer,
    Evidence,
    FindingRecord,
    Intent,
    Presence,
    Source,
    StudyFacts,
)

__all__ = [
    "CANNOT",
    "DEMONSTRATION_NOTICE",
    "MAX_QUESTION_CHARS",
    "Answer",
    "Evidence",
    "FindingRecord",
    "Intent",
    "ParsedQuestion",
    "Presence",
    "Source",
    "StudyFacts",
    "answer_question",
    "parse_question",
]
