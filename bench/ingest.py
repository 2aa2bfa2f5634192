"""Ingest throughput, the project's SCP against DCMTK's ``storescp`` (SPEC section 9).

    .venv/bin/python -m bench.ingest --count 500 --size 1024 --associations 1,4

The same generated 16-bit CR instances (``--size`` 1024 gives 2 MB each) are sent by DCMTK's
``storescu`` and by pynetdicom, over 1 and 4 parallel associations, to

* the project's SCP (``manage.py runscp``) with its full path: SHA-256 of the received bytes,
  write to a content-addressed path, fsync, database row committed before the success status;
  run against a throw-away embedded PostgreSQL under a temporary VAR_DIR;
* DCMTK's ``storescp --fork`` writing each instance to disk (no fsync, no database).

Each run sends a fresh copy of the set (new UIDs), so the project's idempotent re-send fast path
never shortens a run. Reports instances/s and MB/s of each cell and the ratio project/DCMTK
for each sender and association count. ``storescu`` with N associations is N processes, each
sending its share of the files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bench.common import figure, free_port, project_stack, stop, wait_for_port

CR = "1.2.840.10008.5.1.4.1.1.1"
SENDERS = ("storescu", "pynetdicom")
# DCMTK's tools from the system, never the like-named Python scripts a venv may carry.
SYSTEM_PATH = "/usr/bin:/usr/local/bin"
STORESCP = shutil.which("storescp", path=SYSTEM_PATH) or "storescp"
STORESCU = shutil.which("storescu", path=SYSTEM_PATH) or "storescu"


def generated_cr(path: Path, size: int, seed: int, study_uid: str, patient: int = 0) -> Path:
    """A 16-bit CR of ``size`` x ``size`` with smooth structure plus noise (not compressible to
    nothing, like a real radiograph)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 2000 + 1200 * np.sin(6 * xx + seed) * np.cos(4 * yy)
    pixels = np.clip(base + rng.normal(0, 60, (size, size)), 0, 4095).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CR
    ds.SOPClassUID, ds.SOPInstanceUID = CR, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = f"BENCH{patient}", "Bench^Patient", "CR"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def generated_set(folder: Path, count: int, size: int, per_study: int = 2) -> list[Path]:
    study_uids = [generate_uid() for _ in range(max(1, count // per_study))]
    return [
        generated_cr(
            folder / f"{i:05d}.dcm", size, i, study_uids[i % len(study_uids)], i % len(study_uids)
        )
        for i in range(count)
    ]


def fresh_copy(sources: Sequence[Path], folder: Path) -> list[Path]:
    """The same pixels under new study/series/instance UIDs (one new UID per old one)."""
    mapping: dict[str, str] = {}
    copies = []
    for source in sources:
        ds = pydicom.dcmread(source)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            old = str(getattr(ds, keyword))
            setattr(ds, keyword, mapping.setdefault(old, generate_uid()))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = folder / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        copies.append(target)
    return copies


def send_storescu(files: Sequence[Path], port: int, associations: int, called: str) -> int:
    """Send with N ``storescu`` processes; returns how many instances were answered success.

    storescu's exit status is 0 only if every C-STORE succeeded; a lane that fails counts as
    none stored (the figure is then not comparable and is reported as a failure).
    """
    lanes = [list(files[i::associations]) for i in range(associations)]
    processes = [
        subprocess.Popen(
            [STORESCU, "-aet", "BENCHSCU", "-aec", called, "-R", "127.0.0.1", str(port)]
            + [str(p) for p in lane],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for lane in lanes
        if lane
    ]
    stored = 0
    for process, lane in zip(processes, lanes, strict=False):
        _, err = process.communicate(timeout=1800)
        if process.returncode == 0:
            stored += len(lane)
        else:
            print(f"storescu failed ({process.returncode}): {err.decode()[-400:]}")
    return stored


def send_pynetdicom(files: Sequence[Path], port: int, associations: int, called: str) -> int:
    from workstation.dicom.scu import send_files

    results = send_files(
        files, host="127.0.0.1", port=port, called_ae_title=called, associations=associations
    )
    return sum(1 for r in results if r.status == 0)


def timed_send(
    sender: str, files: Sequence[Path], port: int, associations: int, called: str
) -> tuple[float, int]:
    send = send_storescu if sender == "storescu" else send_pynetdicom
    started = time.perf_counter()
    stored = send(files, port, associations, called)
    return time.perf_counter() - started, stored


def cell(seconds: float, stored: int, files: Sequence[Path]) -> dict[str, Any]:
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    return {
        "instances": len(files),
        "stored": stored,
        "seconds": round(seconds, 3),
        "instances_per_s": figure(len(files) / seconds, "instances/s"),
        "mb_per_s": figure(megabytes / seconds, "MB/s"),
    }


def association_rate(files: Sequence[Path], port: int, called: str) -> float:
    """Associations per second when every instance comes on its own association, as many
    modalities send (one association per study): association setup dominates."""
    from pynetdicom import AE

    ae = AE(ae_title="BENCHSCU")
    ae.add_requested_context(CR, ExplicitVRLittleEndian)
    started = time.perf_counter()
    for path in files:
        assoc = ae.associate("127.0.0.1", port, ae_title=called)
        if not assoc.is_established:
            raise RuntimeError(f"association to {called} on {port} refused")
        status = assoc.send_c_store(pydicom.dcmread(path))
        assoc.release()
        if getattr(status, "Status", None) != 0:
            raise RuntimeError(f"{called} answered {status} for {path.name}")
    return len(files) / (time.perf_counter() - started)


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` (all threads, with native frames off) into collapsed stacks at ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--gil",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(
    count: int = 500,
    size: int = 1024,
    associations: Sequence[int] = (1, 4),
    senders: Sequence[str] = SENDERS,
    profile_dir: Path | None = None,
    per_association: int = 60,
) -> dict[str, Any]:
    if not (Path(STORESCP).is_absolute() and Path(STORESCU).is_absolute()):
        raise RuntimeError("DCMTK is not installed (apt-get install dcmtk; `make bench` does it)")
    cells: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="radws-bench-ingest-") as tmp:
        root = Path(tmp)
        print(f"ingest: generating {count} CR instances of {size}x{size} (16-bit) ...", flush=True)
        sources = generated_set(root / "source", count, size)
        instance_bytes = sources[0].stat().st_size
        scp_port, dcmtk_port = free_port(), free_port()
        with project_stack(
            root, DICOM_PORT=str(scp_port), STUDY_SETTLE_SECONDS="3600", DICOM_MAX_ASSOCIATIONS="16"
        ) as stack:
            scp = stack.manage("runscp")
            dcmtk_dir = root / "dcmtk-out"
            dcmtk_dir.mkdir()
            dcmtk = subprocess.Popen(
                [STORESCP, "--fork", "-aet", "DCMTK", "-od", str(dcmtk_dir), str(dcmtk_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_port(scp_port, process=scp)
                wait_for_port(dcmtk_port, process=dcmtk)
                for sender in senders:
                    for n in associations:
                        for target, port, called in (
                            ("project", scp_port, "RADWS"),
                            ("dcmtk", dcmtk_port, "DCMTK"),
                        ):
                            files = fresh_copy(sources, root / f"run-{sender}-{n}-{target}")
                            spy = None
                            if profile_dir is not None and target == "project":
                                spy = py_spy(scp.pid, profile_dir / f"scp-{sender}-{n}assoc.txt")
                            seconds, stored = timed_send(sender, files, port, n, called)
                            if spy is not None:
                                spy.send_signal(signal.SIGINT)
                                spy.wait(timeout=60)
                            key = f"{target}/{sender}/{n}assoc"
                            cells[key] = cell(seconds, stored, files)
                            print(
                                f"  {key}: {cells[key]['instances_per_s']['value']:.1f} inst/s "
                                f"({stored}/{len(files)} stored)",
                                flush=True,
                            )
                            shutil.rmtree(files[0].parent)
                            shutil.rmtree(dcmtk_dir)
                            dcmtk_dir.mkdir()
                small = generated_set(root / "small-source", per_association, 256)
                for target, port, called in (
                    ("project", scp_port, "RADWS"),
                    ("dcmtk", dcmtk_port, "DCMTK"),
                ):
                    files = fresh_copy(small, root / f"assoc-{target}")
                    rate = association_rate(files, port, called)
                    cells[f"{target}/associations"] = figure(
                        rate, "associations/s", runs=len(files)
                    )
                    print(f"  {target}/one-instance associations: {rate:.1f}/s", flush=True)
            finally:
                stop(scp)
                stop(dcmtk)
    figures: dict[str, Any] = {}
    for sender in senders:
        for n in associations:
            project = cells[f"project/{sender}/{n}assoc"]
            dcmtk_cell = cells[f"dcmtk/{sender}/{n}assoc"]
            figures[f"project_{sender}_{n}assoc_instances_per_s"] = project["instances_per_s"]
            figures[f"project_{sender}_{n}assoc_mb_per_s"] = project["mb_per_s"]
            figures[f"dcmtk_{sender}_{n}assoc_instances_per_s"] = dcmtk_cell["instances_per_s"]
            figures[f"ratio_project_dcmtk_{sender}_{n}assoc"] = figure(
                project["instances_per_s"]["value"] / dcmtk_cell["instances_per_s"]["value"],
                "ratio",
            )
    figures["project_associations_per_s"] = cells["project/associations"]
    figures["dcmtk_associations_per_s"] = cells["dcmtk/associations"]
    figures["ratio_project_dcmtk_associations"] = figure(
        cells["project/associations"]["value"] / cells["dcmtk/associations"]["value"], "ratio"
    )
    return {
        "setup": {
            "instances": count,
            "size": size,
            "bytes_per_instance": instance_bytes,
            "associations": list(associations),
            "senders": list(senders),
        },
        "cells": cells,
        "figures": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--associations", default="1,4")
    parser.add_argument("--senders", default=",".join(SENDERS))
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="sample the project's SCP with py-spy into this folder",
    )
    args = parser.parse_args()
    result = run(
        args.count,
        args.size,
        [int(n) for n in args.associations.split(",")],
        args.senders.split(","),
        args.profile_dir,
    )
    print(json.dumps(result["figures"], indent=1))


if __name__ == "__main__":
    main()
