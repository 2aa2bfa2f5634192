"""inference.datasets.phantom: seeded chest radiograph phantoms, their boxes, reports and files."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.uid import UID
from pydicom.valuerep import validate_value

from inference.datasets.phantom import (
    FINDING_LABELS,
    Box,
    FindingKind,
    FindingSpec,
    Laterality,
    Phantom,
    PhantomSpec,
    Photometric,
    Severity,
    render_phantom,
    sample_spec,
    to_png,
    write_dicom,
)
from inference.datasets.phantom import report as report_module
from inference.datasets.phantom.__main__ import main
from inference.labels import Label

SIZE = (256, 256)
HAS_IU_REPORTS = importlib.util.find_spec("torchxrayvision") is not None
needs_iu_reports = pytest.mark.skipif(
    not HAS_IU_REPORTS, reason="torchxrayvision (IU report sentence bank) is not installed"
)


def phantom(seed: int = 11, *findings: FindingSpec, **options: object) -> Phantom:
    return render_phantom(PhantomSpec(seed, SIZE, findings=findings, **options))  # type: ignore[arg-type]


def crop(image: NDArray[np.uint16], box: Box) -> NDArray[np.float64]:
    return image[box.y0 : box.y1, box.x0 : box.x1].astype(np.float64)


def box_mask(shape: tuple[int, ...], box: Box) -> NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=bool)
    mask[box.y0 : box.y1, box.x0 : box.x1] = True
    return mask


# --- reproducibility and sampling ------------------------------------------------------------


def test_it_is_reproducible_for_a_seed() -> None:
    spec = sample_spec(5, size=SIZE)
    first, second = render_phantom(spec), render_phantom(spec)
    assert first.image.tobytes() == second.image.tobytes()
    assert first.findings == second.findings
    assert first.report == second.report
    assert first.context == second.context


def test_different_seeds_give_different_images() -> None:
    assert phantom(1).image.tobytes() != phantom(2).image.tobytes()


def test_the_image_is_uint16_within_bits_stored() -> None:
    for bits in (12, 16):
        image = phantom(3, bits_stored=bits).image
        assert image.dtype == np.uint16
        assert image.shape == SIZE
        assert int(image.max()) <= (1 << bits) - 1


def test_the_sampler_is_seeded_with_about_a_third_normal() -> None:
    specs = [sample_spec(seed) for seed in range(400)]
    assert specs == [sample_spec(seed) for seed in range(400)]
    normal = sum(Label.NO_FINDING in s.labels for s in specs) / len(specs)
    assert 0.2 < normal < 0.45
    kinds = {f.kind for s in specs for f in s.findings}
    assert kinds == set(FindingKind)


def test_each_finding_maps_to_chexpert_labels() -> None:
    assert set(FINDING_LABELS) == set(FindingKind)
    for labels in FINDING_LABELS.values():
        assert labels and all(isinstance(label, Label) for label in labels)
    assert PhantomSpec(
        1, findings=(FindingSpec(FindingKind.PACEMAKER, Laterality.LEFT),)
    ).labels == {
        Label.SUPPORT_DEVICES,
        Label.NO_FINDING,
    }


def test_the_spec_rejects_a_side_the_finding_cannot_have() -> None:
    with pytest.raises(ValueError, match="laterality"):
        FindingSpec(FindingKind.PNEUMOTHORAX, Laterality.BILATERAL)
    with pytest.raises(ValueError, match="no laterality"):
        FindingSpec(FindingKind.CARDIOMEGALY, Laterality.LEFT)
    with pytest.raises(ValueError, match="bits_stored"):
        PhantomSpec(1, bits_stored=8)


# --- findings are where their boxes say ------------------------------------------------------


def _heart_width(item: Phantom) -> int:
    """Width of the bright run through the heart centre's row (measured on the pixels)."""
    x, y = (round(c) for c in item.landmarks["heart_centre"])
    band = item.display()[y - 3 : y + 4].astype(np.float64).mean(axis=0)
    lungs = np.percentile(band[x - SIZE[1] // 3 : x + SIZE[1] // 3], 10)
    bright = band > (lungs + band[x]) / 2
    left = x
    while left > 0 and bright[left - 1]:
        left -= 1
    right = x
    while right < len(band) - 1 and bright[right + 1]:
        right += 1
    return right - left


def test_cardiomegaly_has_a_wider_measured_heart_than_normal_for_the_same_seed() -> None:
    normal = phantom(11)
    enlarged = phantom(11, FindingSpec(FindingKind.CARDIOMEGALY, None, Severity.SEVERE))
    assert _heart_width(enlarged) > 1.15 * _heart_width(normal)


LOCAL_FINDINGS = [
    FindingSpec(FindingKind.NODULE, Laterality.RIGHT, Severity.SEVERE),
    FindingSpec(FindingKind.MASS, Laterality.LEFT, Severity.MODERATE),
    FindingSpec(FindingKind.CONSOLIDATION, Laterality.RIGHT, Severity.MODERATE),
    FindingSpec(FindingKind.PLEURAL_EFFUSION, Laterality.LEFT, Severity.MODERATE),
    FindingSpec(FindingKind.PNEUMOTHORAX, Laterality.RIGHT, Severity.MODERATE),
    FindingSpec(FindingKind.EDEMA, Laterality.BILATERAL, Severity.MODERATE),
    FindingSpec(FindingKind.ENDOTRACHEAL_TUBE),
    FindingSpec(FindingKind.CENTRAL_LINE, Laterality.RIGHT),
    FindingSpec(FindingKind.PACEMAKER, Laterality.LEFT),
]


@pytest.mark.parametrize("finding", LOCAL_FINDINGS, ids=lambda f: str(f.kind))
def test_the_box_covers_where_the_finding_changed_the_image(finding: FindingSpec) -> None:
    plain, found = phantom(21), phantom(21, finding)
    diff = np.abs(found.image.astype(np.float64) - plain.image.astype(np.float64))
    (drawn,) = found.findings
    inside = np.zeros(SIZE, dtype=bool)
    for box in drawn.boxes:
        inside |= box_mask(SIZE, box)
    assert diff[inside].mean() > 20  # of 4095
    # Most of what changed lies inside the boxes (soft edges may spill a little).
    assert diff[inside].sum() > 0.8 * diff.sum()


@pytest.mark.parametrize(
    "finding",
    [
        FindingSpec(FindingKind.ATELECTASIS, Laterality.RIGHT, Severity.MODERATE),
        FindingSpec(FindingKind.RIB_FRACTURE, Laterality.LEFT, Severity.SEVERE),
    ],
    ids=lambda f: str(f.kind),
)
def test_the_box_of_a_finding_that_moves_anatomy_still_differs_from_the_plain_render(
    finding: FindingSpec,
) -> None:
    plain, found = phantom(21), phantom(21, finding)
    box = found.findings[0].box
    assert abs(crop(found.image, box).mean() - crop(plain.image, box).mean()) > 5 or (
        np.abs(crop(found.image, box) - crop(plain.image, box)).mean() > 20
    )


def test_it_places_the_effusion_box_at_the_costophrenic_angle() -> None:
    for laterality, angle in (
        (Laterality.RIGHT, "right_costophrenic_angle"),
        (Laterality.LEFT, "left_costophrenic_angle"),
    ):
        item = phantom(8, FindingSpec(FindingKind.PLEURAL_EFFUSION, laterality, Severity.MILD))
        box = item.findings[0].box
        x, y = item.landmarks[angle]
        slack = 0.03 * SIZE[0]
        assert box.x0 - slack <= x <= box.x1 + slack
        assert box.y0 - slack <= y <= box.y1 + slack
        # The patient's right is the image's left.
        assert (box.center[0] < SIZE[1] / 2) == (laterality == Laterality.RIGHT)


def test_a_bilateral_finding_has_a_box_on_each_side() -> None:
    item = phantom(8, FindingSpec(FindingKind.PLEURAL_EFFUSION, Laterality.BILATERAL))
    centres = sorted(box.center[0] for box in item.findings[0].boxes)
    assert len(centres) == 2
    assert centres[0] < SIZE[1] / 2 < centres[1]


def _box_mean(image: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Mean over k x k windows ("valid" part only, shrinks by k - 1)."""
    c = np.cumsum(np.cumsum(np.pad(image, ((1, 0), (1, 0))), axis=0), axis=1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def _marking_energy(image: NDArray[np.uint16], box: Box) -> float:
    """Mean squared band-pass (3 px minus 9 px means) over pixels deep inside the lung.

    The band-pass drops quantum noise and slow gradients and keeps thin lines (vessels);
    pixels near the lung's edge (chest wall, heart) are left out so edges do not count.
    """
    region = image[box.y0 - 8 : box.y1 + 8, box.x0 - 8 : box.x1 + 8].astype(np.float64)
    fine, coarse = _box_mean(region, 3)[3:-3, 3:-3], _box_mean(region, 9)
    lung = coarse < (np.percentile(coarse, 5) + np.percentile(coarse, 95)) / 2
    core = _box_mean(lung.astype(np.float64), 9) > 0.999
    band = (fine - coarse)[4:-4, 4:-4]
    return float(np.mean(band[core] ** 2))


@pytest.mark.parametrize("laterality", [Laterality.RIGHT, Laterality.LEFT])
def test_the_pneumothorax_has_fewer_lung_markings_than_the_other_side(
    laterality: Laterality,
) -> None:
    for seed in (4, 6, 8):
        item = phantom(seed, FindingSpec(FindingKind.PNEUMOTHORAX, laterality, Severity.SEVERE))
        box = item.findings[0].box
        third = (box.x1 - box.x0) // 3
        # The lateral two thirds: clear of the pleural line at the box's medial edge.
        if laterality == Laterality.RIGHT:
            inner = Box(box.x0, box.y0, box.x1 - third, box.y1)
        else:
            inner = Box(box.x0 + third, box.y0, box.x1, box.y1)
        midline = item.landmarks["carina"][0]
        mirror = Box(
            round(2 * midline - inner.x1), inner.y0, round(2 * midline - inner.x0), inner.y1
        )
        assert _marking_energy(item.image, inner) < _marking_energy(item.image, mirror)
        # And fewer than the same lung without the pneumothorax.
        assert _marking_energy(item.image, inner) < _marking_energy(phantom(seed).image, inner)


# --- DICOM and PNG ----------------------------------------------------------------------------


def test_dicom_roundtrip_keeps_pixels_and_valid_uids(tmp_path: Path) -> None:
    item = phantom(13, FindingSpec(FindingKind.NODULE, Laterality.LEFT))
    path = write_dicom(item, tmp_path / "a.dcm")
    ds = pydicom.dcmread(path)
    assert np.array_equal(ds.pixel_array, item.image)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1"
    for uid in (
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        ds.file_meta.MediaStorageSOPInstanceUID,
    ):
        assert UID(uid).is_valid
        validate_value("UI", uid, pydicom.config.RAISE)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.BodyPartExamined == "CHEST"
    assert ds.ViewPosition == "PA"
    assert ds.PatientSex == item.context.sex
    assert ds.PatientAge == f"{item.context.age:03d}Y"
    assert ds.ReasonForTheRequestedProcedure == item.context.indication
    assert ds.BurnedInAnnotation == "NO"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
    assert [float(s) for s in ds.PixelSpacing] == pytest.approx(item.pixel_spacing_mm)


def test_dicom_uids_are_fixed_by_the_spec_and_differ_between_specs(tmp_path: Path) -> None:
    first = pydicom.dcmread(write_dicom(phantom(13), tmp_path / "a.dcm"))
    again = pydicom.dcmread(write_dicom(phantom(13), tmp_path / "b.dcm"))
    other = pydicom.dcmread(write_dicom(phantom(14), tmp_path / "c.dcm"))
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.StudyInstanceUID == again.StudyInstanceUID
    assert first.SOPInstanceUID != other.SOPInstanceUID
    assert len({first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID}) == 3


def test_a_dx_instance_is_digital_x_ray_for_presentation(tmp_path: Path) -> None:
    ds = pydicom.dcmread(write_dicom(phantom(13), tmp_path / "dx.dcm", modality="DX"))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
    assert ds.Modality == "DX"
    assert ds.PresentationIntentType == "FOR PRESENTATION"


def test_monochrome1_roundtrip_keeps_pixels(tmp_path: Path) -> None:
    mono1 = phantom(17, photometric=Photometric.MONOCHROME1)
    mono2 = phantom(17, photometric=Photometric.MONOCHROME2)
    ds = pydicom.dcmread(write_dicom(mono1, tmp_path / "m1.dcm"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert np.array_equal(ds.pixel_array, mono1.image)
    displayed = (1 << ds.BitsStored) - 1 - ds.pixel_array.astype(np.int32)
    assert np.array_equal(displayed, mono2.image)
    assert np.array_equal(mono1.display(), mono2.image)


def test_to_png_writes_the_displayed_picture(tmp_path: Path) -> None:
    from PIL import Image

    item = phantom(17, photometric=Photometric.MONOCHROME1)
    with Image.open(to_png(item, tmp_path / "a.png")) as png:
        pixels = np.asarray(png)
    assert pixels.shape == SIZE
    assert np.array_equal(pixels, (item.display() >> 4).astype(np.uint8))


# --- report text -----------------------------------------------------------------------------

REPORTED = (
    FindingSpec(FindingKind.CARDIOMEGALY, None, Severity.MODERATE),
    FindingSpec(FindingKind.PLEURAL_EFFUSION, Laterality.RIGHT, Severity.MILD),
    FindingSpec(FindingKind.ATELECTASIS, Laterality.LEFT, Severity.MILD),
)


@needs_iu_reports
def test_the_report_mentions_each_finding_and_comes_from_the_sentence_bank() -> None:
    bank = report_module.sentence_bank()
    assert bank.from_iu
    known = bank.normalised()
    for seed in range(3):
        item = phantom(seed, *REPORTED)
        for finding in REPORTED:
            keyword = report_module.RULES[finding.kind].keyword
            assert keyword.search(item.report.findings), (finding.kind, item.report.findings)
            assert keyword.search(item.report.impression), (finding.kind, item.report.impression)
        sentences = report_module.split_sentences(
            item.report.findings
        ) + report_module.split_sentences(item.report.impression)
        for sentence in sentences:
            assert report_module.normalise(sentence) in known, sentence
        assert item.report.sources and all(s.startswith("CXR") for s in item.report.sources)


@needs_iu_reports
def test_the_report_names_the_side_of_a_one_sided_finding() -> None:
    item = phantom(2, FindingSpec(FindingKind.PLEURAL_EFFUSION, Laterality.LEFT, Severity.MILD))
    assert "left" in item.report.findings.lower()
    assert "right" not in item.report.findings.lower()


@needs_iu_reports
def test_a_normal_phantom_has_a_normal_report() -> None:
    item = phantom(2)
    for rule in report_module.RULES.values():
        if rule.keyword.search(item.report.text):
            # Only as a negation ("No pleural effusion or pneumothorax").
            assert report_module._NEGATION.search(item.report.text)
    assert item.context.indication in report_module.NORMAL_INDICATIONS


def test_the_template_fallback_warns_when_the_iu_reports_are_absent() -> None:
    def absent() -> report_module.SentenceBank:
        raise report_module.IUReportsUnavailable("no wheel")

    with pytest.warns(RuntimeWarning, match="torchxrayvision"):
        bank = report_module.load_bank(absent)
    assert not bank.from_iu
    assert set(bank.findings) == set(FindingKind)


def test_the_indication_fits_the_findings() -> None:
    item = phantom(3, FindingSpec(FindingKind.RIB_FRACTURE, Laterality.LEFT))
    assert item.context.indication in report_module.INDICATIONS[FindingKind.RIB_FRACTURE]
    assert item.context.sex in {"M", "F"}
    assert 18 <= item.context.age <= 95


# --- command line and boundaries ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "dicom"])
def test_the_cli_writes_images_and_labels_csv(tmp_path: Path, fmt: str) -> None:
    assert main(["--out", str(tmp_path), "--count", "3", "--seed", "40", "--size", "128",
                 "--format", fmt]) == 0  # fmt: skip
    with (tmp_path / "labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    for row in rows:
        assert (tmp_path / row["file"]).is_file()
        assert set(row["labels"].split("|")) <= {str(label) for label in Label}
        for entry in json.loads(row["boxes"]):
            x0, y0, x1, y1 = entry["box"]
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        assert row["report"].startswith("FINDINGS:")


def test_the_phantom_core_imports_no_django() -> None:
    code = "import sys, inference.datasets.phantom; sys.exit('django' in sys.modules)"
    root = Path(__file__).resolve().parents[3]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_a_training_phantom_has_labs_that_follow_its_infection_and_pneumonia_truth() -> None:
    phantoms = [render_phantom(sample_spec(seed, size=(128, 128))) for seed in range(60)]
    temperatures: dict[bool, list[float]] = {True: [], False: []}
    for phantom in phantoms:
        values = dict(phantom.context.measurements)
        if "temperature" in values:
            temperatures[phantom.context.infected].append(values["temperature"])
        consolidation = any(f.kind == FindingKind.CONSOLIDATION for f in phantom.spec.findings)
        pneumonia = Label.PNEUMONIA in phantom.clinical_labels
        assert pneumonia == (consolidation and phantom.context.infected)
        assert Label.PNEUMONIA not in phantom.labels
    assert min(temperatures[True]) > max(temperatures[False]) - 1.5
    assert np.mean(temperatures[True]) > 38.0 > 37.2 > np.mean(temperatures[False])
