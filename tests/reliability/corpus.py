"""A seeded corpus of mutated DICOM files for the hostile-input tests (R2).

Seeds are the small real files in ../shared/data/dicom (when present) and generated CR images
in several transfer syntaxes. Each mutant keeps a valid File Meta group (a network sender
puts its own on the wire) and mutates the dataset bytes: truncations, byte flips, huge
declared lengths, wrong VRs, deep sequence nesting, spliced and random bodies; some also
declare a transfer syntax the body is not in.
"""

from __future__ import annotations

import copy
import hashlib
import random
import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)

from tests.factories import SHARED_DICOM, cr_dataset, write
from workstation.dicom.part10 import encode_preamble_and_meta, split_part10

MAX_SEED_BYTES = 140_000
KNOWN_SYNTAXES = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEG2000Lossless,
    RLELossless,
)
UNKNOWN_SYNTAX = "1.2.826.0.1.3680043.10.511.99"  # no sender or receiver knows it
VRS = (
    b"AE",
    b"AS",
    b"CS",
    b"DA",
    b"DS",
    b"FD",
    b"IS",
    b"LO",
    b"OB",
    b"OW",
    b"PN",
    b"SQ",
    b"UI",
    b"UL",
    b"UN",
    b"US",
    b"UT",
    b"XX",
    b"\x00\x00",
)


@dataclass(frozen=True)
class Seed:
    name: str
    meta: Dataset
    body: bytes
    explicit: bool


@dataclass(frozen=True)
class Mutant:
    path: Path
    mutation: str
    sop_uid: str
    sop_class: str
    transfer_syntax: str
    body_sha256: str


def _generated_seeds(directory: Path) -> list[Seed]:
    seeds = []
    variants = (
        ("cr-explicit", ExplicitVRLittleEndian, {}),
        ("cr-implicit", ImplicitVRLittleEndian, {}),
        ("cr-big-endian", ExplicitVRBigEndian, {}),
        ("cr-deflated", DeflatedExplicitVRLittleEndian, {}),
        ("cr-mono1", ExplicitVRLittleEndian, {"photometric": "MONOCHROME1"}),
    )
    for number, (name, syntax, extra) in enumerate(variants):
        ds = cr_dataset(rows=32, columns=32, seed=number, **_uids(number), **extra)  # type: ignore[arg-type]
        ds.file_meta.TransferSyntaxUID = syntax
        path = write(ds, directory / f"{name}.dcm")
        seeds.append(_seed(name, path.read_bytes()))
    rle = cr_dataset(rows=32, columns=32, seed=9, **_uids(9))
    rle.compress(RLELossless)
    seeds.append(_seed("cr-rle", write(rle, directory / "cr-rle.dcm").read_bytes()))
    return seeds


def _uids(number: int) -> dict[str, str]:
    """Fixed UIDs, so that the corpus is the same bytes in every run."""
    root = "1.2.826.0.1.3680043.10.511.8"
    return {
        "study_uid": f"{root}.1.{number}",
        "series_uid": f"{root}.2.{number}",
        "sop_uid": f"{root}.3.{number}",
    }


def _seed(name: str, data: bytes) -> Seed:
    part10 = split_part10(data)
    syntax = str(part10.file_meta.TransferSyntaxUID)
    return Seed(name, part10.file_meta, part10.dataset_bytes, syntax != ImplicitVRLittleEndian)


def seeds(directory: Path) -> list[Seed]:
    """Generated seeds, plus every real file under ``MAX_SEED_BYTES`` with a File Meta group."""
    found = _generated_seeds(directory)
    if SHARED_DICOM.is_dir():
        for path in sorted(SHARED_DICOM.rglob("*.dcm")):
            if path.stat().st_size > MAX_SEED_BYTES:
                continue
            try:
                found.append(_seed(path.name, path.read_bytes()))
            except ValueError:  # no File Meta: not something a sender can put on the wire
                continue
    return found


def _truncate(rng: random.Random, body: bytes) -> bytes:
    return body[: rng.randrange(0, max(1, len(body)))]


def _flip(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 12)):
        if data:
            data[rng.randrange(min(len(data), 4096))] = rng.randrange(256)
    return bytes(data)


def _huge_length(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    huge = rng.choice((0xFFFFFFF0, 0x7FFFFFFF, 0x40000000, len(body) * 4 + 1))
    pixel_tag = data.find(b"\xe0\x7f\x10\x00")
    if pixel_tag >= 0 and rng.random() < 0.4:
        # Explicit VR OB/OW: tag, VR, 2 reserved bytes, then the 4-byte length.
        offset = pixel_tag + (8 if data[pixel_tag + 4 : pixel_tag + 6] in (b"OB", b"OW") else 4)
    else:
        offset = rng.randrange(0, max(1, min(len(data) - 4, 2048)))
    data[offset : offset + 4] = struct.pack("<L", huge)
    return bytes(data)


def _wrong_vr(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    positions = [i for i in range(4, min(len(data) - 2, 4096)) if bytes(data[i : i + 2]) in VRS]
    for position in rng.sample(positions, min(len(positions), rng.randint(1, 4))):
        data[position : position + 2] = rng.choice(VRS)
    return bytes(data)


def _deep_nesting(rng: random.Random, body: bytes, explicit: bool) -> bytes:
    depth = rng.choice((64, 500, 3000))
    sequence = (
        struct.pack("<HH", 0x0009, 0x1010)
        + (b"SQ\x00\x00" if explicit else b"")
        + b"\xff\xff\xff\xff"
    )
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closed = rng.random() < 0.5
    tail = (
        (struct.pack("<HHL", 0xFFFE, 0xE00D, 0) + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)) * depth
        if closed
        else b""
    )
    private_creator = (
        struct.pack("<HH", 0x0009, 0x0010)
        + (b"LO\x08\x00" if explicit else struct.pack("<L", 8))
        + b"NESTING "
    )
    nested = private_creator + (sequence + item) * depth + tail
    cut = rng.randrange(0, max(1, min(len(body), 512)))
    return body[:cut] + nested + body[cut:]


def _splice(rng: random.Random, body: bytes, other: bytes) -> bytes:
    return (
        body[: rng.randrange(0, max(1, len(body)))] + other[rng.randrange(0, max(1, len(other))) :]
    )


def _random_body(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 4096))


MUTATIONS = (
    "truncate",
    "flip",
    "huge-length",
    "wrong-vr",
    "deep-nesting",
    "splice",
    "random",
    "bad-syntax",
)


def build(directory: Path, count: int, seed: int = 20261123) -> list[Mutant]:
    """Write ``count`` mutants under ``directory`` (deterministic for a given ``seed``)."""
    rng = random.Random(seed)
    pool = seeds(directory / "seeds")
    # The small generated seeds are cheap to send; weight them so the corpus stays fast.
    weights = [4.0 if s.name.startswith("cr-") else 1.0 for s in pool]
    mutants = []
    for number in range(count):
        source = rng.choices(pool, weights)[0]
        mutation = MUTATIONS[number % len(MUTATIONS)]
        meta = copy.deepcopy(source.meta)
        body = source.body
        if mutation == "truncate":
            body = _truncate(rng, body)
        elif mutation == "flip":
            body = _flip(rng, body)
        elif mutation == "huge-length":
            body = _huge_length(rng, body)
        elif mutation == "wrong-vr":
            body = _wrong_vr(rng, body)
        elif mutation == "deep-nesting":
            body = _deep_nesting(rng, body, source.explicit)
        elif mutation == "splice":
            body = _splice(rng, body, rng.choice(pool).body)
        elif mutation == "random":
            body = _random_body(rng)
        else:
            meta.TransferSyntaxUID = rng.choice((*KNOWN_SYNTAXES, UNKNOWN_SYNTAX))
            if rng.random() < 0.5:
                body = _flip(rng, body)
        path = directory / f"{number:05d}-{mutation}.dcm"
        path.write_bytes(encode_preamble_and_meta(meta) + body)
        mutants.append(
            Mutant(
                path,
                mutation,
                str(meta.MediaStorageSOPInstanceUID),
                str(meta.MediaStorageSOPClassUID),
                str(meta.TransferSyntaxUID),
                hashlib.sha256(body).hexdigest(),
            )
        )
    return mutants
