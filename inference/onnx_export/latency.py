"""Detection latency per study: PyTorch vs ONNX Runtime FP32 vs INT8 (a benchmark figure,
never a timed assertion). Imports no Django."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.models.checkpoint import load_reference_model
from inference.onnx_export.parity import PARITY_BATCHES
from inference.onnx_export.runtime import DETECTOR_FILES, open_session, run_detector


def detection_latency(
    out_dir: Path | str,
    *,
    batch_sizes: Sequence[int] = PARITY_BATCHES,
    repeats: int = 20,
    threads: int = 1,
) -> dict[str, dict[int, float]]:
    """Median CPU milliseconds per study of detection (encoder + head, context embedding
    excluded) for PyTorch, ONNX FP32 and ONNX INT8, per batch size, each runtime on the same
    number of ``threads`` (a fair comparison on a shared machine). A benchmark figure, not a
    test: run it on an otherwise idle machine."""
    directory = Path(out_dir)
    model, _card = load_reference_model(directory)
    size = model.config.image_size
    rng = np.random.default_rng(0)
    latest = max(batch_sizes)
    pixels = rng.standard_normal((latest, 1, size, size)).astype(np.float32)
    context = rng.standard_normal((latest, int(model.lm.config.n_embd))).astype(np.float32)

    def median_ms(call: Any, batch: int) -> float:
        call()  # warm-up: allocations, kernel selection
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000 / batch)
        return float(np.median(times))

    results: dict[str, dict[int, float]] = {"pytorch": {}}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for batch in batch_sizes:
                x, c = torch.from_numpy(pixels[:batch]), torch.from_numpy(context[:batch])
                results["pytorch"][batch] = median_ms(
                    lambda x=x, c=c: model.detect(model.encode(x), c), batch
                )
    finally:
        torch.set_num_threads(previous)
    for precision, name in DETECTOR_FILES.items():
        if not (directory / name).is_file():
            continue
        session = open_session(directory / name, threads=threads)
        results[f"onnx-{precision}"] = {
            batch: median_ms(
                lambda b=batch, s=session: run_detector(s, pixels[:b], context[:b]),
                batch,
            )
            for batch in batch_sizes
        }
    return results
