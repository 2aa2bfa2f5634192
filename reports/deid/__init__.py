"""De-identification before data leaves (SPEC R10): DICOM per PS3.15 Basic Profile, PHI in
report text, and the export's pseudonymous ids. Imports no Django."""

from reports.deid.dicom import BASIC_PROFILE_REMOVE, DeidentificationError, DicomDeidentifier
from reports.deid.pseudonyms import Pseudonyms, salt_new
from reports.deid.text import (
    PhiTerms,
    phi_terms_build,
    phi_terms_from_dataset,
    phi_text_find,
    phi_text_scrub,
)

__all__ = [
    "BASIC_PROFILE_REMOVE",
    "DeidentificationError",
    "DicomDeidentifier",
    "PhiTerms",
    "Pseudonyms",
    "phi_terms_build",
    "phi_terms_from_dataset",
    "phi_text_find",
    "phi_text_scrub",
    "salt_new",
]
