"""What a phantom is: its specification, its findings, the CheXpert mapping and the sampler.

Imports no Django. Coordinates are pixels of the image array: ``x`` is the column, ``y`` the
row, origin top left. A frontal (PA) film is viewed as if facing the patient, so the
patient's *right* is on the image's *left*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from inference.labels import Label


class FindingKind(StrEnum):
    """A finding the phantom can draw."""

    CARDIOMEGALY = "cardiomegaly"
    PLEURAL_EFFUSION = "pleural_effusion"
    PNEUMOTHORAX = "pneumothorax"
    CONSOLIDATION = "consolidation"
    NODULE = "nodule"
    MASS = "mass"
    EDEMA = "edema"
    ATELECTASIS = "atelectasis"
    RIB_FRACTURE = "rib_fracture"
    ENDOTRACHEAL_TUBE = "endotracheal_tube"
    CENTRAL_LINE = "central_line"
    PACEMAKER = "pacemaker"


class Laterality(StrEnum):
    """The patient's side (not the image's)."""

    RIGHT = "right"
    LEFT = "left"
    BILATERAL = "bilateral"


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class Photometric(StrEnum):
    MONOCHROME1 = "MONOCHROME1"  # higher stored value = darker (stored inverted)
    MONOCHROME2 = "MONOCHROME2"  # higher stored value = brighter


#: The CheXpert labels each finding asserts (CheXpert's hierarchy: the parenchymal findings
#: are also "Lung Opacity"; cardiomegaly is also "Enlarged Cardiomediastinum").
FINDING_LABELS: dict[FindingKind, tuple[Label, ...]] = {
    FindingKind.CARDIOMEGALY: (Label.CARDIOMEGALY, Label.ENLARGED_CARDIOMEDIASTINUM),
    FindingKind.PLEURAL_EFFUSION: (Label.PLEURAL_EFFUSION,),
    FindingKind.PNEUMOTHORAX: (Label.PNEUMOTHORAX,),
    FindingKind.CONSOLIDATION: (Label.CONSOLIDATION, Label.LUNG_OPACITY),
    FindingKind.NODULE: (Label.LUNG_LESION, Label.LUNG_OPACITY),
    FindingKind.MASS: (Label.LUNG_LESION, Label.LUNG_OPACITY),
    FindingKind.EDEMA: (Label.EDEMA, Label.LUNG_OPACITY),
    FindingKind.ATELECTASIS: (Label.ATELECTASIS, Label.LUNG_OPACITY),
    FindingKind.RIB_FRACTURE: (Label.FRACTURE,),
    FindingKind.ENDOTRACHEAL_TUBE: (Label.SUPPORT_DEVICES,),
    FindingKind.CENTRAL_LINE: (Label.SUPPORT_DEVICES,),
    FindingKind.PACEMAKER: (Label.SUPPORT_DEVICES,),
}

#: The same mapping keyed by label: which findings make each CheXpert label positive.
LABEL_FINDINGS: dict[Label, tuple[FindingKind, ...]] = {
    label: tuple(kind for kind, labels in FINDING_LABELS.items() if label in labels)
    for label in Label
}

#: Sides each finding may take; ``()`` means the finding has no side.
ALLOWED_LATERALITY: dict[FindingKind, tuple[Laterality, ...]] = {
    FindingKind.CARDIOMEGALY: (),
    FindingKind.PLEURAL_EFFUSION: (Laterality.RIGHT, Laterality.LEFT, Laterality.BILATERAL),
    FindingKind.PNEUMOTHORAX: (Laterality.RIGHT, Laterality.LEFT),
    FindingKind.CONSOLIDATION: (Laterality.RIGHT, Laterality.LEFT, Laterality.BILATERAL),
    FindingKind.NODULE: (Laterality.RIGHT, Laterality.LEFT),
    FindingKind.MASS: (Laterality.RIGHT, Laterality.LEFT),
    FindingKind.EDEMA: (Laterality.BILATERAL,),
    FindingKind.ATELECTASIS: (Laterality.RIGHT, Laterality.LEFT, Laterality.BILATERAL),
    FindingKind.RIB_FRACTURE: (Laterality.RIGHT, Laterality.LEFT),
    FindingKind.ENDOTRACHEAL_TUBE: (),
    FindingKind.CENTRAL_LINE: (Laterality.RIGHT, Laterality.LEFT),
    FindingKind.PACEMAKER: (Laterality.LEFT, Laterality.RIGHT),
}

DEVICE_KINDS = frozenset(
    {FindingKind.ENDOTRACHEAL_TUBE, FindingKind.CENTRAL_LINE, FindingKind.PACEMAKER}
)


@dataclass(frozen=True)
class FindingSpec:
    """A finding to draw. ``laterality`` is ``None`` for findings without a side."""

    kind: FindingKind
    laterality: Laterality | None = None
    severity: Severity = Severity.MODERATE

    def __post_init__(self) -> None:
        allowed = ALLOWED_LATERALITY[self.kind]
        if allowed and self.laterality not in allowed:
            raise ValueError(f"{self.kind} needs a laterality in {[str(a) for a in allowed]}")
        if not allowed and self.laterality is not None:
            raise ValueError(f"{self.kind} has no laterality")

    @property
    def labels(self) -> tuple[Label, ...]:
        return FINDING_LABELS[self.kind]

    @property
    def is_device(self) -> bool:
        return self.kind in DEVICE_KINDS


@dataclass(frozen=True)
class PhantomSpec:
    """Everything that determines a phantom: the same spec gives the same pixels, bit for bit.

    ``size`` is ``(rows, cols)``, each 64..4096. ``bits_stored`` is 12..16.
    """

    seed: int
    size: tuple[int, int] = (512, 512)
    photometric: Photometric = Photometric.MONOCHROME2
    bits_stored: int = 12
    findings: tuple[FindingSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if len(self.size) != 2 or not all(64 <= n <= 4096 for n in self.size):
            raise ValueError(f"size must be (rows, cols) within 64..4096, got {self.size}")
        if not 12 <= self.bits_stored <= 16:
            raise ValueError(f"bits_stored must be 12..16, got {self.bits_stored}")
        kinds = [f.kind for f in self.findings]
        if len(kinds) != len(set(kinds)):
            raise ValueError("each finding kind may appear once")

    @property
    def labels(self) -> frozenset[Label]:
        """CheXpert labels present; "No Finding" when only devices (or nothing) are drawn."""
        labels = {label for f in self.findings for label in f.labels}
        if labels <= {Label.SUPPORT_DEVICES}:
            labels.add(Label.NO_FINDING)
        return frozenset(labels)

    def without_findings(self) -> PhantomSpec:
        """The same patient and exposure with nothing drawn."""
        return PhantomSpec(self.seed, self.size, self.photometric, self.bits_stored)


@dataclass(frozen=True)
class Box:
    """A pixel box, inclusive-exclusive: columns ``x0..x1-1``, rows ``y0..y1-1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class PhantomFinding:
    """A drawn finding with where it is: one box per region (two for a bilateral finding)."""

    spec: FindingSpec
    boxes: tuple[Box, ...]

    @property
    def box(self) -> Box:
        """The union of :attr:`boxes` (the single box an API shows)."""
        out = self.boxes[0]
        for box in self.boxes[1:]:
            out = out.union(box)
        return out


@dataclass(frozen=True)
class ClinicalContext:
    """The patient behind a phantom. ``infected``: a systemic infection, which makes a
    consolidation pneumonia (``inference.datasets.context_phantom``); the vitals and labs
    follow from it. ``measurements`` are ``(code, value)`` pairs in the fusion catalogue's
    units (``inference.fusion.inputs.MEASUREMENT_UNITS``); missing ones are left out."""

    age: int  # years
    sex: str  # "M" | "F"
    indication: str
    infected: bool = False
    smoking: str = ""  # "current", "former", "never" or ""
    measurements: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class PhantomReport:
    """Report text; ``sources`` are the IU report ids the sentences come from (may be empty)."""

    findings: str
    impression: str
    sources: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings}\nIMPRESSION: {self.impression}"


@dataclass(frozen=True)
class Phantom:
    """A rendered phantom.

    ``image`` holds the stored pixel values, as DICOM PixelData would: shape ``(rows, cols)``
    of ``spec.size``, dtype ``uint16``, range ``0 .. 2**bits_stored - 1``. For MONOCHROME2
    higher is brighter; MONOCHROME1 is stored inverted (``max - value``), so displaying it
    per its photometric interpretation gives the same picture. ``pixel_spacing_mm`` is
    ``(row, column)`` spacing. ``landmarks`` are pixel ``(x, y)`` points of the anatomy
    (costophrenic angles, carina, heart borders) for checks and overlays.
    """

    spec: PhantomSpec
    image: NDArray[np.uint16] = field(repr=False)
    findings: tuple[PhantomFinding, ...]
    report: PhantomReport
    context: ClinicalContext
    pixel_spacing_mm: tuple[float, float]
    landmarks: dict[str, tuple[float, float]] = field(repr=False)

    @property
    def labels(self) -> frozenset[Label]:
        """What the image shows (``spec.labels``)."""
        return self.spec.labels

    @property
    def clinical_labels(self) -> frozenset[Label]:
        """The image's labels plus "Pneumonia" when a consolidation meets an infected
        patient: the truth a reader with the clinical context gives (the training target)."""
        if Label.CONSOLIDATION in self.spec.labels and self.context.infected:
            return self.spec.labels | {Label.PNEUMONIA}
        return self.spec.labels

    def display(self) -> NDArray[np.uint16]:
        """The picture as MONOCHROME2 (bright = dense), whatever the stored photometric."""
        if self.spec.photometric == Photometric.MONOCHROME1:
            return (np.uint16((1 << self.spec.bits_stored) - 1) - self.image).astype(np.uint16)
        return self.image


# --- the sampler ---------------------------------------------------------------------------

#: Share of studies with no pathological finding (devices may still be present).
NORMAL_PREVALENCE = 0.30

#: Relative frequency of each pathological finding among abnormal studies.
_FINDING_WEIGHTS: dict[FindingKind, float] = {
    FindingKind.PLEURAL_EFFUSION: 0.18,
    FindingKind.CARDIOMEGALY: 0.16,
    FindingKind.ATELECTASIS: 0.13,
    FindingKind.CONSOLIDATION: 0.12,
    FindingKind.EDEMA: 0.08,
    FindingKind.NODULE: 0.08,
    FindingKind.PNEUMOTHORAX: 0.08,
    FindingKind.RIB_FRACTURE: 0.07,
    FindingKind.MASS: 0.04,
}
_DEVICE_PREVALENCE: dict[FindingKind, float] = {
    FindingKind.CENTRAL_LINE: 0.08,
    FindingKind.ENDOTRACHEAL_TUBE: 0.05,
    FindingKind.PACEMAKER: 0.05,
}
_SEVERITY_P = (0.45, 0.35, 0.20)


def _laterality(kind: FindingKind, rng: np.random.Generator) -> Laterality | None:
    allowed = ALLOWED_LATERALITY[kind]
    if not allowed:
        return None
    if kind == FindingKind.PACEMAKER:
        return Laterality.LEFT if rng.random() < 0.85 else Laterality.RIGHT
    if Laterality.BILATERAL in allowed and len(allowed) > 1:
        p_bilateral = 0.4 if kind == FindingKind.PLEURAL_EFFUSION else 0.2
        if rng.random() < p_bilateral:
            return Laterality.BILATERAL
        return Laterality.RIGHT if rng.random() < 0.5 else Laterality.LEFT
    return allowed[int(rng.integers(len(allowed)))]


def _finding(kind: FindingKind, rng: np.random.Generator) -> FindingSpec:
    severity = list(Severity)[int(rng.choice(3, p=_SEVERITY_P))]
    return FindingSpec(kind, _laterality(kind, rng), severity)


def sample_spec(
    seed: int,
    *,
    size: tuple[int, int] = (512, 512),
    photometric: Photometric = Photometric.MONOCHROME2,
    bits_stored: int = 12,
    normal_prevalence: float = NORMAL_PREVALENCE,
) -> PhantomSpec:
    """A random spec with realistic prevalence, drawn from ``default_rng(seed)``.

    About ``normal_prevalence`` of specs have no pathological finding; the rest have one to
    three, with edema pulling in cardiomegaly and effusions as in heart failure. Support
    devices are drawn independently of the pathology.
    """
    rng = np.random.default_rng([seed, 0x5EC])
    findings: dict[FindingKind, FindingSpec] = {}
    if rng.random() >= normal_prevalence:
        kinds = list(_FINDING_WEIGHTS)
        weights = np.array([_FINDING_WEIGHTS[k] for k in kinds])
        count = int(rng.choice(3, p=(0.6, 0.3, 0.1))) + 1
        chosen = rng.choice(len(kinds), size=count, replace=False, p=weights / weights.sum())
        for index in sorted(int(i) for i in chosen):
            findings[kinds[index]] = _finding(kinds[index], rng)
        if FindingKind.EDEMA in findings:
            if rng.random() < 0.5:
                findings.setdefault(
                    FindingKind.CARDIOMEGALY, _finding(FindingKind.CARDIOMEGALY, rng)
                )
            if rng.random() < 0.4 and FindingKind.PLEURAL_EFFUSION not in findings:
                findings[FindingKind.PLEURAL_EFFUSION] = FindingSpec(
                    FindingKind.PLEURAL_EFFUSION, Laterality.BILATERAL, Severity.MILD
                )
        if FindingKind.MASS in findings:
            findings.pop(FindingKind.NODULE, None)
    for kind, p in _DEVICE_PREVALENCE.items():
        if rng.random() < p:
            findings[kind] = _finding(kind, rng)
    return PhantomSpec(
        seed=seed,
        size=size,
        photometric=photometric,
        bits_stored=bits_stored,
        findings=tuple(findings.values()),
    )
