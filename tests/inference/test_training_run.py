"""inference.training_run and inference.training_config: a configured run on phantoms trains,
checkpoints every epoch, survives Ctrl-C and resumes exactly; bad configs name the key."""

from __future__ import annotations

import functools
import json
import signal
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from inference.models.checkpoint import load_reference_model
from inference.registry import MODEL_CARD_INTENDED_USE
from inference.training import TrainingItem
from inference.training_config import (
    DEMO_CONFIG,
    ConfigError,
    RunConfig,
    load_run_config,
    run_config_from_dict,
)
from inference.training_run import (
    CHECKPOINT,
    METRICS,
    PROGRESS,
    RunData,
    RunDirInUse,
    TrainingInterrupted,
    phantom_items,
    run_training,
)

SMALL = {
    "name": "reference-test",
    "version": "t1",
    "seed": 3,
    "model": {"size": "tiny"},
    "data": {"source": "phantom", "first_seed": 500, "count": 16, "held_out": 8},
    "training": {"batch_size": 4, "grad_accum": 2},
    "stages": [
        {"stage": "encoder", "epochs": 2, "lr": 3e-3},
        {"stage": "projector", "epochs": 1},
        {"stage": "language", "epochs": 1},
    ],
}
PNG = b"\x89PNG\r\n\x1a\n"


@functools.cache
def _items() -> tuple[tuple[TrainingItem, ...], tuple[TrainingItem, ...]]:
    """The small config's phantoms, rendered once per test process."""
    return tuple(phantom_items(500, 16, 64)), tuple(phantom_items(516, 8, 64))


def _data(train: Sequence[TrainingItem] | None = None) -> RunData:
    default_train, held_out = _items()
    return RunData(train if train is not None else default_train, held_out, "test phantoms")


def _config() -> RunConfig:
    return run_config_from_dict(SMALL, source="small.toml")


class CtrlCOnAccess(Sequence[TrainingItem]):
    """The training items; sends this process a real SIGINT when item 0 is read for the
    ``nth`` time (the first read builds the tokenizer, then once per epoch)."""

    def __init__(self, items: Sequence[TrainingItem], nth: int) -> None:
        self.items, self.nth, self.reads = items, nth, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> TrainingItem:  # type: ignore[override]
        if index == 0:
            self.reads += 1
            if self.reads == self.nth:
                signal.raise_signal(signal.SIGINT)
        return self.items[index]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    model, _card = load_reference_model(model_dir)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_it_trains_measures_and_saves_a_model_whose_loss_improves(tmp_path: Path) -> None:
    result = run_training(
        _config(),
        run_dir=tmp_path / "run",
        model_dir=tmp_path / "model",
        data=_data(),
        progress_bar=False,
        log=lambda _: None,
    )
    encoder = [epoch for epoch in result.epochs if epoch.stage == "encoder"]
    assert [e.stage for e in result.epochs] == ["encoder"] * 2 + ["projector", "language"]
    assert encoder[-1].train_loss < encoder[0].train_loss
    assert result.epochs[-1].held_out_loss < result.epochs[0].held_out_loss
    metrics = json.loads((tmp_path / "run" / METRICS).read_text())
    assert len(metrics["epochs"]) == 4 and "macro_auc_phantom" in metrics["final"]
    assert all(0.0 <= e["held_out_macro_auc"] <= 1.0 for e in metrics["epochs"])
    for plot in ("loss.png", "held_out_auc.png"):
        assert (tmp_path / "run" / plot).read_bytes().startswith(PNG)
    model, card = load_reference_model(tmp_path / "model")
    assert (card.name, card.version, card.intended_use) == (
        "reference-test",
        "t1",
        MODEL_CARD_INTENDED_USE,
    )
    assert card.metrics == metrics["final"] and card.parameters > 0
    assert model.calibration.method == "platt"


def test_it_resumes_after_ctrl_c_exactly_as_an_uninterrupted_run(tmp_path: Path) -> None:
    config = _config()
    quiet = {"data": _data(), "progress_bar": False, "log": lambda _: None}
    whole = run_training(config, run_dir=tmp_path / "a", model_dir=tmp_path / "a-model", **quiet)

    interrupted = _data(CtrlCOnAccess(_items()[0], nth=3))  # during encoder epoch 2
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        run_training(
            config,
            run_dir=tmp_path / "b",
            model_dir=tmp_path / "b-model",
            data=interrupted,
            progress_bar=False,
            log=lambda _: None,
        )
    progress = json.loads((tmp_path / "b" / CHECKPOINT / PROGRESS).read_text())
    assert progress["stage_index"] == 0 and len(progress["metrics"]) == 1
    assert not (tmp_path / "b-model").exists()
    assert signal.getsignal(signal.SIGINT) == handler  # restored

    resumed = run_training(
        config, run_dir=tmp_path / "b", model_dir=tmp_path / "b-model", resume=True, **quiet
    )
    assert [e.train_loss for e in resumed.epochs] == pytest.approx(
        [e.train_loss for e in whole.epochs], rel=1e-6
    )
    want, got = _weights(tmp_path / "a-model"), _weights(tmp_path / "b-model")
    for name, tensor in want.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)
    assert resumed.card.metrics == whole.card.metrics


def test_it_refuses_a_run_folder_with_a_checkpoint_unless_told(tmp_path: Path) -> None:
    config = replace(_config(), stages=(replace(_config().stages[0], epochs=1),))
    quiet = {"data": _data(), "progress_bar": False, "log": lambda _: None}
    run_training(config, run_dir=tmp_path / "run", model_dir=tmp_path / "m", **quiet)
    with pytest.raises(RunDirInUse, match="--resume"):
        run_training(config, run_dir=tmp_path / "run", model_dir=tmp_path / "m", **quiet)
    changed = replace(config, seed=99)
    with pytest.raises(ConfigError, match="seed"):
        run_training(
            changed, run_dir=tmp_path / "run", model_dir=tmp_path / "m", resume=True, **quiet
        )
    again = run_training(
        changed, run_dir=tmp_path / "run", model_dir=tmp_path / "m", overwrite=True, **quiet
    )
    assert len(again.epochs) == 1


def test_it_reads_the_demo_config() -> None:
    config = load_run_config(DEMO_CONFIG)
    assert (config.name, config.size, config.data.source) == ("reference-demo", "tiny", "phantom")
    assert [s.stage.name for s in config.stages] == ["ENCODER", "PROJECTOR", "LANGUAGE"]
    assert config.output.model_dir == "var/models/demo"


def test_it_reads_json_configs_too(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(SMALL))
    assert load_run_config(path) == _config()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 1}, "unknown key 'learning_rate'"),
        ({"training": {"batch_size": "sixteen"}}, "key 'training.batch_size' must be an integer"),
        ({"training": {"mixed_precision": 1}}, "key 'training.mixed_precision' must be true or"),
        ({"training": {"batchsize": 8}}, "unknown key 'training.batchsize'"),
        ({"data": {"source": "chexpert"}}, "key 'data.source' must be one of"),
        ({"data": {"source": "mimic"}}, "key 'data.path' must be set"),
        ({"model": {"size": "huge"}}, "key 'model.size' must be one of"),
        ({"stages": [{"stage": "decoder", "epochs": 1}]}, "key 'stages[0].stage'"),
        ({"stages": [{"stage": "encoder", "epochs": 0}]}, "key 'stages[0].epochs'"),
        ({"stages": [{"stage": "encoder", "epochs": 1, "lr": 2}]}, "key 'stages[0].lr'"),
        ({"stages": [{"stage": "encoder"}]}, "key 'stages[0].epochs' is required"),
        ({"stages": []}, "key 'stages' must be a non-empty list"),
        ({"version": "1+x"}, "key 'version' must be without '+'"),
    ],
)
def test_it_names_the_file_and_key_of_a_bad_config(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = {**SMALL, **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as raised:
        load_run_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_it_names_the_file_of_unparseable_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_run_config(path)
