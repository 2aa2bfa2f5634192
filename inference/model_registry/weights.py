"""What the registry reads from disk: a model directory's identity and weights checksum, an
evaluation file's summary, and the release gate. Imports no Django (settings come in as
arguments), so the checks can be tested and reused without a database.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from inference.models.checkpoint import CARD, CONFIG
from inference.onnx_export.runtime import MANIFEST, sha256_of

#: Files that hold weights, in every format the backends load.
WEIGHT_SUFFIXES: Final = (".safetensors", ".onnx", ".bin", ".pt", ".pth")
#: The evaluation summary keys the release gate reads (``manage.py evaluate_model``).
CRITICAL_SENSITIVITY: Final = "critical_sensitivity"
HALLUCINATION_RATE: Final = "hallucination_rate"


class RegistryError(ValueError):
    """A model directory or evaluation file cannot be registered; the message names it."""


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str
    backend: str
    sha256: str
    card: dict[str, Any]


def weights_checksum(directory: Path) -> str:
    """SHA-256 of the directory's only weights file; with several (an ONNX export holds the
    PyTorch weights and two detectors), SHA-256 of their ``sha256sum``-style listing
    (``<hex>  <name>\\n`` per file, sorted by name).

    Raises:
        RegistryError: no weights file.
    """
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES),
        key=lambda p: p.name,
    )
    if not files:
        raise RegistryError(f"{directory}: no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    if len(files) == 1:
        return sha256_of(files[0])
    listing = "".join(f"{sha256_of(p)}  {p.name}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RegistryError(f"{path}: unreadable JSON ({error})") from error


def identify(directory: Path, *, name: str = "", version: str = "") -> ModelIdentity:
    """Name, version (``model_card.json``, else the arguments), backend and checksum of a
    model directory. The backend is ``onnx`` for an ``export_onnx`` output, ``reference``
    for a reference model directory, else ``hf``.

    Raises:
        RegistryError: not a directory, no name/version from either source, no weights.
    """
    if not directory.is_dir():
        raise RegistryError(f"{directory}: not a directory")
    card: dict[str, Any] = {}
    if (directory / CARD).is_file():
        loaded = _read_json(directory / CARD)
        if not isinstance(loaded, dict):
            raise RegistryError(f"{directory / CARD}: expected a JSON object")
        card = loaded
    name = name or str(card.get("name", ""))
    version = version or str(card.get("version", ""))
    if not name or not version:
        raise RegistryError(f"{directory}: no {CARD} with name and version; pass both")
    if (directory / MANIFEST).is_file():
        backend = "onnx"
    elif card and (directory / CONFIG).is_file() and "labels" in _read_json(directory / CONFIG):
        backend = "reference"
    else:
        backend = "hf"
    return ModelIdentity(name, version, backend, weights_checksum(directory), card)


def base_version(version: str) -> str:
    """The registered version a served version string names: backends add ``+<variant>``
    (``demo-1+retrieval``, ``demo-1+onnx-int8``) to the version of the weights they load."""
    return version.split("+", 1)[0]


def evaluation_summary(path: Path, *, name: str, version: str) -> dict[str, Any]:
    """The ``summary`` of an evaluation JSON (``manage.py evaluate_model``), checked to be
    about ``name``:``version``; NaN and infinite figures become ``None``.

    Raises:
        RegistryError: unreadable, no ``summary`` object, or about another model.
    """
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise RegistryError(f"{path}: no 'summary' object (not an evaluate_model output?)")
    model = data.get("model")
    if isinstance(model, dict) and model.get("name") is not None:
        said = (str(model.get("name")), base_version(str(model.get("version", ""))))
        if said != (name, base_version(version)):
            raise RegistryError(
                f"{path}: evaluates {said[0]}:{said[1]}, not {name}:{base_version(version)}"
            )
    # JSON numbers only: PostgreSQL's jsonb has no NaN (an undefined figure, e.g. a
    # sensitivity with no positive case, is stored as null and reads as missing).
    return {
        str(key): None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in data["summary"].items()
    }


def _number(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def release_gaps(
    metrics: Mapping[str, Any], *, min_critical_sensitivity: float, max_hallucination_rate: float
) -> list[str]:
    """Why ``metrics`` miss the release thresholds (empty when they meet them): measured vs
    required for each, or that the figure is missing."""
    if not metrics:
        return ["no evaluation recorded (register_model --evaluation <evaluate_model JSON>)"]
    gaps = []
    sensitivity = _number(metrics, CRITICAL_SENSITIVITY)
    if sensitivity is None:
        gaps.append(f"{CRITICAL_SENSITIVITY} missing from the evaluation")
    elif sensitivity < min_critical_sensitivity:
        gaps.append(
            f"{CRITICAL_SENSITIVITY} {sensitivity:.3f} is below the required "
            f"{min_critical_sensitivity:.3f}"
        )
    hallucination = _number(metrics, HALLUCINATION_RATE)
    if hallucination is None:
        gaps.append(f"{HALLUCINATION_RATE} missing from the evaluation")
    elif hallucination > max_hallucination_rate:
        gaps.append(
            f"{HALLUCINATION_RATE} {hallucination:.3f} is above the allowed "
            f"{max_hallucination_rate:.3f}"
        )
    return gaps
