"""manage.py train_fusion: fits on context-dependent phantoms, chooses penalties and labels
by cross-validation, reports held-out figures of fusion vs image-only, and writes
fusion.json next to the model."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.fusion.fit import PENALTIES
from inference.fusion.model import FusionModel
from inference.labels import Label


def test_it_writes_a_loadable_fusion_model_with_held_out_figures(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    out = io.StringIO()

    call_command(
        "train_fusion",
        "--model-dir",
        str(model_dir),
        "--images",
        "24",
        "--held-out",
        "12",
        "--contexts",
        "4",
        "--render-size",
        "64",
        stdout=out,
    )

    model = FusionModel.load(model_dir / "fusion.json")
    held_out = model.metrics["held_out"]
    assert "Pneumonia" in held_out
    assert set(held_out["Pneumonia"]) == {
        "image_model",
        "image_only_fit",
        "image_model_prompted",
        "fusion",
    }
    assert set(held_out["Pneumonia"]["fusion"]) >= {"auc", "ece", "brier"}
    assert model.metrics["held_out_cases"] == 48
    # Context adjusts only the labels where it did not hurt the cross-validated ranking on
    # the fitting cases (the held-out set decides nothing).
    cross_validated = model.metrics["cross_validated"]
    assert "Pneumonia" in cross_validated
    for name, rows in cross_validated.items():
        assert rows["fusion"]["penalty"] in PENALTIES
        helped = rows["fusion"]["auc"] >= rows["image_only_fit"]["auc"]
        assert (Label(name) in model.labels) is helped, name
        assert (name in model.metrics["dropped_labels"]) is not helped
    assert "cross-validated" in out.getvalue()
    assert "context adjusts:" in out.getvalue()
    assert "not a clinical performance claim" in json.dumps(model.metrics)
    text = out.getvalue()
    assert "Pneumonia" in text and "fusion model written to" in text


def test_it_names_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"missing config\.json"):
        call_command("train_fusion", "--model-dir", str(tmp_path))
