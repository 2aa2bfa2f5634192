"""``make bench``: every benchmark of SPEC section 9 in one run, on this machine.

    .venv/bin/python -m bench [--only ingest,drafting,...] [--quick]

Writes ``bench/results.json`` (machine, versions, each benchmark's figures with unit, runs and
spread, and its wall time) and prints one table. Each benchmark also runs alone:
``python -m bench.ingest``, ``bench.drafting``, ``bench.pipeline``, ``bench.web``,
``bench.viewer``. A benchmark that cannot run here (a missing tool) is recorded with the reason
and the others go on; the exit status is non-zero if any failed.

The model the drafting benchmarks measure is the demonstration model in ``var/models/demo``
when present, else a small tiny model trained into a temporary folder first (about 2 minutes
on 2 cores). Figures from the demonstration model are not clinical figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import BASE_DIR, machine

RESULTS = BASE_DIR / "bench" / "results.json"
PACKAGES = ("django", "pynetdicom", "pydicom", "torch", "onnxruntime", "celery", "psycopg")


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def model_dir(tmp: Path) -> Path:
    demo = BASE_DIR / "var" / "models" / "demo"
    if (demo / "model.safetensors").exists():
        return demo
    from bench.drafting import train_small_model

    target = tmp / "model"
    print(f"no demonstration model in {demo}: training a small one into {target} ...")
    train_small_model(target)
    return target


def benchmarks(quick: bool, tmp: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    scale = 0.25 if quick else 1.0
    model: list[Path] = []

    def the_model() -> Path:
        if not model:
            model.append(model_dir(tmp))
        return model[0]

    def ingest() -> dict[str, Any]:
        from bench import ingest as module

        return module.run(count=max(20, int(300 * scale)), size=1024)

    def drafting() -> dict[str, Any]:
        from bench import drafting as module

        rows = module.measure(the_model(), studies_count=max(8, int(32 * scale)))
        module.print_table(rows)
        figures = {
            f"{row['backend']}_{row['runtime']}_b{row['batch_size']}_{name}": value
            for row in rows
            for name, value in row["figures"].items()
        }
        return {"rows": rows, "figures": figures}

    def pipeline() -> dict[str, Any]:
        from bench import pipeline as module

        return module.run(the_model(), studies=max(4, int(16 * scale)))

    def web() -> dict[str, Any]:
        from bench import web as module

        return module.run(studies=max(1000, int(10_000 * scale)))

    def viewer() -> dict[str, Any]:
        from bench import viewer as module

        result = module.main([])
        figures = {k: v for k, v in result.items() if isinstance(v, dict) and "value" in v}
        return {"figures": figures, "detail": result}

    return {
        "ingest": ingest,
        "drafting": drafting,
        "pipeline": pipeline,
        "web": web,
        "viewer": viewer,
    }


def print_table(results: dict[str, Any]) -> None:
    header = (
        f"{'benchmark':<10} {'figure':<52} {'value':>12} {'unit':<18} {'runs':>5} {'spread':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, result in results["benchmarks"].items():
        if "error" in result:
            print(f"{name:<10} FAILED: {result['error'].splitlines()[-1][:90]}")
            continue
        for figure_name, value in result.get("figures", {}).items():
            if not isinstance(value, dict) or "value" not in value:
                continue
            spread = "" if value.get("spread") is None else f"{value['spread']:.3g}"
            print(
                f"{name:<10} {figure_name[:52]:<52} {value['value']:>12.4g} "
                f"{value.get('unit', ''):<18} {value.get('runs', 1):>5} {spread:>9}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--quick", action="store_true", help="a quarter of the counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "quick": args.quick,
        "benchmarks": {},
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="radws-bench-") as tmp:
        suite = benchmarks(args.quick, Path(tmp))
        chosen = [n for n in args.only.split(",") if n] or list(suite)
        for name in chosen:
            print(f"\n=== {name} ===", flush=True)
            begun = time.perf_counter()
            try:
                result = suite[name]()
            except Exception:
                failed = True
                result = {"error": traceback.format_exc()}
                print(result["error"])
            result["seconds"] = round(time.perf_counter() - begun, 1)
            results["benchmarks"][name] = result
            args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    results["seconds"] = round(time.time() - started, 1)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print()
    print_table(results)
    print(f"\n{results['seconds']:.0f} s in all; written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
