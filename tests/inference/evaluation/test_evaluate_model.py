"""``manage.py evaluate_model`` end to end on the tiny model and a few held-out phantoms."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

SUMMARY_KEYS = {
    "critical_sensitivity",
    "hallucination_rate",
    "macro_auc",
    "ce_f1",
    "bleu4",
    "rouge_l",
    "cider",
    "box_iou",
    "latency_ms",
}


@pytest.fixture(scope="module")
def evaluation(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("evaluation")
    stdout = StringIO()
    call_command(
        "evaluate_model",
        model_dir=tiny_model_dir,
        backend="reference",
        count=12,
        bootstrap=50,
        num_beams=1,
        max_new_tokens=12,  # the tiny model's text is noise; keep its generation short
        out=out,
        stdout=stdout,
    )
    return out, stdout.getvalue()


def test_it_writes_json_with_the_summary_promotion_reads(evaluation: tuple[Path, str]) -> None:
    document = json.loads((evaluation[0] / "evaluation.json").read_text())

    assert set(document["summary"]) >= SUMMARY_KEYS
    assert isinstance(document["summary"]["hallucination_rate"], float)
    assert {k: document["model"][k] for k in ("name", "version", "demonstration")} == {
        "name": "reference-tiny",
        "version": "test-1",
        "demonstration": True,
    }
    assert document["dataset"]["cases"] == 12 and document["dataset"]["first_seed"] == 100_000
    assert document["settings"]["bootstrap_resamples"] == 50


def test_it_compares_the_model_with_the_template_baseline(evaluation: tuple[Path, str]) -> None:
    systems = json.loads((evaluation[0] / "evaluation.json").read_text())["systems"]

    assert list(systems) == ["model", "baseline"]
    assert systems["baseline"]["name"] == "template-baseline"
    # Same detector, so the same detection figures; only the text differs.
    assert systems["baseline"]["summary"]["macro_auc"] == systems["model"]["summary"]["macro_auc"]
    for figures in systems.values():
        interval = figures["intervals"]["macro_auc"]
        assert interval["low"] <= interval["value"] <= interval["high"]
        assert set(figures["errors"]) == {
            "missed",
            "hallucinated",
            "wrong_laterality",
            "wrong_severity",
        }
        assert {"age_band", "sex"} == set(figures["subgroups"])


def test_the_html_report_is_self_contained_with_its_plots(evaluation: tuple[Path, str]) -> None:
    page = (evaluation[0] / "report.html").read_text()

    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(?:src|href)="(?!data:)', page)
    assert "demonstration model, not for clinical use" in page


def test_the_model_card_says_in_bold_that_it_is_a_demonstration_model(
    evaluation: tuple[Path, str],
) -> None:
    card = (evaluation[0] / "MODEL_CARD.md").read_text()

    assert "**This is a demonstration model, not for clinical use." in card
    assert "Trained on: synthetic discs" in card
    assert re.search(r"\| Critical-finding sensitivity \(head\) \| [\d.]+ \[", card)


def test_it_prints_progress(evaluation: tuple[Path, str]) -> None:
    output = evaluation[1]

    assert "[model] drafted 12/12" in output and "[baseline] drafted 12/12" in output
    assert "bootstrap: 50 resamples of 12 cases" in output


def test_it_refuses_a_data_set_folder_with_a_clear_message(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="--data-dir is required"):
        call_command("evaluate_model", model_dir=tiny_model_dir, dataset="mimic", out=tmp_path)
    with pytest.raises(CommandError, match=r"mimic-cxr-2\.0\.0-split\.csv\.gz: file missing"):
        call_command(
            "evaluate_model",
            model_dir=tiny_model_dir,
            dataset="mimic",
            data_dir=tmp_path,
            out=tmp_path,
        )


def test_it_refuses_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"missing config\.json"):
        call_command("evaluate_model", model_dir=tmp_path / "none", out=tmp_path)


def test_it_evaluates_an_iu_xray_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from tests.inference.datasets.test_iu import write_iu

    call_command(
        "evaluate_model",
        model_dir=tiny_model_dir,
        backend="reference",
        dataset="iu",
        data_dir=write_iu(tmp_path / "iu"),
        split="all",
        no_baseline=True,
        bootstrap=20,
        num_beams=1,
        max_new_tokens=4,
        out=tmp_path / "out",
        stdout=StringIO(),
    )

    document = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert document["dataset"]["kind"] == "iu" and document["dataset"]["cases"] == 2
    assert document["dataset"]["skipped"] == ["CXR3: no images (3.xml)"]
    assert list(document["systems"]) == ["model"]
