"""MIMIC-CXR-JPG and IU X-ray folders as a training run's data. Imports no Django.

Training uses the official ``train`` split (IU: the hash split of
``inference.datasets.iu``), the held-out set is ``validate``; ``test`` is left to the
evaluation. ``data.count`` / ``data.held_out`` cap each (0: all); the cap takes a seeded
random sample, so a small run still sees every kind of study. Uncertain CheXpert labels count
as positive (U-Ones), as everywhere in the project.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from inference.datasets.records import LoadedDataset, StudyRecord
from inference.training import TrainingItem
from inference.training_config import ConfigError, RunConfig
from inference.training_run import RunData

DESCRIPTIONS = {
    "mimic": "MIMIC-CXR-JPG (PhysioNet credentialed access), official train split, frontal views",
    "iu": "IU X-ray / Open-i (NLM), training part of the hash split, frontal views",
}


def _sample(records: Sequence[StudyRecord], cap: int, seed: int) -> list[StudyRecord]:
    chosen = list(records)
    if cap and len(chosen) > cap:
        chosen = random.Random(seed).sample(chosen, cap)
    return chosen


def _load(source: str, root: str, splits: set[str]) -> LoadedDataset:
    from pathlib import Path

    if source == "mimic":
        from inference.datasets.mimic import load_mimic

        return load_mimic(Path(root), splits=splits)
    from inference.datasets.iu import load_iu

    return load_iu(Path(root), splits=splits)


def public_dataset(config: RunConfig, image_size: int) -> RunData:
    """The configured MIMIC or IU folder as training and held-out items.

    Raises:
        ConfigError: the folder yields no training or no held-out image.
        inference.datasets.records.DatasetError: a missing or malformed file (named).
    """
    data = config.data
    loaded = _load(data.source, data.path, {"train", "validate"})
    train = [r for r in loaded.records if r.split == "train"]
    held_out = [r for r in loaded.records if r.split == "validate"]
    if not train or not held_out:
        raise ConfigError(
            f"{data.path}: {len(train)} training and {len(held_out)} validation images "
            f"(data.source = {data.source!r}); both splits need at least one"
        )
    items: dict[str, list[TrainingItem]] = {
        name: [
            record.to_training_item(image_size)
            for record in _sample(records, cap, config.seed + offset)
        ]
        for name, records, cap, offset in (
            ("train", train, data.count, 0),
            ("held_out", held_out, data.held_out, 1),
        )
    }
    description = config.training_data or DESCRIPTIONS[data.source]
    if loaded.skipped:
        description += f" ({len(loaded.skipped)} studies skipped by the loader)"
    return RunData(items["train"], items["held_out"], description)
