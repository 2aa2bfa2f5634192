"""The 14 CheXpert observation labels: the one place their names live.

The detection head, the rule-based labeller, the UI and the FHIR export all import
:class:`Label` from here; nothing else spells a label name. Values are the exact CheXpert
spellings (Irvin et al., 2019), so they round-trip with CheXpert/MIMIC-CXR label files.
Imports no Django.
"""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    """A CheXpert observation. The value is the CheXpert column name."""

    NO_FINDING = "No Finding"
    ENLARGED_CARDIOMEDIASTINUM = "Enlarged Cardiomediastinum"
    CARDIOMEGALY = "Cardiomegaly"
    LUNG_OPACITY = "Lung Opacity"
    LUNG_LESION = "Lung Lesion"
    EDEMA = "Edema"
    CONSOLIDATION = "Consolidation"
    PNEUMONIA = "Pneumonia"
    ATELECTASIS = "Atelectasis"
    PNEUMOTHORAX = "Pneumothorax"
    PLEURAL_EFFUSION = "Pleural Effusion"
    PLEURAL_OTHER = "Pleural Other"
    FRACTURE = "Fracture"
    SUPPORT_DEVICES = "Support Devices"


class Mention(StrEnum):
    """How a text mentions a label: CheXpert's 1 / 0 / -1 as words.

    A label the text does not mention at all has no :class:`Mention` (CheXpert's blank).
    """

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"


#: Output order of the detection head (index ``i`` of its logits is ``LABELS[i]``): the column
#: order of CheXpert's ``train.csv``. Changing it invalidates every trained checkpoint.
LABELS: tuple[Label, ...] = tuple(Label)

#: Labels that, when present, make a study critical by default (deployments may configure
#: another set). "Mass/nodule" of the specification is CheXpert's Lung Lesion.
DEFAULT_CRITICAL_LABELS: frozenset[Label] = frozenset(
    {Label.PNEUMOTHORAX, Label.FRACTURE, Label.LUNG_LESION, Label.PLEURAL_EFFUSION}
)

#: Labels that do not count against "No Finding": a normal study may carry a device.
NO_FINDING_COMPATIBLE: frozenset[Label] = frozenset({Label.NO_FINDING, Label.SUPPORT_DEVICES})

#: Precedence when several mentions of one label are aggregated (CheXpert): positive beats
#: uncertain beats negative.
MENTION_PRECEDENCE: dict[Mention, int] = {
    Mention.NEGATIVE: 0,
    Mention.UNCERTAIN: 1,
    Mention.POSITIVE: 2,
}


def label_from_name(name: str) -> Label:
    """The :class:`Label` for a CheXpert column name, case- and space-insensitive.

    Raises:
        ValueError: ``name`` is not one of the 14 CheXpert labels.
    """
    wanted = " ".join(name.split()).casefold()
    for label in Label:
        if label.value.casefold() == wanted:
            return label
    raise ValueError(f"not a CheXpert label: {name!r}")
