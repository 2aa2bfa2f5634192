"""Write an evaluation: ``evaluation.json``, a self-contained ``report.html`` (plots inline as
base64 PNG, no external asset) and ``MODEL_CARD.md``. Imports no Django.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Final

from inference.evaluation.evaluate import Evaluation

JSON_NAME, HTML_NAME, CARD_NAME = "evaluation.json", "report.html", "MODEL_CARD.md"

#: Summary figures in display order, with their names for people.
FIGURES: Final[tuple[tuple[str, str], ...]] = (
    ("macro_auc", "Detection macro AUC (14 labels)"),
    ("micro_f1_14", "Detection micro F1 (14)"),
    ("macro_f1_14", "Detection macro F1 (14)"),
    ("micro_f1_5", "Detection micro F1 (5 main)"),
    ("macro_f1_5", "Detection macro F1 (5 main)"),
    ("critical_sensitivity", "Critical-finding sensitivity (head)"),
    ("critical_sensitivity_text", "Critical-finding sensitivity (draft text)"),
    ("box_iou", "Box IoU (detected truth findings)"),
    ("ce_f1", "Clinical-efficacy F1 (micro, 14)"),
    ("ce_f1_5", "Clinical-efficacy F1 (micro, 5 main)"),
    ("ce_macro_f1_14", "Clinical-efficacy F1 (macro, 14)"),
    ("hallucination_rate", "Hallucination rate (drafts)"),
    ("unsupported_rate", "Unsupported-by-detector rate (drafts)"),
    ("bleu1", "BLEU-1"),
    ("bleu2", "BLEU-2"),
    ("bleu3", "BLEU-3"),
    ("bleu4", "BLEU-4"),
    ("rouge_l", "ROUGE-L"),
    ("cider", "CIDEr"),
    ("latency_ms", "Latency per study (ms)"),
)
DEMO_NOTICE: Final = (
    "This is a demonstration model, not for clinical use. Its figures were measured on the "
    "data set named below and say nothing about its performance on patients."
)


def fmt(interval: dict[str, Any]) -> str:
    """``0.912 [0.880, 0.940]``, or ``n/a`` where undefined."""
    value, low, high = interval.get("value"), interval.get("low"), interval.get("high")
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _dataset_line(document: dict[str, Any]) -> str:
    data = document["dataset"]
    return f"{data.get('description', data.get('kind', ''))} ({data['cases']} cases)"


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;font-size:.9em}th{background:#f2f2f2}.notice{background:#fff3cd;
border:2px solid #c90;padding:1em;font-weight:bold}img{max-width:48%;margin:.5em}
pre{white-space:pre-wrap;background:#f7f7f7;padding:1em;font-size:.85em}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary_table(systems: dict[str, Any]) -> str:
    roles = list(systems)
    rows = [
        [name, *(fmt(systems[role]["intervals"].get(key, {})) for role in roles)]
        for key, name in FIGURES
    ]
    header = [
        "figure",
        *(f"{role}: {systems[role]['name']} {systems[role]['version']}" for role in roles),
    ]
    return _table(header, rows)


def _per_label_table(system: dict[str, Any]) -> str:
    rows = [
        [
            row["label"],
            f"{row['prevalence']:.3f}",
            str(row["positives"]),
            fmt(row["f1"]),
            fmt(row["auc"]),
            "n/a" if row["ce_f1"] is None else f"{row['ce_f1']:.3f}",
        ]
        for row in system["per_label"]
    ]
    return _table(["label", "prevalence", "positives", "F1", "AUC", "CE F1"], rows)


def _errors_html(errors: dict[str, Any]) -> str:
    parts = []
    for kind, data in errors.items():
        extra = ""
        if "assessed" in data:
            extra = (
                f" of {data['assessed']} assessed ({data['unstated']} with no side/severity stated)"
            )
        by_label = ", ".join(f"{k}: {v}" for k, v in data["by_label"].items()) or "none"
        examples = "; ".join(
            " ".join(f"{k}={v}" for k, v in example.items()) for example in data["examples"]
        )
        parts.append(
            f"<h4>{html.escape(kind.replace('_', ' '))}: {data['count']}{html.escape(extra)}</h4>"
            f"<p>By label: {html.escape(by_label)}</p>"
            f"<p>Examples: {html.escape(examples or 'none')}</p>"
        )
    return "".join(parts)


def _subgroups_html(subgroups: dict[str, Any]) -> str:
    parts = []
    for attribute, data in subgroups.items():
        rows = [
            [
                g["group"],
                str(g["cases"]),
                *(
                    "n/a" if g[k] is None else f"{g[k]:.3f}"
                    for k in ("tpr", "fpr", "critical_sensitivity", "hallucination_rate")
                ),
            ]
            for g in data["groups"]
        ]
        gaps = ", ".join(
            f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in data["equalised_odds"].items()
        )
        parts.append(
            f"<h4>{html.escape(attribute.replace('_', ' '))}</h4>"
            + _table(["group", "cases", "TPR", "FPR", "critical sens.", "halluc. rate"], rows)
            + f"<p>Equalised-odds gaps: {html.escape(gaps)}</p>"
        )
    return "".join(parts)


def _system_title(role: str, system: dict[str, Any]) -> str:
    return f"{role}: {system['name']} {system['version']}"


def render_html(evaluation: Evaluation) -> str:
    """The whole report as one HTML page (images inline)."""
    document = evaluation.document
    model = document["model"]
    systems = document["systems"]
    title = f"Evaluation of {model['name']} {model['version']}"
    notice = f'<p class="notice">{html.escape(DEMO_NOTICE)}</p>' if model["demonstration"] else ""
    images = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}">'
        for name, png in evaluation.plots.items()
    )
    sections = "".join(
        f"<h2>{html.escape(_system_title(role, system))}</h2>"
        f"<h3>Per label</h3>{_per_label_table(system)}"
        f"<h3>Error analysis</h3>{_errors_html(system['errors'])}"
        f"<h3>Subgroup audit</h3>{_subgroups_html(system['subgroups'])}"
        for role, system in systems.items()
    )
    settings = document["settings"]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{notice}"
        f"<p>Backend: {html.escape(model['backend'])}. "
        f"Data: {html.escape(_dataset_line(document))}. "
        f"Intervals: 95% bootstrap, {settings['bootstrap_resamples']} resamples "
        f"(seed {settings['bootstrap_seed']}). Created {html.escape(document['created'])}.</p>"
        f"<h2>Summary</h2>{_summary_table(systems)}"
        f"<h2>Plots ({html.escape(next(iter(systems)))})</h2>{images}"
        f"{sections}<h2>Definitions</h2><pre>{html.escape(document['definitions'])}</pre>"
        "</body></html>"
    )


# --- model card -------------------------------------------------------------------------------


def render_model_card(evaluation: Evaluation) -> str:
    """The model card in Markdown: what it is, what it was trained on, held-out figures."""
    document = evaluation.document
    model = document["model"]
    systems = document["systems"]
    roles = list(systems)
    lines = [f"# Model card: {model['name']} {model['version']}", ""]
    if model["demonstration"]:
        lines += [f"**{DEMO_NOTICE}**", ""]
    lines += [
        "## What it is",
        "",
        f"- Backend: `{model['backend']}`; size `{model['size'] or 'n/a'}`, "
        f"{model['parameters']:,} parameters",
        f"- Intended use: {model['intended_use']}",
        f"- Trained on: {model['training_data'] or 'not stated in its model_card.json'}",
        "",
        "## Held-out figures",
        "",
        f"Data: {_dataset_line(document)}. 95% bootstrap intervals over "
        f"{document['settings']['bootstrap_resamples']} case resamples. The baseline is the "
        "rule-based template baseline: the same detector, one fixed sentence per label.",
        "",
        "| figure | " + " | ".join(f"{r}: {systems[r]['name']}" for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for key, name in FIGURES:
        lines.append(
            f"| {name} | "
            + " | ".join(fmt(systems[r]["intervals"].get(key, {})) for r in roles)
            + " |"
        )
    first = systems[roles[0]]
    lines += ["", "## Subgroups (equalised-odds gaps, detection)", ""]
    for attribute, data in first["subgroups"].items():
        gap = data["equalised_odds"]["gap"]
        groups = ", ".join(f"{g['group']} ({g['cases']})" for g in data["groups"])
        lines.append(
            f"- {attribute}: gap {'n/a' if gap is None else f'{gap:.3f}'}; groups {groups}"
        )
    lines += ["", "## Errors of the drafts", ""]
    for kind, data in first["errors"].items():
        lines.append(f"- {kind.replace('_', ' ')}: {data['count']}")
    lines += [
        "",
        f"Generated by `manage.py evaluate_model` on {document['created']}; the full figures, "
        "per-label tables, examples and plots are in `evaluation.json` and `report.html`.",
        "",
    ]
    return "\n".join(lines)


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> dict[str, Path]:
    """Write the three files into ``out_dir`` (created); returns their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / JSON_NAME, "html": out_dir / HTML_NAME, "card": out_dir / CARD_NAME}
    paths["json"].write_text(json.dumps(evaluation.document, indent=2, allow_nan=False))
    paths["html"].write_text(render_html(evaluation), encoding="utf-8")
    paths["card"].write_text(render_model_card(evaluation), encoding="utf-8")
    return paths
