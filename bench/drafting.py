"""Drafting latency and throughput of the backends on phantom studies (SPEC section 9).

    .venv/bin/python bench/drafting.py --studies 32 --model-dir DIR [--with-retrieval]

Phantom studies (:mod:`inference.datasets.phantom`: render -> ``to_dicom`` ->
``prepare_image`` at the backend's ``image_size``, as the serving path prepares them) are
drafted by the ``reference`` backend (PyTorch) one study per call (``predict``) and in batches
of 8 (``predict_batch``), and by the ``retrieval`` backend the same two ways when a bank cache
exists (``--bank-cache-dir``, default ``DIR/sentence-bank``) or ``--with-retrieval`` is given
(then a missing IU bank is built there with MiniLM, minutes). Without ``--model-dir`` a small
tiny demonstration model is trained into a temporary directory first (a few minutes on CPU).

A study's latency is the wall time of the call that drafted it: with a batch of 8, each of its
studies waits for the whole batch. Throughput is studies drafted / total wall time. These are
model latencies (prepared image in, draft out), not the SPEC's "last instance stored to draft
visible", which adds the queue, DICOM reading, QA, triage and the database. Prints a table,
then one JSON line per configuration; ``--out`` also writes the lines as a JSON list.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.backends.base import Backend, StudyInput
from inference.backends.reference import ReferenceBackend
from inference.datasets.phantom import render_phantom, sample_spec, to_dicom
from inference.preprocess import prepare_image
from inference.types import ClinicalContext

FIRST_SEED = 900_000  # far from the demonstration model's training seeds
WARMUP_STUDIES = 2


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def phantom_studies(count: int, image_size: int, render_size: int) -> list[StudyInput]:
    """``count`` phantom studies as the drafting task receives them."""
    studies = []
    for seed in range(FIRST_SEED, FIRST_SEED + count):
        phantom = render_phantom(sample_spec(seed, size=(render_size, render_size)))
        ds = to_dicom(phantom)
        prepared = prepare_image(ds, size=image_size, sop_uid=str(ds.SOPInstanceUID))
        context = ClinicalContext(
            age_years=phantom.context.age,
            sex=phantom.context.sex,
            indication=phantom.context.indication,
        )
        studies.append(StudyInput(str(ds.StudyInstanceUID), (prepared,), context))
    return studies


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def run(
    backend: Backend, studies: Sequence[StudyInput], batch_size: int, repeats: int
) -> dict[str, Any]:
    """Time ``backend`` on ``studies`` in calls of ``batch_size`` (``predict`` for 1)."""
    call: Callable[[Sequence[StudyInput]], list[Any]] = (
        (lambda chunk: [backend.predict(chunk[0])]) if batch_size == 1 else backend.predict_batch
    )
    call(studies[:WARMUP_STUDIES] if batch_size > 1 else studies[:1])  # warm-up, not counted
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    calls = 0
    started = time.perf_counter()
    for _ in range(repeats):
        for first in range(0, len(studies), batch_size):
            chunk = studies[first : first + batch_size]
            begun = time.perf_counter()
            drafts = call(chunk)
            elapsed_ms = (time.perf_counter() - begun) * 1000
            calls += 1
            latencies += [elapsed_ms] * len(chunk)
            for draft in drafts:
                for stage, ms in draft.timings_ms.items():
                    stages.setdefault(stage, []).append(ms)
    wall_s = time.perf_counter() - started
    drafted = len(latencies)
    return {
        "studies": drafted,
        "calls": calls,
        "wall_s": round(wall_s, 3),
        "figures": {
            "latency_p50": {"value": round(percentile(latencies, 50), 2), "unit": "ms"},
            "latency_p95": {"value": round(percentile(latencies, 95), 2), "unit": "ms"},
            "latency_p99": {"value": round(percentile(latencies, 99), 2), "unit": "ms"},
            "latency_mean": {"value": round(float(np.mean(latencies)), 2), "unit": "ms"},
            "throughput": {"value": round(drafted / wall_s * 3600), "unit": "studies/hour"},
        },
        "stages_mean": {
            stage: {"value": round(float(np.mean(ms)), 2), "unit": "ms/study"}
            for stage, ms in stages.items()
        },
        "runs": {"studies_timed": drafted, "calls_timed": calls, "warmup_calls": 1},
    }


def train_small_model(out_dir: Path) -> None:
    from inference.demo_model import train_demo_model

    train_demo_model(out_dir, size="tiny", count=64, held_out=24, encoder_epochs=3)


def measure(
    model_dir: Path | None,
    *,
    studies_count: int = 32,
    device: str = "cpu",
    render_size: int = 512,
    batch_sizes: Sequence[int] = (1, 8),
    repeats: int = 1,
    with_retrieval: bool = False,
    bank_cache_dir: Path | None = None,
    with_onnx: bool = True,
) -> list[dict[str, Any]]:
    """One row per (backend, batch size): PyTorch reference, ONNX FP32 and INT8 (exported
    from the same model, parity-checked) and, when a bank exists, retrieval."""
    with tempfile.TemporaryDirectory(prefix="radws-bench-drafting-") as tmp:
        if model_dir is None:
            model_dir = Path(tmp) / "model"
            print(f"no --model-dir: training a small tiny model into {model_dir} ...")
            train_small_model(model_dir)
        reference = ReferenceBackend(model_dir, device)
        refused: list[str] = []
        backends: list[tuple[str, str, Backend]] = [("reference", "pytorch", reference)]
        if with_onnx:
            from inference.backends.base import ModelNotLoaded
            from inference.backends.onnx import OnnxBackend
            from inference.onnx_export import ParityError, export_onnx

            onnx_dir = Path(tmp) / "onnx"
            print("exporting to ONNX (FP32 + INT8) with the parity check ...", flush=True)
            try:
                export_onnx(model_dir, onnx_dir)
            except ParityError as exc:  # the gate refused a precision: measure the others
                print(f"  {exc}", flush=True)
                refused.append(str(exc))
            for precision in ("fp32", "int8"):
                try:
                    backend = OnnxBackend(onnx_dir, device, precision=precision)
                except ModelNotLoaded as exc:
                    print(f"  onnx {precision} not measured: {exc}", flush=True)
                    continue
                backends.append(("onnx", f"onnxruntime-{precision}", backend))
        bank_dir = bank_cache_dir or model_dir / "sentence-bank"
        if with_retrieval or any(bank_dir.glob("sentence-bank-*.json")):
            from inference.backends.retrieval import RetrievalBackend

            loading = time.perf_counter()
            retrieval = RetrievalBackend(model_dir, device, bank_cache_dir=bank_dir)
            print(
                f"retrieval backend loaded in {time.perf_counter() - loading:.1f} s "
                f"({len(retrieval.bank)} bank sentences, encoder {retrieval.bank.encoder_name})"
            )
            backends.append(("retrieval", "pytorch", retrieval))

        preparing = time.perf_counter()
        studies = phantom_studies(studies_count, reference.image_size, render_size)
        prepare_ms = (time.perf_counter() - preparing) * 1000 / len(studies)
        print(
            f"{len(studies)} phantom studies rendered at {render_size} px and prepared at "
            f"{reference.image_size} px: {prepare_ms:.1f} ms/study (render + DICOM + prepare)"
        )

        host = machine()
        rows = []
        for name, runtime, backend in backends:
            for batch_size in batch_sizes:
                result = run(backend, studies, batch_size, repeats)
                rows.append(
                    {
                        "benchmark": "drafting",
                        "backend": name,
                        "runtime": runtime,
                        "device": str(reference.device),
                        "mode": "predict" if batch_size == 1 else "predict_batch",
                        "batch_size": batch_size,
                        "model": f"{backend.version} ({reference.model_name}, "
                        f"{reference.image_size} px)",
                        **result,
                        "machine": host,
                    }
                )
    rows += [
        {"benchmark": "drafting", "backend": "onnx", "refused": r, "figures": {}} for r in refused
    ]
    return rows


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    print()
    header = (
        f"{'backend/runtime':<26}{'mode':<15}{'batch':>5}{'studies':>8}{'P50 ms':>9}{'P95 ms':>9}"
        f"{'P99 ms':>9}{'mean ms':>9}{'studies/h':>11}  stages (mean ms/study)"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "refused" in row:
            print(f"onnx refused by the parity gate: {row['refused']}")
            continue
        f = row["figures"]
        stages = ", ".join(f"{k} {v['value']:.1f}" for k, v in row["stages_mean"].items())
        print(
            f"{row['backend'] + '/' + row['runtime']:<26}{row['mode']:<15}"
            f"{row['batch_size']:>5}{row['studies']:>8}"
            f"{f['latency_p50']['value']:>9.1f}{f['latency_p95']['value']:>9.1f}"
            f"{f['latency_p99']['value']:>9.1f}{f['latency_mean']['value']:>9.1f}"
            f"{f['throughput']['value']:>11,}  {stages}"
        )
    host = rows[0]["machine"]
    print(
        f"machine: {host['cpu_count']} CPUs ({host['cpu_model']}), torch {host['torch']} "
        f"with {host['torch_threads']} threads, device {rows[0]['device']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=32)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--render-size", type=int, default=512, help="phantom side in pixels")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the studies")
    parser.add_argument("--with-retrieval", action="store_true")
    parser.add_argument("--bank-cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the lines here")
    parser.add_argument("--no-onnx", action="store_true", help="PyTorch (and retrieval) only")
    args = parser.parse_args()
    rows = measure(
        args.model_dir,
        studies_count=args.studies,
        device=args.device,
        render_size=args.render_size,
        batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
        repeats=args.repeats,
        with_retrieval=args.with_retrieval,
        bank_cache_dir=args.bank_cache_dir,
        with_onnx=not args.no_onnx,
    )
    print_table(rows)
    for row in rows:
        print(json.dumps(row))
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
