"""Ingest throughput: C-STORE of generated CR instances into the project's SCP, full path
(hash, fsync, database row), with the sender in its own process.

    .venv/bin/python bench/ingest.py --count 200 --size 512 --associations 4

Runs the SCP (`manage.py runscp`) against a throw-away embedded PostgreSQL/Redis under a
temporary VAR_DIR, so no shared database is touched. Prints a JSON line with instances/s, MB/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from workstation.dicom.scu import send_files  # noqa: E402

CR = "1.2.840.10008.5.1.4.1.1.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generated_cr(path: Path, size: int, seed: int, study_uid: str) -> Path:
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
    ds.PatientID, ds.PatientName, ds.Modality = f"BENCH{seed % 50}", "Bench^Patient", "CR"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--associations", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="radws-bench-") as tmp:
        tmp_path = Path(tmp)
        files = [
            generated_cr(tmp_path / "in" / f"{i}.dcm", args.size, i, generate_uid())
            for i in range(args.count)
            if (tmp_path / "in").mkdir(exist_ok=True) is None
        ]
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            VAR_DIR=str(tmp_path / "var"),
            EMBEDDED_REDIS_PORT=str(free_port()),
            DICOM_PORT=str(port),
            DICOM_STORAGE_DIR=str(tmp_path / "store"),
            STUDY_SETTLE_SECONDS="3600",
            LOG_LEVEL="WARNING",
        )
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=BASE_DIR)
        profile = os.environ.get("BENCH_PROFILE_SCP")
        prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
        scp = subprocess.Popen([*prefix, *manage[1:], "runscp"], env=env, cwd=BASE_DIR)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            started = time.perf_counter()
            results = send_files(files, host="127.0.0.1", port=port, associations=args.associations)
            elapsed = time.perf_counter() - started
        finally:
            scp.send_signal(signal.SIGTERM)
            scp.wait(timeout=30)
        ok = sum(1 for r in results if r.status == 0)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(
            json.dumps(
                {
                    "benchmark": "ingest_project_scp",
                    "instances": args.count,
                    "size": args.size,
                    "associations": args.associations,
                    "stored": ok,
                    "seconds": round(elapsed, 3),
                    "instances_per_s": round(args.count / elapsed, 1),
                    "mb_per_s": round(megabytes / elapsed, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
