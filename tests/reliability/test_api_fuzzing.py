"""API fuzzing: schemathesis generates requests from the project's own OpenAPI schema
(/api/schema/) for every operation, valid and invalid ones, sent as signed-in users of each
role through the Django test client. A bounded number of examples per operation; the pass
figure is 0 server errors (500)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from tests.reports.factories import draft_make, report_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES = 8  # per operation, per generation mode
ROLES = ("reader", "clinician", "administrator")


@schemathesis.serializer("application/dicom")
def _dicom_bytes(ctx: Any, value: Any) -> bytes:
    """Generated bodies for the upload endpoint go out as the bytes they are."""
    return value if isinstance(value, bytes) else str(value).encode()


def _schema(client: APIClient) -> Any:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json())


def _call(client: APIClient, case: Any) -> int:
    path, method = case.formatted_path, case.method.lower()
    body = case.body if isinstance(case.body, bytes | str | dict | list | int | float) else None
    media = case.media_type or "application/json"
    with transaction.atomic():  # in a savepoint: one generated call cannot change the next
        if method == "get":
            response = client.get(path, case.query or {})
        elif isinstance(body, bytes | str) and media != "application/json":
            data = body if isinstance(body, bytes) else body.encode()
            response = getattr(client, method)(path, data, content_type=media)
        elif isinstance(body, bytes):
            response = getattr(client, method)(path, body, content_type=media)
        else:
            response = getattr(client, method)(path, body, format="json")
        transaction.set_rollback(True)
    return int(response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_generated_requests_never_get_a_server_error(
    request: pytest.FixtureRequest, role: str, storage_dir: Any
) -> None:
    user = request.getfixturevalue(role)
    report_of(draft_make())  # something for the generated identifiers to hit sometimes
    client = APIClient()
    client.force_authenticate(user)
    schema = _schema(client)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    sent = unsatisfiable = 0

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                nonlocal sent
                sent += 1
                code = _call(client, case)
                if code == 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query} -> 500")

            try:
                run()
            except Unsatisfiable:  # e.g. no invalid request exists for a parameterless GET
                unsatisfiable += 1

    print(
        f"\nAPI fuzz as {role}: {len(operations)} operations, {sent} requests, "
        f"{len(failures)} server errors"
    )
    assert len(operations) >= 20
    assert failures == []
