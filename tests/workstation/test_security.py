"""Login throttling, CSRF on unsafe API routes, escaped text, and ``check --deploy``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of, study_make
from workstation.audit.models import AuditAction, AuditEvent
from workstation.studies.models import ClinicalContext

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_it_locks_a_username_out_after_five_failed_logins(reader: object, settings: object) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5  # type: ignore[attr-defined]
    client = Client(REMOTE_ADDR="10.9.9.9")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "reader", "password": "guess"})

    locked = client.post("/accounts/login/", {"username": "reader", "password": PASSWORD})
    elsewhere = Client(REMOTE_ADDR="10.9.9.10").post(
        "/accounts/login/", {"username": "reader", "password": PASSWORD}
    )

    assert locked.status_code == 429  # refused although the password is right
    assert "_auth_user_id" not in client.session
    assert elsewhere.status_code == 302  # the lock is per username and address
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 6


@pytest.mark.django_db
def test_unsafe_api_calls_need_a_csrf_token_in_a_session(reader: object) -> None:
    report = report_of(draft_make())
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(reader)  # type: ignore[arg-type]  # a real session cookie, as a browser has
    body = {"based_on_version": 0, "findings": "a", "impression": "b"}

    without = client.post(f"/api/v1/reports/{report.pk}/versions", body, format="json")
    client.get("/accounts/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    with_token = client.post(
        f"/api/v1/reports/{report.pk}/versions", body, format="json", HTTP_X_CSRFTOKEN=token
    )

    assert without.status_code == 403 and "CSRF" in without.json()["detail"]
    assert with_token.status_code == 201


@pytest.mark.django_db
def test_script_in_text_fields_is_escaped_on_pages(reader: object, administrator: object) -> None:
    payload = "<script>alert(1)</script>"
    study = study_make(patient_name=payload)
    ClinicalContext.objects.create(study=study, indication=payload)
    version = draft_make(study=study, findings=payload)
    page_client = Client()
    page_client.force_login(reader)  # type: ignore[arg-type]
    admin_client = Client()
    admin_client.force_login(administrator)  # type: ignore[arg-type]

    home = page_client.get("/").content.decode()
    admin = admin_client.get(f"/admin/reports/reportversion/{version.pk}/change/").content.decode()

    for html in (home, admin):
        assert payload not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "workstation.settings.production",
        "SECRET_KEY": "k" * 20 + "-production-test-secret-key-0123456789-abcdefghij",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
