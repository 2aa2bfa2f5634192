"""The on-disk format of an ONNX export and running its detector with ONNX Runtime.
Imports no Django. See the package docstring for what the files are."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import ModelNotLoaded
from inference.models.checkpoint import (
    CALIBRATION,
    CARD,
    CONFIG,
    REQUIRED_FILES,
    TOKENIZER,
    WEIGHTS,
)

ONNX_FORMAT: Final = 1
MANIFEST: Final = "onnx_manifest.json"
DETECTOR_FILES: Final = {"fp32": "detector.onnx", "int8": "detector.int8.onnx"}
PRECISIONS: Final = tuple(DETECTOR_FILES)
#: The source model's files, copied next to the detectors (the PyTorch parts load them).
MODEL_FILES: Final = (CONFIG, WEIGHTS, TOKENIZER, CALIBRATION, CARD)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def session_options(threads: int = 0) -> Any:
    """ONNX Runtime options for serving: full graph optimisation; no busy-waiting of the
    intra-op threads, which would steal the CPU from the PyTorch decoder that runs next.
    ``threads``: intra-op threads (0: ONNX Runtime's default, one per physical core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(
    path: Path, providers: Sequence[Any] = ("CPUExecutionProvider",), *, threads: int = 0
) -> Any:
    """An ``onnxruntime.InferenceSession`` of a detector file."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(threads), providers=list(providers))


def run_detector(
    session: Any, pixels: NDArray[np.float32], context: NDArray[np.float32], batch: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(logits (N, 14), features (N, C, h, w))`` from ONNX Runtime, in chunks of ``batch``
    items (0: all at once)."""
    step = batch or len(pixels)
    logits, features = [], []
    for start in range(0, len(pixels), step):
        out = session.run(
            ["logits", "features"],
            {"pixels": pixels[start : start + step], "context": context[start : start + step]},
        )
        logits.append(out[0])
        features.append(out[1])
    return np.concatenate(logits).astype(np.float32), np.concatenate(features).astype(np.float32)


def read_manifest(directory: Path, precision: str) -> dict[str, Any]:
    """The manifest of an exported directory, checked for serving ``precision``.

    Raises:
        ModelNotLoaded: no manifest, unknown format, ``precision`` not exported or its parity
            not passed, or a file missing or not hashing as recorded (changed after parity).
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise ModelNotLoaded(f"model not loaded: {directory} missing {MANIFEST}")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
        parity = manifest["parity"].get(precision)
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise ModelNotLoaded(f"model not loaded: {path} unreadable ({error})") from error
    if manifest.get("format") != ONNX_FORMAT:
        raise ModelNotLoaded(f"model not loaded: {path} format {manifest.get('format')!r}")
    if parity is None:
        raise ModelNotLoaded(f"model not loaded: {directory} has no {precision} detector")
    if not parity.get("passed"):
        raise ModelNotLoaded(
            f"model not loaded: {directory} {precision} did not pass parity "
            f"(max diff {parity.get('max_abs_diff')}, {parity.get('decision_flips')} flips)"
        )
    for name in (*REQUIRED_FILES, DETECTOR_FILES[precision]):
        if name not in files or not (directory / name).is_file():
            raise ModelNotLoaded(f"model not loaded: {directory} missing {name}")
    for name, expected in files.items():
        if (directory / name).is_file() and sha256_of(directory / name) != expected:
            raise ModelNotLoaded(
                f"model not loaded: {directory / name} changed since its parity check (SHA-256)"
            )
    return manifest
