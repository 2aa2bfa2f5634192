"""``manage.py train_model``: trains from a config file into the run folder and the model
directory, registers the model, and names the file and key of a bad config."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.model_registry.models import ModelStatus, ModelVersion
from inference.model_registry.weights import weights_checksum
from tests.conftest import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]

CONFIG = """
name = "reference-cli"
version = "cli-1"
seed = 1

[model]
size = "tiny"

[data]
source = "phantom"
first_seed = 700
count = 8
held_out = 4

[training]
batch_size = 4

[[stages]]
stage = "encoder"
epochs = 1

[[stages]]
stage = "language"
epochs = 1

[output]
model_dir = "{model}"
run_dir = "{run}"
"""


@pytest.mark.django_db
def test_it_trains_saves_and_registers_the_configured_model(tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    model, run = tmp_path / "model", tmp_path / "run"
    config.write_text(CONFIG.format(model=model, run=run))
    out = io.StringIO()
    call_command("train_model", config=config, no_progress=True, stdout=out)
    text = out.getvalue()
    assert "held-out phantom macro AUC" in text and "not clinical performance" in text
    assert len(json.loads((run / "metrics.json").read_text())["epochs"]) == 2
    row = ModelVersion.objects.get(name="reference-cli", version="cli-1")
    assert row.status == ModelStatus.REGISTERED and row.backend == "reference"
    assert row.sha256 == weights_checksum(model) and row.path == str(model.resolve())
    with pytest.raises(CommandError, match=r"already holds a checkpoint: pass --resume"):
        call_command("train_model", config=config, no_progress=True, stdout=io.StringIO())


def test_it_names_the_file_and_key_of_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(CONFIG.format(model="m", run="r").replace("batch_size = 4", "batch = 4"))
    with pytest.raises(CommandError, match=r"bad.toml: unknown key 'training.batch'"):
        call_command("train_model", config=config, stdout=io.StringIO())


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_run(tmp_path: Path) -> None:
    config = tmp_path / "long.toml"
    model, run = tmp_path / "model", tmp_path / "run"
    config.write_text(CONFIG.format(model=model, run=run).replace("epochs = 1", "epochs = 40", 1))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "workstation.settings.test"}
    command = [sys.executable, str(BASE_DIR / "manage.py"), "train_model", "--config", str(config)]
    process = subprocess.Popen(
        [*command, "--no-progress", "--no-register"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (run / "metrics.json").is_file(), timeout=120)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "checkpoint saved" in err and "--resume" in err
    assert not model.exists()
    done_before = len(json.loads((run / "metrics.json").read_text())["epochs"])
    assert done_before < 41

    resumed = subprocess.run(
        [*command, "--no-progress", "--no-register", "--resume"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run}" in resumed.stdout
    assert len(json.loads((run / "metrics.json").read_text())["epochs"]) == 41
    assert (model / "model_card.json").is_file()
