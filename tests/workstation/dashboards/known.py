"""The known history the dashboard tests assert exact figures on.

Day D (2026-03-02 UTC) and D+1; the range is [D, D+2) and "now" is D+2 00:00.
A  CR, drafted after 60 s, signed by reader 3600 s later; effusion detected and stated.
B  CR, drafted after 120 s, AI draft rejected by attending, signed 7200 s later; the draft
   states a pneumothorax the head did not detect (a hallucination); signed text says so too.
C  DX STAT, drafted after 30 s (40 s of processing), awaiting signature; pneumothorax detected.
D  CR, no draft.
E  CR, drafted after 90 s, signed by reader 600 s later; cardiomegaly removed, nodule added.
F  CR, ten days before D: the baseline (cardiomegaly detected).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.workstation.dashboards.history import DAY, AiFinding, Case, build

EFFUSION = AiFinding("Pleural Effusion", 0.9, critical=True)
PNEUMOTHORAX = AiFinding("Pneumothorax", 0.95, critical=True)
CARDIOMEGALY = AiFinding("Cardiomegaly", 0.7)


def at(day: int, hour: int) -> dt.datetime:
    return DAY + dt.timedelta(days=day, hours=hour)


def known_history(reader: Any, attending: Any) -> dict[str, Case]:
    """Write cases A-F (see the module docstring) and return them by name."""
    cases = {
        "A": Case(
            received=at(0, 8),
            draft_after_s=60,
            draft_text=("Small right pleural effusion.", "Pleural effusion."),
            findings=[EFFUSION],
            processing_ms=1000,
            signed_by=reader,
            sign_after_draft_s=3600,
            signed_text=("Small right pleural effusion.", "Right pleural effusion."),
            char_distance=0.15,
            word_distance=0.2,
            signed_labels=["Pleural Effusion"],
        ),
        "B": Case(
            received=at(0, 9),
            draft_after_s=120,
            draft_text=("There is a right pneumothorax. The heart is enlarged.", "Cardiomegaly."),
            findings=[CARDIOMEGALY],
            processing_ms=3000,
            rejected_by=attending,
            signed_by=attending,
            sign_after_draft_s=7200,
            signed_text=("Right apical pneumothorax.", "Pneumothorax."),
            char_distance=0.85,
            word_distance=1.0,
            signed_labels=["Pneumothorax"],
        ),
        "C": Case(
            received=at(1, 10),
            modality="DX",
            stat=True,
            draft_after_s=30,
            draft_text=("Large left pneumothorax.", "Pneumothorax."),
            findings=[PNEUMOTHORAX],
            processing_ms=40000,
        ),
        "D": Case(received=at(1, 11)),
        "E": Case(
            received=at(1, 12),
            draft_after_s=90,
            draft_text=("The heart is enlarged. The lungs are clear.", "Cardiomegaly."),
            findings=[CARDIOMEGALY],
            processing_ms=2000,
            signed_by=reader,
            sign_after_draft_s=600,
            signed_text=("Heart size normal. A 1 cm nodule in the right upper lobe.", "Nodule."),
            char_distance=0.35,
            word_distance=0.4,
            signed_labels=["Lung Lesion"],
            findings_removed=["Cardiomegaly"],
        ),
        "F": Case(
            received=at(-10, 9),
            draft_after_s=60,
            draft_text=("The heart is enlarged.", "Cardiomegaly."),
            findings=[CARDIOMEGALY],
        ),
    }
    for case in cases.values():
        build(case)
    return cases
