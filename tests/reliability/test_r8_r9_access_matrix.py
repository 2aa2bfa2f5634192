"""R8/R9: every URL in the URLconf (walked from the resolver, so new routes are covered the
day they are added) x every kind of user x a granted and a foreign object x the methods the
route serves. 0 leaks of PHI to anyone not entitled, 0 server errors, CSRF on every unsafe
route, a Content-Security-Policy on every page, login lock-out and its cool-off.

Policy (written here, not derived from the code): radiologists and administrators may see
every study; a clinician only the study granted to them; managers, users without a role and
anonymous callers no PHI at all; only administrators reach the admin site.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services as report_services
from tests.conftest import PASSWORD
from tests.factories import cr_dataset, write
from tests.reports.factories import draft_make, report_of
from workstation.studies.models import Instance, StudyAccess

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

USERS = ("anonymous", "outsider", "manager", "clinician", "reader", "administrator")
SEES_EVERYTHING = {"reader", "administrator"}
UNSAFE = ("post", "put", "patch", "delete")
# Marker strings planted as PHI: each object's patient name and ID.
MARKERS = {
    "granted": ("Granted^Sentinel", "MRN-GRANT-71"),
    "foreign": ("Foreign^Sentinel", "MRN-FOREIGN-72"),
}


@dataclass(frozen=True)
class Route:
    pattern: str  # e.g. "api/v1/reports/<int:report_id>"
    callback: Any

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.pattern)

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    def methods(self) -> tuple[str, ...]:
        """GET plus the unsafe methods the view serves (all of them when unknown)."""
        view = getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)
        if view is None or self.is_admin:
            return ("get", "post")
        return ("get", *(m for m in UNSAFE if hasattr(view, m)))


def routes() -> list[Route]:
    """Every URL pattern the resolver knows, with its full path pattern."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield Route(prefix + str(entry.pattern), entry.callback)

    return list(walk(get_resolver().url_patterns, ""))


@dataclass(frozen=True)
class Planted:
    study_uid: str
    series_uid: str
    sop_uid: str
    report_id: int
    patient_pk: int


def _plant(name: str, patient_id: str, reader: Any, storage_dir: Path) -> Planted:
    from workstation.dicom.part10 import encode_preamble_and_meta, split_part10
    from workstation.studies.services import instance_ingest

    ds = cr_dataset(patient_id=patient_id, PatientName=name)
    data = write(ds, storage_dir.parent / f"{patient_id}.dcm").read_bytes()
    part10 = split_part10(data)
    instance_ingest(
        dataset=ds,
        dataset_bytes=part10.dataset_bytes,
        preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
        transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
        affected_sop_class_uid=str(ds.SOPClassUID),
        affected_sop_uid=str(ds.SOPInstanceUID),
        source="TEST",
        storage_dir=storage_dir,
    )
    instance = Instance.objects.select_related("series__study").get(sop_uid=ds.SOPInstanceUID)
    report = report_of(draft_make(study=instance.series.study))
    report_services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=0)
    return Planted(
        study_uid=instance.series.study.study_uid,
        series_uid=instance.series.series_uid,
        sop_uid=instance.sop_uid,
        report_id=report.pk,
        patient_pk=instance.series.study.patient_id,
    )


@pytest.fixture
def planted(
    reader: Any, clinician: Any, manager: Any, outsider: Any, administrator: Any, storage_dir: Path
) -> dict[str, Planted]:
    objects = {key: _plant(*MARKERS[key], reader, storage_dir) for key in MARKERS}
    StudyAccess.objects.create(study_id=_study_pk(objects["granted"]), user=clinician)
    return objects


def _study_pk(obj: Planted) -> int:
    from workstation.studies.models import Study

    return Study.objects.get(study_uid=obj.study_uid).pk


def _fill(route: Route, obj: Planted) -> str:
    values = {
        "study_uid": obj.study_uid,
        "series_uid": obj.series_uid,
        "sop_uid": obj.sop_uid,
        "report_id": str(obj.report_id),
        "object_id": str(obj.report_id),
        "frames": "1",
        "name": "pleural_effusion.png",
    }
    path = route.pattern
    for param in route.params:
        path = re.sub(rf"<(?:\w+:)?{param}>", values.get(param, "1"), path, count=1)
    path = path.replace("^", "").replace("$", "")
    return "/" + path


def _client(request: pytest.FixtureRequest, user: str) -> APIClient:
    client = APIClient()
    if user != "anonymous":
        client.force_login(request.getfixturevalue(user))
    return client


def _entitled(user: str, key: str, route: Route) -> bool:
    if route.is_admin:
        return user == "administrator"
    return user in SEES_EVERYTHING or (user == "clinician" and key == "granted")


def test_the_matrix_covers_every_route_of_the_urlconf() -> None:
    found = routes()
    patterns = {r.pattern for r in found}
    assert len(found) >= 60
    # Spot checks that the walk reaches nested includes (admin, the API, DICOMweb).
    assert "api/v1/reports/<int:report_id>" in patterns
    assert any(p.startswith("admin/") for p in patterns)


@pytest.mark.parametrize("user", USERS)
def test_no_route_leaks_phi_or_fails_for_any_user_object_and_method(
    request: pytest.FixtureRequest, planted: dict[str, Planted], user: str
) -> None:
    client = _client(request, user)
    leaks, errors, cells = [], [], 0
    for route in routes():
        keys = ("granted", "foreign") if route.params else ("foreign",)
        for key in keys:
            path = _fill(route, planted[key])
            for method in route.methods():
                with transaction.atomic():  # each call in a savepoint: none changes the next
                    response = getattr(client, method)(path, {}, format="json")
                    transaction.set_rollback(True)
                cells += 1
                body = b"" if getattr(response, "streaming", False) else response.content
                if response.status_code == 500:  # 503 is a deliberate "not ready" answer
                    errors.append(f"{method.upper()} {path}: {response.status_code}")
                for other in MARKERS:
                    if other == key or not route.params:
                        allowed = _entitled(user, other, route)
                    else:
                        allowed = _entitled(user, other, route) and other == key
                    if not allowed and any(m.encode() in body for m in MARKERS[other]):
                        leaks.append(
                            f"{method.upper()} {path}: {other} PHI ({response.status_code})"
                        )

    print(f"\nR8 {user}: {cells} requests, {len(leaks)} leaks, {len(errors)} server errors")
    assert errors == []
    assert leaks == []


def test_every_unsafe_route_refuses_a_session_without_a_csrf_token(
    administrator: Any, planted: dict[str, Planted]
) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(administrator)
    accepted, checked = [], 0
    for route in routes():
        path = _fill(route, planted["granted"])
        for method in route.methods():
            if method == "get":
                continue
            with transaction.atomic():
                response = getattr(client, method)(path, {}, format="json")
                transaction.set_rollback(True)
            checked += 1
            if response.status_code != 403:
                accepted.append(f"{method.upper()} {path}: {response.status_code}")

    print(f"\nR9 CSRF: {checked} unsafe requests without a token, {len(accepted)} not refused")
    assert accepted == []


def test_every_page_and_api_answer_carries_a_content_security_policy(
    reader: Any, planted: dict[str, Planted]
) -> None:
    client = Client()
    client.force_login(reader)
    paths = [
        "/",
        "/accounts/login/",
        f"/studies/{planted['granted'].study_uid}/",
        "/api/v1/studies",
    ]
    headers = {path: client.get(path).headers.get("Content-Security-Policy", "") for path in paths}

    assert all("default-src 'self'" in h for h in headers.values()), headers
    assert all(
        "script-src 'self'" in h and "unsafe-inline" not in h.split("script-src")[1].split(";")[0]
        for h in headers.values()
    ), headers
    assert all("frame-ancestors 'none'" in h for h in headers.values()), headers


def test_login_locks_after_five_failures_and_unlocks_after_the_cool_off(
    reader: Any, settings: Any
) -> None:
    from axes.models import AccessAttempt

    client = Client(REMOTE_ADDR="10.20.30.40")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "reader", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "reader", "password": PASSWORD})
    # The cool-off passes: age the attempts instead of sleeping 15 minutes.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )
    unlocked = client.post("/accounts/login/", {"username": "reader", "password": PASSWORD})

    assert settings.AXES_FAILURE_LIMIT == 5
    assert locked.status_code == 429
    assert unlocked.status_code == 302 and "_auth_user_id" in client.session


def test_script_in_dicom_tags_and_report_text_renders_inert_on_every_page(
    reader: Any, clinician: Any, storage_dir: Path
) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    obj = _plant(payload, "MRN-XSS-1", reader, storage_dir)
    StudyAccess.objects.create(study_id=_study_pk(obj), user=clinician)
    pages = []
    for user, paths in (
        (reader, ["/", "/worklist/rows", f"/studies/{obj.study_uid}/"]),
        (clinician, ["/clinician/", f"/clinician/studies/{obj.study_uid}/"]),
    ):
        client = Client()
        client.force_login(user)
        pages += [(path, client.get(path)) for path in paths]

    shown = [path for path, r in pages if b"&lt;script&gt;" in r.content]
    raw = [
        path for path, r in pages if payload.encode() in r.content or b"<script>alert" in r.content
    ]
    assert raw == []
    assert shown  # the name is on at least one page, escaped
