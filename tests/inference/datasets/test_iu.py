"""IU X-ray / Open-i loader on small fixtures written in the NLM's exact layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.datasets.iu import age_and_sex, load_iu, split_of
from inference.datasets.records import DatasetError
from inference.labels import Label, Mention

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="{rid}"/>
  <MedlineCitation Owner="Indiana University" Status="supplied">
    <Article PubModel="Electronic">
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">{indication}</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH><major>normal</major></MeSH>
  {images}
</eCitation>
"""


def frontal(size: int = 96) -> np.ndarray:
    """A left-right symmetric picture (two dark lungs in a grey body)."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.full((size, size), 150, dtype=np.uint8)
    for cx in (0.3, 0.7):
        image[((x - cx) / 0.15) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1] = 40
    return image


def lateral(size: int = 96) -> np.ndarray:
    """A lopsided picture (one dark field at the side)."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.full((size, size), 150, dtype=np.uint8)
    image[((x - 0.25) / 0.2) ** 2 + ((y - 0.45) / 0.35) ** 2 < 1] = 30
    image[:, int(0.8 * size) :] = 230
    return image


def write_report(root: Path, number: int, findings: str, impression: str, images: dict) -> None:
    (root / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
    (root / "NLMCXR_png").mkdir(exist_ok=True)
    for image_id, pixels in images.items():
        Image.fromarray(pixels).save(root / "NLMCXR_png" / f"{image_id}.png")
    tags = "\n".join(
        f'<parentImage id="{i}"><caption>Xray Chest</caption></parentImage>' for i in images
    )
    (root / "ecgen-radiology" / f"{number}.xml").write_text(
        XML.format(
            rid=f"CXR{number}",
            indication="62-year-old female with chest pain",
            findings=findings,
            impression=impression,
            images=tags,
        )
    )


def write_iu(root: Path) -> Path:
    write_report(
        root,
        1,
        "The heart is normal in size. The lungs are clear. No pneumothorax.",
        "Normal chest.",
        {"CXR1_1_IM-0001-3001": frontal(), "CXR1_1_IM-0001-4001": lateral()},
    )
    write_report(
        root,
        2,
        "There is a small right pleural effusion. Possible right lower lobe consolidation.",
        "Right effusion.",
        {"CXR2_IM-0652-1001": frontal()},
    )
    write_report(root, 3, "Clear lungs.", "Normal.", {})
    return root


def test_it_reads_frontal_images_with_labels_from_the_labeller(tmp_path: Path) -> None:
    loaded = load_iu(write_iu(tmp_path))

    assert [r.image_id for r in loaded.records] == ["CXR1_1_IM-0001-3001", "CXR2_IM-0652-1001"]
    normal, effusion = loaded.records
    assert normal.mentions[Label.NO_FINDING] is Mention.POSITIVE
    assert normal.mentions[Label.PNEUMOTHORAX] is Mention.NEGATIVE
    assert effusion.mentions[Label.PLEURAL_EFFUSION] is Mention.POSITIVE
    assert effusion.mentions[Label.CONSOLIDATION] is Mention.UNCERTAIN
    assert effusion.positives() == {Label.PLEURAL_EFFUSION, Label.CONSOLIDATION}
    assert effusion.impression == "Right effusion."
    assert (effusion.age, effusion.sex) == (62, "F")
    assert effusion.split == split_of("CXR2") and effusion.view == "frontal"
    assert loaded.skipped == ("CXR3: no images (3.xml)",)


def test_it_keeps_laterals_when_asked(tmp_path: Path) -> None:
    loaded = load_iu(write_iu(tmp_path), frontal_only=False)

    assert [r.view for r in loaded.records] == ["frontal", "lateral", "frontal"]


def test_it_converts_a_record_to_a_training_item(tmp_path: Path) -> None:
    record = load_iu(write_iu(tmp_path)).records[1]

    item = record.to_training_item(48)

    assert item.pixels.shape == (48, 48)
    assert item.report.startswith("FINDINGS: There is a small right pleural effusion.")
    assert item.prompt.startswith("age 62, female")


def test_splits_are_fixed_by_the_report_id() -> None:
    splits = [split_of(f"CXR{n}") for n in range(1, 2001)]

    assert splits == [split_of(f"CXR{n}") for n in range(1, 2001)]
    assert 0.6 < splits.count("train") / 2000 < 0.8
    assert 0.15 < splits.count("test") / 2000 < 0.25


def test_it_reads_age_and_sex_only_when_stated() -> None:
    assert age_and_sex("XXXX-year-old male, cough") == (None, "")
    assert age_and_sex("45 year old man with SOB") == (45, "M")


def test_it_names_a_missing_image_and_the_report_naming_it(tmp_path: Path) -> None:
    write_iu(tmp_path)
    (tmp_path / "NLMCXR_png" / "CXR2_IM-0652-1001.png").unlink()

    with pytest.raises(DatasetError, match=r"CXR2_IM-0652-1001\.png: image file missing.*2\.xml"):
        load_iu(tmp_path)


def test_it_names_the_file_and_line_of_malformed_xml(tmp_path: Path) -> None:
    write_iu(tmp_path)
    (tmp_path / "ecgen-radiology" / "2.xml").write_text("<eCitation>\n<uId id='CXR2'>\n</eCit")

    with pytest.raises(DatasetError, match=r"2\.xml line 3: not well-formed XML"):
        load_iu(tmp_path)


def test_it_names_a_missing_report_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"ecgen-radiology: report folder missing"):
        load_iu(tmp_path)
