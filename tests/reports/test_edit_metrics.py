"""reports.metrics.edit_metrics_compute and the metrics stored at signing."""

from __future__ import annotations

import pytest

from inference.labels import Label
from reports import services
from reports.content import FindingVerdict, Sections
from reports.metrics import edit_metrics_compute
from reports.models import Decision, ReportMetrics
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of


def test_it_gives_zero_distance_for_an_unchanged_text_up_to_whitespace() -> None:
    metrics = edit_metrics_compute(
        draft_text="No pneumothorax.\n\nHeart  normal.",
        signed_text="No pneumothorax. Heart normal.",
        decisions=[],
    )

    assert (metrics.char_distance, metrics.word_distance) == (0.0, 0.0)


def test_it_measures_characters_and_words_separately() -> None:
    metrics = edit_metrics_compute(
        draft_text="Small left effusion.", signed_text="Small right effusion.", decisions=[]
    )

    # 4 character edits over 21 characters; 1 of 4 word tokens ("Small", side, "effusion", ".")
    assert metrics.char_distance == pytest.approx(4 / 21, abs=1e-6)
    assert metrics.word_distance == pytest.approx(1 / 4)


def test_it_lists_findings_added_and_removed_by_the_radiologist() -> None:
    metrics = edit_metrics_compute(
        draft_text="Small right pleural effusion. No pneumothorax.",
        signed_text="Right apical pneumothorax. No pleural effusion.",
        decisions=[
            FindingVerdict(Label.PLEURAL_EFFUSION, Decision.REJECTED),
            FindingVerdict(Label.PNEUMOTHORAX, Decision.ADDED),
            FindingVerdict(Label.CARDIOMEGALY, Decision.PROPOSED),
        ],
    )

    assert metrics.findings_added == (Label.PNEUMOTHORAX,)
    assert metrics.findings_removed == (Label.PLEURAL_EFFUSION,)
    assert (metrics.rejected, metrics.added, metrics.unreviewed) == (1, 1, 1)


@pytest.mark.django_db
def test_signing_stores_the_metrics_per_report(reader: object) -> None:
    report = report_of(draft_make())

    services.report_sign(
        report=report,
        user=reader,  # type: ignore[arg-type]
        password=PASSWORD,
        based_on_version=0,
        sections=Sections("Small right pleural effusion. Cardiomegaly.", "Effusion."),
        decisions=[
            FindingVerdict(Label.PLEURAL_EFFUSION, Decision.ACCEPTED),
            FindingVerdict(Label.CARDIOMEGALY, Decision.EDITED, "Cardiomegaly."),
        ],
    )

    stored = ReportMetrics.objects.get(report=report)
    assert 0 < stored.char_distance < 1 and 0 < stored.word_distance < 1
    assert stored.findings_added == [Label.CARDIOMEGALY]
    assert (stored.accepted, stored.edited, stored.label_source) == (1, 1, "labeller")
