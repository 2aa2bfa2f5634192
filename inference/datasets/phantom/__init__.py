"""Procedural chest radiograph phantoms: seeded, reproducible, with findings, boxes and reports.

The demonstration model's training set and the benchmarks' load generator. A
:class:`PhantomSpec` (seed, size, photometric, bits, findings) renders to a :class:`Phantom`
(pixels, boxes, report text, clinical context) with :func:`render_phantom`; :func:`sample_spec`
draws specs with realistic prevalence; :func:`to_dicom`, :func:`write_dicom` and
:func:`to_png` write them out. ``python -m inference.datasets.phantom`` writes a data set.
Imports no Django.
"""

from inference.datasets.phantom.render import render_phantom
from inference.datasets.phantom.report import sentence_bank
from inference.datasets.phantom.spec import (
    FINDING_LABELS,
    LABEL_FINDINGS,
    Box,
    ClinicalContext,
    FindingKind,
    FindingSpec,
    Laterality,
    Phantom,
    PhantomFinding,
    PhantomReport,
    PhantomSpec,
    Photometric,
    Severity,
    sample_spec,
)
from inference.datasets.phantom.writers import to_dicom, to_png, write_dicom

__all__ = [
    "FINDING_LABELS",
    "LABEL_FINDINGS",
    "Box",
    "ClinicalContext",
    "FindingKind",
    "FindingSpec",
    "Laterality",
    "Phantom",
    "PhantomFinding",
    "PhantomReport",
    "PhantomSpec",
    "Photometric",
    "Severity",
    "render_phantom",
    "sample_spec",
    "sentence_bank",
    "to_dicom",
    "to_png",
    "write_dicom",
]
