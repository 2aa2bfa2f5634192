"""The training run's configuration file (TOML or JSON), parsed strictly. Imports no Django.

A file names the model (``name``, ``version``, ``[model] size``), the data (phantoms by
default; MIMIC-CXR-JPG or IU X-ray folders), the schedule of stages (SPEC section 4: stage 1
projector, stage 2 projector + language model; stage 0 trains our randomly initialised
encoder first), the batch, gradient accumulation and mixed precision, and where the run and
the finished model go. ``inference/configs/demo.toml`` is the demonstration model's.

Unknown keys and wrong types are errors naming the file and the key (``demo.toml: key
'training.batch_size' must be an integer, got 'sixteen'``): a typo must not silently train
something else for an hour.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from inference.registry import REFERENCE_SIZES
from inference.training import Stage

#: The demonstration model's configuration (``make model``).
DEMO_CONFIG: Final = Path(__file__).resolve().parent / "configs" / "demo.toml"
DATA_SOURCES: Final = ("phantom", "mimic", "iu")
STAGE_NAMES: Final = {stage.name.lower(): stage for stage in Stage}


class ConfigError(ValueError):
    """The configuration file is unreadable or has an unknown key or a wrong value; the
    message names the file and the key."""


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from.

    ``phantom``: seeds ``first_seed .. first_seed+count-1`` train, the next ``held_out``
    measure and calibrate. ``mimic`` / ``iu``: the folder ``path``; ``count`` / ``held_out``
    cap how many records are used (0: all).
    """

    source: str = "phantom"
    path: str = ""
    first_seed: int = 0
    count: int = 240
    held_out: int = 80


@dataclass(frozen=True)
class StageConfig:
    stage: Stage
    epochs: int
    lr: float | None = None  # None: ``registry.STAGE_LEARNING_RATES``


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = 16
    grad_accum: int = 1
    mixed_precision: bool = True  # float16 autocast + gradient scaling, on CUDA only
    context_dropout: float = 0.2
    device: str = ""  # "" CUDA when present, else CPU


@dataclass(frozen=True)
class OutputConfig:
    """Relative paths are taken from the directory the command runs in (the project root)."""

    model_dir: str = "var/models/trained"
    run_dir: str = "var/runs/trained"


@dataclass(frozen=True)
class RunConfig:
    name: str
    version: str
    seed: int
    size: str
    data: DataConfig
    stages: tuple[StageConfig, ...]
    training: TrainingConfig
    output: OutputConfig
    training_data: str = ""  # model card text; default describes ``data``

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed with this config (not outputs)."""
        data = asdict(self)
        data.pop("output")
        data["stages"] = [
            {"stage": s.stage.name.lower(), "epochs": s.epochs, "lr": s.lr} for s in self.stages
        ]
        return data


# key -> (python type, human name); bool is checked before int (bool is an int in Python).
_TOP: Final = {
    "name": (str, "a string"),
    "version": (str, "a string"),
    "seed": (int, "an integer"),
    "training_data": (str, "a string"),
}
_SECTIONS: Final[dict[str, dict[str, tuple[type, str]]]] = {
    "model": {"size": (str, "a string")},
    "data": {
        "source": (str, "a string"),
        "path": (str, "a string"),
        "first_seed": (int, "an integer"),
        "count": (int, "an integer"),
        "held_out": (int, "an integer"),
    },
    "training": {
        "batch_size": (int, "an integer"),
        "grad_accum": (int, "an integer"),
        "mixed_precision": (bool, "true or false"),
        "context_dropout": (float, "a number"),
        "device": (str, "a string"),
    },
    "output": {"model_dir": (str, "a string"), "run_dir": (str, "a string")},
}
_STAGE_KEYS: Final = {
    "stage": (str, "a string"),
    "epochs": (int, "an integer"),
    "lr": (float, "a number"),
}


def load_run_config(path: Path | str) -> RunConfig:
    """Read a ``.toml`` or ``.json`` run configuration.

    Raises:
        ConfigError: unreadable, not TOML/JSON, an unknown key, a wrong type or value.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({error})") from error
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"{path}: not valid {kind} ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of keys")
    return run_config_from_dict(data, source=str(path))


def run_config_from_dict(data: Mapping[str, Any], *, source: str = "<config>") -> RunConfig:
    """Validate a parsed configuration (see :func:`load_run_config`); ``source`` names it."""
    allowed = {*_TOP, *_SECTIONS, "stages"}
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"{source}: unknown key {key!r} (known: {', '.join(sorted(allowed))})"
            )
    top = _checked({k: v for k, v in data.items() if k in _TOP}, _TOP, source, prefix="")
    sections = {
        name: _checked(_table(data, name, source), keys, source, prefix=f"{name}.")
        for name, keys in _SECTIONS.items()
    }
    size = sections["model"].get("size", "tiny")
    if size not in REFERENCE_SIZES:
        raise ConfigError(f"{source}: key 'model.size' must be one of {sorted(REFERENCE_SIZES)}")
    config = RunConfig(
        name=top.get("name", "reference-trained"),
        version=top.get("version", "1"),
        seed=top.get("seed", 0),
        size=size,
        data=DataConfig(**sections["data"]),
        stages=_stages(data.get("stages"), source),
        training=TrainingConfig(**sections["training"]),
        output=OutputConfig(**sections["output"]),
        training_data=top.get("training_data", ""),
    )
    _check_values(config, source)
    return config


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: key {name!r} must be a table ([{name}])")
    return table


def _checked(
    table: Mapping[str, Any], keys: Mapping[str, tuple[type, str]], source: str, *, prefix: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(
                f"{source}: unknown key {prefix + key!r} (known: "
                f"{', '.join(prefix + k for k in sorted(keys))})"
            )
        kind, human = keys[key]
        out[key] = _typed(value, kind, human, source, prefix + key)
    return out


def _typed(value: Any, kind: type, human: str, source: str, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{source}: key {key!r} must be {human}, got {value!r}")
    return value


def _stages(raw: Any, source: str) -> tuple[StageConfig, ...]:
    if raw is None:
        raise ConfigError(f"{source}: key 'stages' is required ([[stages]] tables)")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: key 'stages' must be a non-empty list of tables")
    stages = []
    for index, entry in enumerate(raw):
        where = f"stages[{index}]."
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{source}: key 'stages[{index}]' must be a table")
        values = _checked(entry, _STAGE_KEYS, source, prefix=where)
        for required in ("stage", "epochs"):
            if required not in values:
                raise ConfigError(f"{source}: key {where + required!r} is required")
        if values["stage"] not in STAGE_NAMES:
            raise ConfigError(
                f"{source}: key {where + 'stage'!r} must be one of {sorted(STAGE_NAMES)}, "
                f"got {values['stage']!r}"
            )
        if values["epochs"] < 1:
            raise ConfigError(f"{source}: key {where + 'epochs'!r} must be at least 1")
        if values.get("lr") is not None and not 0 < values["lr"] < 1:
            raise ConfigError(f"{source}: key {where + 'lr'!r} must be between 0 and 1")
        stages.append(StageConfig(STAGE_NAMES[values["stage"]], values["epochs"], values.get("lr")))
    return tuple(stages)


def _check_values(config: RunConfig, source: str) -> None:
    data, training = config.data, config.training
    checks = [
        (data.source in DATA_SOURCES, "data.source", f"one of {list(DATA_SOURCES)}"),
        (data.source == "phantom" or bool(data.path), "data.path", "set for mimic and iu data"),
        (data.count >= (1 if data.source == "phantom" else 0), "data.count", "positive"),
        (data.held_out >= (2 if data.source == "phantom" else 0), "data.held_out", "at least 2"),
        (data.first_seed >= 0, "data.first_seed", "non-negative"),
        (training.batch_size >= 1, "training.batch_size", "at least 1"),
        (training.grad_accum >= 1, "training.grad_accum", "at least 1"),
        (0 <= training.context_dropout < 1, "training.context_dropout", "in [0, 1)"),
        (bool(config.name.strip()), "name", "non-empty"),
        (bool(config.version.strip()) and "+" not in config.version, "version", "without '+'"),
    ]
    for ok, key, requirement in checks:
        if not ok:
            raise ConfigError(f"{source}: key {key!r} must be {requirement}")
