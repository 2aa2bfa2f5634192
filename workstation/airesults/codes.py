"""Coded concepts for the CheXpert labels in DICOM SR: the one table of them.

SNOMED CT codes are those of the FHIR export (``reports.fhir.SNOMED``): one meaning per label,
whatever the format. Labels without an unambiguous SNOMED concept get a code of the project's
private coding scheme (``99RADWS``, PS3.16 8.2: private schemes start with ``99``), so every
finding is still a coded concept a receiving system can match on.
"""

from __future__ import annotations

from typing import Final

from pydicom.sr.coding import Code

from inference.labels import Label
from reports.fhir import SNOMED

LOCAL_SCHEME: Final = "99RADWS"

_LOCAL: Final[dict[Label, str]] = {
    Label.ENLARGED_CARDIOMEDIASTINUM: "ENLCARDIOMED",
    Label.LUNG_OPACITY: "LUNGOPACITY",
    Label.PLEURAL_OTHER: "PLEURALOTHER",
    Label.SUPPORT_DEVICES: "SUPPORTDEVICES",
}

FINDING_CODES: Final[dict[Label, Code]] = {
    **{label: Code(code, "SCT", meaning) for label, (code, meaning) in SNOMED.items()},
    **{label: Code(code, LOCAL_SCHEME, label.value) for label, code in _LOCAL.items()},
}


def finding_code(label: Label) -> Code:
    """The coded concept for ``label`` (every label has one)."""
    return FINDING_CODES[label]


def label_for_code(value: str, scheme: str) -> Label | None:
    """The label a coded concept stands for, or ``None`` (reading results back)."""
    for label, code in FINDING_CODES.items():
        if code.value == value and code.scheme_designator == scheme:
            return label
    return None
