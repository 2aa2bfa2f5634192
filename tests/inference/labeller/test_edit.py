"""inference.labeller.edit: a label is taken out of a list sentence and everything the
sentence says of the other labels stays; where that cannot be done safely, None."""

from __future__ import annotations

import pytest

from inference.labeller import label_report
from inference.labeller.edit import sentence_without
from inference.labels import Label


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("No pneumothorax, pleural effusion or pneumonia.", "No pneumothorax or pleural effusion."),
        (
            "No pleural effusion, pneumothorax, or pneumonia.",
            "No pleural effusion or pneumothorax.",
        ),
        ("No pneumonia, pleural effusion or pneumothorax.", "No pleural effusion or pneumothorax."),
        ("No focal consolidation or pneumonia is seen.", "No focal consolidation is seen."),
        ("Mild cardiomegaly, without evidence of pneumonia.", "Mild cardiomegaly."),
        ("No pneumothorax or pleural effusion.", "No pneumothorax or pleural effusion."),
    ],
)
def test_the_label_goes_and_the_rest_of_the_list_stays(sentence: str, expected: str) -> None:
    shortened = sentence_without(sentence, Label.PNEUMONIA)

    assert shortened == expected
    before = {k: v for k, v in label_report(sentence).items() if k is not Label.PNEUMONIA}
    assert label_report(shortened) == before


def test_the_commas_of_another_clause_are_not_turned_into_a_conjunction() -> None:
    shortened = sentence_without(
        "The heart, mediastinum and hila are normal; no effusion or pneumonia.", Label.PNEUMONIA
    )

    assert shortened == "The heart, mediastinum and hila are normal; no effusion."


@pytest.mark.parametrize(
    "sentence",
    [
        "No pneumonia.",  # nothing else is said
        "The lungs are clear without pneumonia.",  # says nothing of another label
    ],
)
def test_a_sentence_about_the_label_alone_cannot_be_kept(sentence: str) -> None:
    assert sentence_without(sentence, Label.PNEUMONIA) is None
