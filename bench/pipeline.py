"""End-to-end drafting through the real stack, and how it scales with worker processes
(SPEC section 9, issue 9 items 2 and 5).

    .venv/bin/python -m bench.pipeline --model-dir var/models/demo --studies 24 --workers 1,2,4

A throw-away stack (embedded PostgreSQL and Redis under a temporary VAR_DIR) runs the project's
SCP (``manage.py runscp`` with its settle sweeper) and N Celery worker processes on the draft
queue (``--concurrency 1`` each, the reference backend, ``DRAFT_BATCH_SIZE`` as given). Phantom
chest radiographs (one instance per study, each on its own association, as a modality sends)
arrive either

* **steady**: one study every ``--interval`` seconds (below the service rate), or
* **saturation**: all studies at once,

and the latency of each study is measured from the database's own timestamps: the commit of the
study's last image (``Instance.received_at``) to the commit of its AI draft
(``AiDraft.created_at``, the moment the report API can return it). That includes the settle
wait (``STUDY_SETTLE_SECONDS``, reported), the queue, DICOM reading, the model, QA, triage and
the database. Throughput is studies drafted per hour of wall time in saturation. The cost model
records CPU-seconds and peak resident memory of the worker processes per study drafted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    Stack,
    figure,
    free_port,
    latency_figures,
    project_stack,
    stop,
    wait_for_port,
)

SETTLE_SECONDS = 1.0

# From the commit of the study's last *image* (rows set: the AI's own SR/GSPS objects, stored
# into the same study after the draft, are not arrivals) to the commit of its AI draft.
LATENCIES_SQL = """
import json
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT s.study_uid, EXTRACT(EPOCH FROM (d.created_at - MAX(i.received_at))) * 1000 "
        "FROM studies_study s JOIN studies_series se ON se.study_id = s.id "
        "JOIN studies_instance i ON i.series_id = se.id AND i.rows IS NOT NULL "
        "JOIN reports_report r ON r.study_id = s.id "
        "JOIN reports_reportversion v ON v.report_id = r.id "
        "JOIN reports_aidraft d ON d.version_id = v.id "
        "GROUP BY s.study_uid, d.created_at"
    )
    rows = cursor.fetchall()
print(json.dumps({uid: float(ms) for uid, ms in rows}))
"""


def phantom_files(folder: Path, count: int, first_seed: int, size: int = 512) -> list[Path]:
    from inference.datasets.phantom import render_phantom, sample_spec, to_dicom

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for seed in range(first_seed, first_seed + count):
        ds = to_dicom(render_phantom(sample_spec(seed, size=(size, size))))
        path = folder / f"{seed}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def send_one(path: Path, port: int) -> None:
    from workstation.dicom.scu import send_files

    (result,) = send_files([path], host="127.0.0.1", port=port)
    if result.status != 0:
        raise RuntimeError(f"C-STORE of {path.name} answered {result.status!r}")


def drafted(stack: Stack) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", LATENCIES_SQL],
        env=stack.env,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def start_workers(stack: Stack, count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workstation",
                "worker",
                "-Q",
                "celery,gpu",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "-n",
                f"bench{i}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            env=stack.env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        for i in range(count)
    ]


def worker_usage(workers: Sequence[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """CPU-seconds (user + system) and summed resident memory (MiB) of the workers and their
    pool children, read just before they stop."""
    cpu = rss = 0.0
    for worker in workers:
        try:
            parent = psutil.Process(worker.pid)
            for process in [parent, *parent.children(recursive=True)]:
                times = process.cpu_times()
                cpu += times.user + times.system
                rss += process.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return cpu, rss


def wait_drafted(stack: Stack, uids: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    done: dict[str, float] = {}
    while time.monotonic() < deadline:
        done = drafted(stack)
        if len(done) >= uids:
            return done
        time.sleep(1.0)
    raise TimeoutError(f"{len(done)}/{uids} studies drafted after {timeout:.0f} s")


def run_case(
    model_dir: Path,
    files: Sequence[Path],
    warmup: Sequence[Path],
    *,
    workers: int,
    batch_size: int,
    mode: str,
    interval: float,
    timeout: float,
) -> dict[str, Any]:
    """One stack, ``workers`` worker processes, the studies of ``files`` sent in ``mode``."""
    with tempfile.TemporaryDirectory(prefix="radws-bench-pipeline-") as tmp:
        port = free_port()
        with project_stack(
            Path(tmp),
            DICOM_PORT=str(port),
            DRAFT_BACKEND="reference",
            DRAFT_MODEL_DIR=str(model_dir),
            DRAFT_BATCH_SIZE=str(batch_size),
            STUDY_SETTLE_SECONDS=str(SETTLE_SECONDS),
            STUDY_SWEEP_INTERVAL_SECONDS="0.2",
            HEATMAP_DIR=str(Path(tmp) / "heatmaps"),
        ) as stack:
            scp = stack.manage("runscp")
            pool = start_workers(stack, workers)
            try:
                wait_for_port(port, process=scp)
                # One study per worker first, not counted: each worker loads its model then.
                for path in warmup[:workers]:
                    send_one(path, port)
                wait_drafted(stack, workers, timeout)
                warm = set(drafted(stack))
                started = time.perf_counter()
                if mode == "steady":
                    for path in files:
                        send_one(path, port)
                        time.sleep(interval)
                else:  # all at once, over 4 parallel associations
                    from workstation.dicom.scu import send_files

                    failed = [
                        r
                        for r in send_files(files, host="127.0.0.1", port=port, associations=4)
                        if r.status != 0
                    ]
                    if failed:
                        raise RuntimeError(f"{len(failed)} C-STOREs failed: {failed[0]}")
                latencies = {
                    uid: ms
                    for uid, ms in wait_drafted(stack, len(files) + workers, timeout).items()
                    if uid not in warm
                }
                wall = time.perf_counter() - started
                cpu, rss = worker_usage(pool)
            finally:
                for worker in pool:
                    stop(worker)
                stop(scp)
    values = list(latencies.values())
    return {
        "mode": mode,
        "workers": workers,
        "batch_size": batch_size,
        "studies": len(values),
        "wall_s": round(wall, 2),
        "figures": {
            **latency_figures(values, "stored_to_draft"),
            "throughput": figure(len(values) / wall * 3600, "studies/hour", runs=len(values)),
            "worker_cpu_s_per_study": figure(cpu / len(values), "CPU-s/study"),
            "worker_rss_mib": figure(rss, "MiB (all workers)"),
        },
        "settle_seconds": SETTLE_SECONDS,
    }


def run(
    model_dir: Path,
    studies: int = 16,
    workers: Sequence[int] = (1, 2, 4),
    batch_sizes: Sequence[int] = (1, 8),
    interval: float = 4.0,
    timeout: float = 600.0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radws-bench-phantoms-") as tmp:
        print(f"pipeline: rendering {studies} phantom studies ...", flush=True)
        files = phantom_files(Path(tmp), studies, first_seed=950_000)
        warmup = phantom_files(Path(tmp) / "warmup", max(workers), first_seed=960_000)
        cases = []
        for batch_size in batch_sizes:
            case = run_case(
                model_dir,
                files,
                warmup,
                workers=1,
                batch_size=batch_size,
                mode="steady",
                interval=interval,
                timeout=timeout,
            )
            cases.append(case)
            print(
                f"  steady 1 worker batch {batch_size}: "
                f"P50 {case['figures']['stored_to_draft_p50']['value']:.0f} ms "
                f"P99 {case['figures']['stored_to_draft_p99']['value']:.0f} ms",
                flush=True,
            )
        for count in workers:
            case = run_case(
                model_dir,
                files,
                warmup,
                workers=count,
                batch_size=max(batch_sizes),
                mode="saturation",
                interval=0,
                timeout=timeout,
            )
            cases.append(case)
            print(
                f"  saturation {count} worker(s): "
                f"{case['figures']['throughput']['value']:.0f} studies/h, "
                f"P99 {case['figures']['stored_to_draft_p99']['value']:.0f} ms, "
                f"{case['figures']['worker_cpu_s_per_study']['value']:.2f} CPU-s/study",
                flush=True,
            )
    figures: dict[str, Any] = {}
    for case in cases:
        key = f"{case['mode']}_{case['workers']}w_b{case['batch_size']}"
        for name, value in case["figures"].items():
            figures[f"{key}_{name}"] = value
    return {"cases": cases, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--studies", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--interval", type=float, default=4.0, help="steady arrival gap, s")
    args = parser.parse_args()
    result = run(
        args.model_dir,
        args.studies,
        [int(w) for w in args.workers.split(",")],
        [int(b) for b in args.batch_sizes.split(",")],
        args.interval,
    )
    print(json.dumps(result["figures"], indent=1))


if __name__ == "__main__":
    main()
