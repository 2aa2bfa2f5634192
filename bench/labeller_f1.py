"""Agreement of the rule-based CheXpert labeller with the IU X-ray MeSH index.

Reads the 3,955 IU X-ray reports shipped in the torchxrayvision wheel (without importing it),
labels findings + impression with :func:`inference.labeller.label_report` (uncertain counted
as positive) and compares with the labels derived from the indexers' MeSH major terms
(:func:`inference.iu_reports.mesh_to_labels`). Reports indexed "No Indexing" or with neither
findings nor impression are left out. Prints per-label precision / recall / F1 / support and
micro / macro F1, then micro / macro F1 with uncertain mentions counted as negative.

    .venv/bin/python bench/labeller_f1.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.iu_reports import (
    agreement,
    is_evaluable,
    load_iu_reports,
    mesh_to_labels,
)
from inference.labeller import label_report, positive_labels


def main() -> None:
    reports = load_iu_reports()
    evaluable = [r for r in reports if is_evaluable(r)]
    predicted = [frozenset(positive_labels(label_report(r.text))) for r in evaluable]
    reference = [mesh_to_labels(r.mesh_major) for r in evaluable]
    result = agreement(predicted, reference)
    print(f"IU X-ray reports: {len(reports)} loaded, {len(evaluable)} indexed with text scored")
    print(f"{'label':<28}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for score in result.scores:
        print(
            f"{score.label.value:<28}{score.precision:>10.3f}{score.recall:>8.3f}"
            f"{score.f1:>8.3f}{score.support:>9d}"
        )
    print(f"micro F1 {result.micro_f1:.3f}   macro F1 {result.macro_f1:.3f}")
    strict = agreement(
        [
            frozenset(positive_labels(label_report(r.text), uncertain_as_positive=False))
            for r in evaluable
        ],
        reference,
    )
    print(
        f"(uncertain counted as negative: micro F1 {strict.micro_f1:.3f}"
        f"   macro F1 {strict.macro_f1:.3f})"
    )


if __name__ == "__main__":
    main()
