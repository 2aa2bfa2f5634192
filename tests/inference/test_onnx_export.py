"""inference.onnx_export: exporting the tiny model's detector and refusing broken exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from django.core.management import call_command
from onnx import helper, numpy_helper

from inference.labels import LABELS, Label
from inference.models.checkpoint import ModelCard
from inference.onnx_export import (
    DETECTOR_FILES,
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    MANIFEST,
    ExportResult,
    ParityError,
    ParityItem,
    check_parity,
    detection_latency,
    export_onnx,
    sha256_of,
)
from tests.inference.models.synthetic import LESION, dataset, trained_tiny


def parity_items(count: int = 16) -> list[ParityItem]:
    """Held-out synthetic images (seed 7; the tiny model trained on seed 1), half lesions."""
    return [ParityItem(item.pixels, item.prompt) for item, _ in dataset(count, seed=7)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reference-tiny")
    card = ModelCard(name="reference-tiny", version="0.1-test", training_data="synthetic discs")
    trained_tiny().model.save_pretrained(directory, card)
    return directory


@pytest.fixture(scope="module")
def exported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_onnx(source, tmp_path_factory.mktemp("onnx"), parity_items=parity_items())


def test_it_exports_fp32_and_int8_detectors_that_pass_parity(exported: ExportResult) -> None:
    fp32, int8 = exported.parity["fp32"], exported.parity["int8"]
    print(f"\n{fp32.describe()}\n{int8.describe()}")
    assert exported.passed
    assert fp32.max_abs_diff <= FP32_TOLERANCE and fp32.decision_flips == 0
    assert int8.max_abs_diff <= INT8_TOLERANCE and int8.decision_flips == 0
    assert fp32.items == int8.items == 16


def test_it_writes_a_manifest_with_the_hash_of_every_file(exported: ExportResult) -> None:
    manifest = json.loads(exported.manifest.read_text())
    assert manifest["opset"] == 17 and manifest["format"] == 1
    assert set(manifest["files"]) >= {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "calibration.json",
        "model_card.json",
        "detector.onnx",
        "detector.int8.onnx",
    }
    for name, digest in manifest["files"].items():
        assert sha256_of(exported.out_dir / name) == digest
    assert manifest["parity"]["fp32"]["passed"] and manifest["parity"]["int8"]["passed"]


def _broken_copy(exported: ExportResult, tmp_path: Path) -> tuple[Path, onnx.ModelProto]:
    shutil.copytree(exported.out_dir, tmp_path / "broken")
    path = tmp_path / "broken" / DETECTOR_FILES["fp32"]
    return path, onnx.load(str(path))


def test_it_refuses_a_detector_with_a_perturbed_initializer(
    exported: ExportResult, tmp_path: Path
) -> None:
    path, model = _broken_copy(exported, tmp_path)
    bias = next(i for i in model.graph.initializer if i.name == "detection_image.bias")
    values = numpy_helper.to_array(bias).copy()
    values[LABELS.index(LESION)] += 0.5
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(model, str(path))
    with pytest.raises(ParityError, match=r"FAILED \(fp32.*label 'Lung Lesion'") as caught:
        check_parity(path.parent, path, items=parity_items())
    print(f"\nperturbed initializer: {caught.value}")
    (report,) = caught.value.reports
    assert report.max_abs_diff > 0.05 and not report.passed


def test_it_refuses_a_detector_with_two_output_columns_swapped(
    exported: ExportResult, tmp_path: Path
) -> None:
    path, model = _broken_copy(exported, tmp_path)
    order = list(range(len(LABELS)))
    a, b = LABELS.index(LESION), LABELS.index(Label.NO_FINDING)
    order[a], order[b] = b, a
    producer = next(n for n in model.graph.node if "logits" in n.output)
    producer.output[list(producer.output).index("logits")] = "logits_unswapped"
    model.graph.initializer.append(numpy_helper.from_array(np.array(order), "swap"))
    model.graph.node.append(
        helper.make_node("Gather", ["logits_unswapped", "swap"], ["logits"], axis=1)
    )
    onnx.save(model, str(path))
    with pytest.raises(ParityError, match=r"decisions differ") as caught:
        check_parity(path.parent, path, items=parity_items())
    print(f"\nswapped columns: {caught.value}")
    assert caught.value.reports[0].decision_flips > 0


def test_it_records_a_failed_parity_in_the_manifest_and_raises(
    source: Path, tmp_path: Path
) -> None:
    # An INT8 tolerance no quantised model can meet: the refusal path, end to end.
    with pytest.raises(ParityError, match=r"FAILED \(int8") as caught:
        export_onnx(source, tmp_path, parity_items=parity_items(8), int8_tolerance=1e-9)
    assert "fp32" not in str(caught.value)
    parity = json.loads((tmp_path / MANIFEST).read_text())["parity"]
    assert parity["fp32"]["passed"] is True and parity["int8"]["passed"] is False
    assert parity["int8"]["max_abs_diff"] > 1e-9


def test_it_exports_through_the_management_command(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "export_onnx", "--source", str(source), "--out", str(tmp_path), "--parity-count", "2"
    )
    out = capsys.readouterr().out
    assert "parity passed (fp32, 2 items)" in out and "parity passed (int8, 2 items)" in out
    assert (tmp_path / MANIFEST).is_file()


def test_it_measures_detection_latency(exported: ExportResult) -> None:
    figures = detection_latency(exported.out_dir, repeats=10)
    print("\ndetection ms/study (median, CPU):")
    for runtime, per_batch in figures.items():
        print(
            f"  {runtime:10s} " + "  ".join(f"batch {b}: {ms:.2f}" for b, ms in per_batch.items())
        )
    assert set(figures) == {"pytorch", "onnx-fp32", "onnx-int8"}
    assert all(ms > 0 for per_batch in figures.values() for ms in per_batch.values())
