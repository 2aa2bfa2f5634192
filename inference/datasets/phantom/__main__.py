"""``python -m inference.datasets.phantom``: write a phantom data set and its ``labels.csv``.

Phantom ``i`` of a run uses seed ``--seed + i`` through :func:`sample_spec`, so a data set is
fully determined by its arguments. ``labels.csv`` has one row per image: ``file``, ``labels``
(CheXpert labels joined by ``|``), ``boxes`` (JSON list of ``{"finding", "labels",
"laterality", "severity", "box": [x0, y0, x1, y1]}``), ``report``, then ``age``, ``sex``,
``indication``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from inference.datasets.phantom.render import render_phantom
from inference.datasets.phantom.spec import Phantom, Photometric, sample_spec
from inference.datasets.phantom.writers import to_png, write_dicom

COLUMNS = ("file", "labels", "boxes", "report", "age", "sex", "indication")


def label_row(phantom: Phantom, file: str) -> dict[str, str]:
    """The ``labels.csv`` row of ``phantom`` written as ``file``."""
    boxes = [
        {
            "finding": str(found.spec.kind),
            "labels": [str(label) for label in found.spec.labels],
            "laterality": str(found.spec.laterality) if found.spec.laterality else None,
            "severity": str(found.spec.severity),
            "box": found.box.as_list(),
        }
        for found in phantom.findings
    ]
    return {
        "file": file,
        "labels": "|".join(sorted(str(label) for label in phantom.labels)),
        "boxes": json.dumps(boxes),
        "report": phantom.report.text,
        "age": str(phantom.context.age),
        "sex": phantom.context.sex,
        "indication": phantom.context.indication,
    }


def _size(text: str) -> tuple[int, int]:
    rows, _, cols = text.lower().partition("x")
    return int(rows), int(cols or rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.datasets.phantom", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first phantom")
    parser.add_argument("--format", choices=("dicom", "png"), default="dicom")
    parser.add_argument("--size", type=_size, default=(512, 512), help="N or ROWSxCOLS")
    parser.add_argument(
        "--photometric", choices=[p.value for p in Photometric], default="MONOCHROME2"
    )
    parser.add_argument("--bits", type=int, default=12, help="bits stored, 12..16")
    parser.add_argument("--modality", choices=("CR", "DX"), default="CR")
    args = parser.parse_args(argv)
    if args.count < 0 or args.seed < 0:
        parser.error("--count and --seed must be >= 0")
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "dcm" if args.format == "dicom" else "png"
    with (args.out / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(args.count):
            spec = sample_spec(
                args.seed + i,
                size=args.size,
                photometric=Photometric(args.photometric),
                bits_stored=args.bits,
            )
            phantom = render_phantom(spec)
            name = f"phantom_{spec.seed:08d}.{suffix}"
            if args.format == "dicom":
                write_dicom(phantom, args.out / name, modality=args.modality)
            else:
                to_png(phantom, args.out / name)
            writer.writerow(label_row(phantom, name))
            if (i + 1) % 100 == 0 or i + 1 == args.count:
                print(f"{i + 1}/{args.count} phantoms written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
