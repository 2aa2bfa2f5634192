"""``POST /api/v1/fhir/``: FHIR R4 clinical context (a resource or a Bundle) into the
workstation. 200 with a transaction-response Bundle (for a transaction or batch) or an
OperationOutcome; 400 with an OperationOutcome naming the bad part, and nothing stored."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.clinical.fhir import fhir_parse
from workstation.clinical.intake import IntakeError
from workstation.clinical.models import ValueSource
from workstation.clinical.selectors import identifier_systems_get
from workstation.clinical.services import clinical_values_record

FHIR_JSON = "application/fhir+json"


class FhirJsonParser(JSONParser):
    media_type = FHIR_JSON


def _outcome(severity: str, code: str, text: str, where: str = "") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if where:
        issue["expression"] = [where]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class FhirIntakeApi(APIView):
    parser_classes = [FhirJsonParser, JSONParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request) -> Response:
        """Store Patient / ServiceRequest / Condition / Observation resources (all or none)."""
        if not request.user.has_perm("studies.change_study"):
            raise PermissionDenied("your role does not allow sending clinical data")
        try:
            intake = fhir_parse(request.data, systems=identifier_systems_get())
        except IntakeError as exc:
            return Response(
                _outcome("error", "invalid", str(exc), exc.where),
                status=400,
                content_type=FHIR_JSON,
            )
        try:
            stored = clinical_values_record(
                values=intake.values,
                source=ValueSource.FHIR,
                patients=intake.patients,
                entered_by=request.user,
            )
        except DatabaseError:
            return Response(
                _outcome("fatal", "transient", "database unavailable; nothing stored"),
                status=503,
                content_type=FHIR_JSON,
            )
        audit_record(
            action=AuditAction.EDIT,
            user=request.user,
            object_type="clinical_values",
            object_id=",".join(
                sorted(
                    {p.patient_id for p in intake.patients}
                    | {v.patient.patient_id for v in intake.values}
                )
            )[:128],
            detail=f"FHIR {intake.bundle_type or 'resource'}: {len(stored)} value(s)",
        )
        summary = "; ".join(intake.outcomes)
        if intake.bundle_type in ("transaction", "batch"):
            body: dict[str, Any] = {
                "resourceType": "Bundle",
                "type": f"{intake.bundle_type}-response",
                "entry": [
                    {
                        "response": {
                            "status": "200 OK",
                            "outcome": _outcome("information", "informational", line),
                        }
                    }
                    for line in intake.outcomes
                ],
            }
        else:
            body = _outcome(
                "information", "informational", f"{len(stored)} value(s) stored. {summary}"
            )
        return Response(body, status=200, content_type=FHIR_JSON)
