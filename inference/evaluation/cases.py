"""Evaluation cases: an image with its truth (labels, reference report, and, for phantoms,
each finding's side, severity and box), from held-out phantoms or a public data set.
Imports no Django.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inference.datasets.phantom import Phantom, render_phantom, sample_spec, to_dicom
from inference.datasets.records import StudyRecord, UncertainPolicy
from inference.labels import Label
from inference.preprocess import prepare_image
from inference.types import ClinicalContext, Laterality, PreparedImage, Severity, lab_terms

#: First seed of the default held-out phantom set: the demonstration model trains and
#: calibrates on seeds from 0 upwards (a few hundred), so these were never seen.
HELD_OUT_FIRST_SEED = 100_000
_SEVERITY_ORDER = (Severity.MILD, Severity.MODERATE, Severity.SEVERE)


@dataclass(frozen=True)
class TruthFinding:
    """Where and how much of one label the truth holds (phantoms only)."""

    label: Label
    laterality: Laterality = Laterality.NONE  # the patient's side
    severity: Severity | None = None
    box: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1), original image pixels


@dataclass(frozen=True)
class EvalCase:
    """One study to draft and score."""

    case_id: str
    image: PreparedImage
    context: ClinicalContext
    labels: frozenset[Label]  # present in the truth (uncertain already counted as present)
    reference: str  # the reference report's findings and impression
    truth: tuple[TruthFinding, ...] = ()  # per label, where known

    def truth_for(self, label: Label) -> TruthFinding | None:
        return next((t for t in self.truth if t.label is label), None)


def _merge(first: TruthFinding, second: TruthFinding) -> TruthFinding:
    """Two findings asserting one label (e.g. consolidation and atelectasis are both Lung
    Opacity): sides combine, the more severe wins, boxes join."""
    sides = {first.laterality, second.laterality} - {Laterality.NONE}
    side = Laterality.BILATERAL if len(sides) > 1 else next(iter(sides), Laterality.NONE)
    severities = [s for s in (first.severity, second.severity) if s is not None]
    box = first.box
    if first.box and second.box:
        a, b = first.box, second.box
        box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
    return TruthFinding(
        label=first.label,
        laterality=side,
        severity=max(severities, key=_SEVERITY_ORDER.index) if severities else None,
        box=box or second.box,
    )


def phantom_truth(phantom: Phantom) -> tuple[TruthFinding, ...]:
    """One :class:`TruthFinding` per label the phantom's drawn findings assert."""
    by_label: dict[Label, TruthFinding] = {}
    for drawn in phantom.findings:
        spec = drawn.spec
        side = Laterality(spec.laterality.value) if spec.laterality else Laterality.NONE
        severity = None if spec.is_device else Severity(spec.severity.value)
        box = drawn.box
        for label in spec.labels:
            found = TruthFinding(label, side, severity, (box.x0, box.y0, box.x1, box.y1))
            by_label[label] = _merge(by_label[label], found) if label in by_label else found
    return tuple(by_label.values())


def phantom_case(seed: int, image_size: int) -> EvalCase:
    """Held-out phantom ``seed`` as the serving path sees it (DICOM, then ``prepare_image``),
    rendered at ``max(256, image_size)`` pixels as the demonstration model's training set is."""
    side = max(256, image_size)
    phantom = render_phantom(sample_spec(seed, size=(side, side)))
    context = phantom.context
    return EvalCase(
        case_id=f"phantom-{seed}",
        image=prepare_image(to_dicom(phantom), size=image_size),
        # The prompt and the truth the model is trained on: labs and smoking included, and
        # "Pneumonia" where a consolidation meets an infected patient.
        context=ClinicalContext(
            age_years=context.age,
            sex=context.sex,
            indication=context.indication,
            smoking=context.smoking,
            labs=lab_terms(dict(context.measurements)),
        ),
        labels=phantom.clinical_labels,
        reference=f"{phantom.report.findings} {phantom.report.impression}".strip(),
        truth=phantom_truth(phantom),
    )


def phantom_cases(
    count: int,
    image_size: int,
    *,
    first_seed: int = HELD_OUT_FIRST_SEED,
    progress: Callable[[int, int], None] | None = None,
) -> list[EvalCase]:
    """``count`` held-out phantoms, seeds ``first_seed ..``."""
    cases = []
    for i, seed in enumerate(range(first_seed, first_seed + count)):
        cases.append(phantom_case(seed, image_size))
        if progress is not None:
            progress(i + 1, count)
    return cases


def record_cases(
    records: Iterable[StudyRecord],
    image_size: int,
    *,
    policy: UncertainPolicy = UncertainPolicy.POSITIVE,
    limit: int | None = None,
) -> list[EvalCase]:
    """One case per study (its first record) from MIMIC-CXR or IU X-ray records.

    Raises:
        DatasetError: an image cannot be read.
    """
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for record in records:
        if record.study_id in seen:
            continue
        if limit is not None and len(cases) >= limit:
            break
        seen.add(record.study_id)
        cases.append(
            EvalCase(
                case_id=f"{record.source}:{record.study_id}",
                image=record.prepare(image_size),
                context=record.context,
                labels=record.positives(policy),
                reference=f"{record.findings} {record.impression}".strip(),
            )
        )
    return cases


def age_band(age: int | None) -> str:
    """Subgroup audit band: "<40", "40-59", "60-79", "80+" or "unknown"."""
    if age is None:
        return "unknown"
    if age < 40:
        return "<40"
    if age < 60:
        return "40-59"
    return "60-79" if age < 80 else "80+"


def sex_group(sex: str) -> str:
    return {"M": "male", "F": "female"}.get(sex.upper(), "unknown")
