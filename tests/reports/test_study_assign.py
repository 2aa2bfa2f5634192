"""reports.services.assignment.study_assign and /api/v1/studies/{uid}/assignment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from rest_framework.test import APIClient

from reports.errors import InvalidContent, NotAllowed
from reports.models import Assignment
from reports.services.assignment import study_assign
from tests.reports.factories import study_make
from workstation.audit.models import AuditEvent
from workstation.notify import WORKLIST_GROUP

pytestmark = pytest.mark.django_db


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_assigns_and_reassigns_one_radiologist(reader: Any, attending: Any) -> None:
    study = study_make()

    study_assign(study=study, assignee=reader, by=attending)
    study_assign(study=study, assignee=attending, by=attending)

    assignment = Assignment.objects.get(study=study)
    assert assignment.assignee == attending
    assert AuditEvent.objects.filter(object_type="study_assignment").count() == 2


def test_it_refuses_to_assign_to_someone_who_cannot_report(reader: Any, clinician: Any) -> None:
    with pytest.raises(InvalidContent):
        study_assign(study=study_make(), assignee=clinician, by=reader)


def test_only_radiologists_assign(clinician: Any, reader: Any) -> None:
    with pytest.raises(NotAllowed):
        study_assign(study=study_make(), assignee=reader, by=clinician)


def test_the_api_assigns_by_username_and_unassigns_with_null(reader: Any, attending: Any) -> None:
    study = study_make()
    url = f"/api/v1/studies/{study.study_uid}/assignment"

    assigned = _api(reader).post(url, {"assignee": "attending"}, format="json")
    shown = _api(attending).get(url)
    removed = _api(reader).post(url, {"assignee": None}, format="json")

    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == "attending"
    assert shown.json()["assigned_by"] == "reader"
    assert removed.json() == {"study_uid": study.study_uid, "assignee": None}
    assert not Assignment.objects.filter(study=study).exists()


def test_the_api_names_an_unknown_or_unsuitable_assignee(reader: Any, clinician: Any) -> None:
    study = study_make()
    url = f"/api/v1/studies/{study.study_uid}/assignment"

    unknown = _api(reader).post(url, {"assignee": "nobody"}, format="json")
    unsuitable = _api(reader).post(url, {"assignee": "clinician"}, format="json")

    assert unknown.status_code == 400 and "nobody" in str(unknown.json())
    assert unsuitable.status_code == 400 and "not a radiologist" in unsuitable.json()["detail"]


def test_the_api_refuses_other_roles_and_unknown_studies(clinician: Any, reader: Any) -> None:
    study = study_make()

    refused = _api(clinician).post(
        f"/api/v1/studies/{study.study_uid}/assignment", {"assignee": "reader"}, format="json"
    )
    missing = _api(reader).get("/api/v1/studies/9.9.9/assignment")

    assert refused.status_code == 403
    assert missing.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_open_worklists_hear_of_an_assignment(reader: Any, attending: Any) -> None:
    study = study_make()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(WORKLIST_GROUP, channel)
    try:
        study_assign(study=study, assignee=attending, by=reader)
        message = async_to_sync(_receive)(layer, channel)
    finally:
        async_to_sync(layer.group_discard)(WORKLIST_GROUP, channel)

    assert message["event"] == "assigned"
    assert message["study_uid"] == study.study_uid


async def _receive(layer: Any, channel: str) -> dict[str, Any]:
    return dict(await asyncio.wait_for(layer.receive(channel), timeout=10))
