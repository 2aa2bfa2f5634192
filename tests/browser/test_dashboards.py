"""The dashboards in headless Chromium: a manager signs in, opens the department and model
dashboards over a known history and finds the figures, the charts and the red alerts.
Screenshots go to var/test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, AsgiServer
from tests.conftest import PASSWORD
from tests.workstation.dashboards.history import Case
from tests.workstation.dashboards.known import known_history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RANGE = "since=2026-03-02&until=2026-03-03"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _cells(page: Any, table: str) -> list[str]:
    return page.locator(f"#table-{table} tbody td").all_inner_texts()


@pytest.fixture
def department(reader: Any, attending: Any, settings: Any) -> dict[str, Case]:
    """The known history of the dashboard tests (tests/workstation/dashboards/known.py)."""
    settings.DASHBOARD_CACHE_SECONDS = 0
    return known_history(reader, attending)


def test_a_manager_reads_both_dashboards(
    department: Any, manager: Any, asgi_server: AsgiServer, browser_page: Any
) -> None:
    page = browser_page
    base = asgi_server.url
    page.goto(f"{base}/accounts/login/?next=/dashboards/manager/%3F{RANGE.replace('&', '%26')}")
    page.fill("#id_username", "manager")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#table-turnaround")

    turnaround = _cells(page, "turnaround")
    assert "2026-03-02" in turnaround and "5490" in turnaround and "7137" in turnaround
    quality = _cells(page, "quality")
    assert "0.5" in quality  # day 1: one of two drafts rejected
    assert _cells(page, "radiologist_volume")[:2] == ["reader", "2"]
    urgent = _cells(page, "urgent")
    assert urgent[:4] == ["stat", "1", "0", "1"]
    chart = page.locator("#table-edit_distance_histogram img.dash-chart")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
    )
    _shot(page, "dashboards-01-department")

    page.click("nav.dash-tabs >> text=Model")
    page.wait_for_selector("#table-latency")
    page.goto(f"{base}/dashboards/model/?{RANGE}")
    alerts = page.locator("li.alert-state[data-alert]")
    assert alerts.count() == 3
    for i in range(3):
        item = alerts.nth(i)
        assert item.get_attribute("data-state") == "alert"
        colour = item.evaluate("el => getComputedStyle(el).backgroundColor")
        assert colour == "rgb(139, 28, 28)"  # red
    assert "P99 38890 ms" in page.locator("#live").inner_text()
    assert "not for clinical use" in page.inner_text("main")
    sensitivity = _cells(page, "critical_sensitivity")
    assert sensitivity[:4] == ["(all critical)", "3", "1", "0.3333"]
    _shot(page, "dashboards-02-model")

    page.goto(f"{base}/dashboards/ab/")
    page.wait_for_selector("text=No experiment yet.")
    _shot(page, "dashboards-03-ab-empty")
