"""Reading stored DICOM files for pixels without letting a hostile file take the process down.

Uncompressed pixel data is decoded in-process (numpy views of bytes already read: the fast
path). Compressed pixel data goes through C decoders (OpenJPEG, libjpeg, CharLS) that a
crafted codestream can crash or drive to huge allocations, so it is decompressed in a child
process with an address-space and CPU limit and a wall-clock timeout; the parent gets back an
uncompressed dataset. Either way, a declared image larger than ``max_pixel_bytes`` is refused
before anything is decoded. Imports no Django.

Run as ``python -m inference.safe_decode PATH MAX_PIXEL_BYTES ADDRESS_SPACE CPU_SECONDS``:
writes the decompressed dataset (Part 10) to stdout.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from inference.preprocess import PixelDataError


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on one decode: ``max_pixel_bytes`` of decoded pixels (all frames), and for a
    compressed file the child's address space (bytes), CPU seconds and wall-clock seconds."""

    max_pixel_bytes: int = 512 * 1024 * 1024
    address_space_bytes: int = 3 * 1024 * 1024 * 1024
    cpu_seconds: int = 60
    timeout_seconds: float = 60.0


def declared_pixel_bytes(ds: Dataset) -> int:
    """Decoded size the header announces: rows x columns x samples x bytes x frames."""
    try:
        rows = int(ds.get("Rows", 0) or 0)
        columns = int(ds.get("Columns", 0) or 0)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError) as exc:
        raise PixelDataError(f"image geometry unreadable: {exc}") from exc
    return rows * columns * samples * max(1, (bits + 7) // 8) * max(1, frames)


def _check_geometry(ds: Dataset, limits: DecodeLimits) -> None:
    size = declared_pixel_bytes(ds)
    if size > limits.max_pixel_bytes:
        raise PixelDataError(
            f"image declares {size} bytes of pixels, more than the {limits.max_pixel_bytes} allowed"
        )


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def read_for_pixels(path: Path, limits: DecodeLimits | None = None) -> Dataset:
    """The dataset at ``path`` with uncompressed pixel data, decoded safely.

    Raises ``OSError`` / ``pydicom.errors.InvalidDicomError`` for an unreadable file and
    ``PixelDataError`` when the pixels are too large or their decoder fails, crashes, runs
    out of memory or time.
    """
    limits = limits or DecodeLimits()
    ds = pydicom.dcmread(path)
    _check_geometry(ds, limits)
    syntax = _transfer_syntax(ds)
    if "PixelData" not in ds or syntax is None or not syntax.is_compressed:
        return ds
    return _decompress_in_child(path, limits)


def _limit_child(limits: DecodeLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_bytes, limits.address_space_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _decompress_in_child(path: Path, limits: DecodeLimits) -> Dataset:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "inference.safe_decode",
                str(path),
                str(limits.max_pixel_bytes),
                str(limits.address_space_bytes),
                str(limits.cpu_seconds),
            ],
            capture_output=True,
            timeout=limits.timeout_seconds,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PixelDataError(
            f"pixel data took more than {limits.timeout_seconds:g} s to decode"
        ) from exc
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [
            f"decoder died with signal {-result.returncode}"
        ]
        raise PixelDataError(f"pixel data cannot be decoded: {reason[0][:300]}")
    return pydicom.dcmread(io.BytesIO(result.stdout))


def _main(argv: list[str]) -> int:
    # The child limits itself before it reads anything (a preexec_fn is unsafe in the
    # threaded web, SCP and worker processes that start it).
    limits = DecodeLimits(
        max_pixel_bytes=int(argv[2]), address_space_bytes=int(argv[3]), cpu_seconds=int(argv[4])
    )
    _limit_child(limits)
    ds = pydicom.dcmread(Path(argv[1]))
    _check_geometry(ds, limits)
    try:
        ds.decompress(generate_instance_uid=False)  # the same instance, uncompressed
    except Exception as exc:  # pydicom and the pylibjpeg plugins raise many types
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    sys.stdout.buffer.write(buffer.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
