"""``export_onnx``: the detector graph, INT8 quantisation, parity, the manifest. Imports no
Django. See the package docstring for what is exported and why."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.models.checkpoint import load_reference_model
from inference.models.reference import ReferenceModel
from inference.onnx_export.parity import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    ParityError,
    ParityItem,
    ParityReport,
    measure_parity,
    phantom_parity_items,
)
from inference.onnx_export.runtime import (
    DETECTOR_FILES,
    MANIFEST,
    MODEL_FILES,
    ONNX_FORMAT,
    PRECISIONS,
    sha256_of,
)


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    manifest: Path
    files: dict[str, str]  # file name -> SHA-256 hex
    parity: dict[str, ParityReport]  # precision -> figures

    @property
    def passed(self) -> bool:
        return all(report.passed for report in self.parity.values())


class DetectorGraph(nn.Module):
    """The exported graph: ``(pixels, context) -> (logits, features)``, see module docstring."""

    def __init__(self, model: ReferenceModel) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.detection_image = model.detection_image
        self.detection_context = model.detection_context

    def forward(
        self, pixels: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(pixels)
        logits = self.detection_image(features.mean(dim=(2, 3))) + self.detection_context(context)
        return logits, features


def quantize_int8(fp32_file: Path, int8_file: Path) -> None:
    """Dynamic INT8 of MatMul/Gemm with unsigned weights (why: module docstring)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32_file, int8_file, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QUInt8
    )


def export_detector(model: ReferenceModel, path: Path, *, opset: int) -> None:
    """Write ``DetectorGraph`` of ``model`` to ``path`` (batch dimension dynamic)."""
    graph = DetectorGraph(model).eval()
    size = model.config.image_size
    pixels = torch.zeros(2, 1, size, size, device=model.device)
    context = torch.zeros(2, int(model.lm.config.n_embd), device=model.device)
    batch = {0: "batch"}
    # The TorchScript exporter: the dynamo one needs onnxscript, and the graph is plain
    # convolutions and linear layers that it exports exactly (parity below proves it).
    torch.onnx.export(
        graph,
        (pixels, context),
        str(path),
        opset_version=opset,
        input_names=["pixels", "context"],
        output_names=["logits", "features"],
        dynamic_axes={"pixels": batch, "context": batch, "logits": batch, "features": batch},
        dynamo=False,
    )


def export_onnx(
    model_dir: Path | str,
    out_dir: Path | str,
    *,
    opset: int = 17,
    quantize: bool = True,
    parity_items: Sequence[ParityItem] | None = None,
    tolerance: float = FP32_TOLERANCE,
    int8_tolerance: float = INT8_TOLERANCE,
) -> ExportResult:
    """Export the model in ``model_dir`` to ``out_dir`` (created; files overwritten), check
    parity of each precision and write ``onnx_manifest.json`` recording it.

    Args:
        parity_items: the evaluation set; ``None``: 16 phantoms (:func:`phantom_parity_items`).
        tolerance / int8_tolerance: max |p_onnx - p_torch| allowed (module docstring).

    Raises:
        ModelNotLoaded: ``model_dir`` is not a model directory.
        ParityError: a precision failed parity. The manifest is written first and records
            which passed, so a passing FP32 can still serve when only INT8 failed.
    """
    source, out = Path(model_dir), Path(out_dir)
    model, card = load_reference_model(source)
    out.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (source / name).is_file() and (source / name).resolve() != (out / name).resolve():
            shutil.copy2(source / name, out / name)
    export_detector(model, out / DETECTOR_FILES["fp32"], opset=opset)
    if quantize:
        quantize_int8(out / DETECTOR_FILES["fp32"], out / DETECTOR_FILES["int8"])
    else:
        (out / DETECTOR_FILES["int8"]).unlink(missing_ok=True)
    items = (
        parity_items if parity_items is not None else phantom_parity_items(model.config.image_size)
    )
    tolerances = {"fp32": tolerance, "int8": int8_tolerance}
    parity = {
        precision: measure_parity(
            model,
            out / DETECTOR_FILES[precision],
            items,
            precision=precision,
            tolerance=tolerances[precision],
        )
        for precision in PRECISIONS
        if (out / DETECTOR_FILES[precision]).is_file()
    }
    names = [name for name in (*MODEL_FILES, *DETECTOR_FILES.values()) if (out / name).is_file()]
    files = {name: sha256_of(out / name) for name in names}
    manifest = out / MANIFEST
    manifest.write_text(
        json.dumps(_manifest(card.name, card.version, opset, files, parity), indent=2)
    )
    result = ExportResult(out, manifest, files, parity)
    failed = [report for report in parity.values() if not report.passed]
    if failed:
        raise ParityError("; ".join(report.describe() for report in failed), list(parity.values()))
    return result


def _manifest(
    name: str, version: str, opset: int, files: dict[str, str], parity: dict[str, ParityReport]
) -> dict[str, Any]:
    import onnx
    import onnxruntime

    return {
        "format": ONNX_FORMAT,
        "opset": opset,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {"name": name, "version": version},
        "exported_with": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "graph": {
            "inputs": {
                "pixels": "(N, 1, S, S) float32, preprocess.normalise'd",
                "context": "(N, D) float32, mean input embedding of the context prompt",
            },
            "outputs": {"logits": "(N, 14) float32, LABELS order", "features": "(N, C, h, w)"},
            "in_pytorch": ["context embedding", "calibration", "Grad-CAM", "generation"],
        },
        "files": files,
        "detectors": {precision: DETECTOR_FILES[precision] for precision in parity},
        "parity": {precision: asdict(report) for precision, report in parity.items()},
    }
