"""Thin REST views: questions about a study, and critical-result acknowledgement and listing.

- ``POST /api/v1/studies/{uid}/questions`` ``{question}``: 201 with the answer and its
  evidence; ``GET``: the study's past questions, newest first.
- ``POST /api/v1/critical-results/{id}/acknowledge``: the recipient acknowledges (409 twice).
- ``GET /api/v1/critical-results``: unacknowledged ones with their age (managers, radiologists
  and admins: all; clinicians: their own).

Roles without access get 403; studies and results outside the user's scope 404 (audited).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.vqa import MAX_QUESTION_CHARS
from workstation.accounts.roles import Role, user_roles
from workstation.audit.middleware import denial_mark_recorded
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record
from workstation.consult import selectors, services
from workstation.consult.models import CriticalResult, Question
from workstation.studies.models import Study

CONSULT_ROLES = frozenset({Role.RADIOLOGIST, Role.CLINICIAN, Role.ADMIN})
OVERSIGHT_ROLES = frozenset({Role.MANAGER, Role.RADIOLOGIST, Role.ADMIN})
ACKNOWLEDGING_ROLES = frozenset({Role.CLINICIAN, Role.RADIOLOGIST, Role.ADMIN})


class QuestionInputSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(
        max_length=MAX_QUESTION_CHARS,
        error_messages={
            "blank": "Ask a question: it is empty.",
            "required": "A question is required.",
            "max_length": f"The question is longer than {MAX_QUESTION_CHARS} characters.",
        },
    )


def question_body(question: Question) -> dict[str, Any]:
    return {
        "id": question.pk,
        "study_uid": question.study.study_uid,
        "asked_by": question.asked_by.get_username(),
        "asked_at": question.asked_at.isoformat(),
        **question.payload,
    }


def _denied(request: Request, detail: str, study_uid: str = "") -> None:
    audit_record(
        action=AuditAction.DENIED,
        user=request.user,
        outcome=AuditOutcome.DENIED,
        object_type="question",
        study_uid=study_uid[:64],
        detail=f"{request.method} {request.path}: {detail}",
    )
    denial_mark_recorded(request)


def _bad_question(message: str) -> Response:
    message = message or "Send a JSON object with a question."
    return Response(
        {"detail": message, "errors": {"question": [message]}},
        status=status.HTTP_400_BAD_REQUEST,
    )


class StudyQuestionsApi(APIView):
    def _study(self, request: Request, study_uid: str) -> Study:
        if not user_roles(request.user) & CONSULT_ROLES:
            raise PermissionDenied("your role does not allow asking about studies")
        study = selectors.study_for_consult(user=request.user, study_uid=study_uid)
        if study is None:
            _denied(request, "unknown or outside the user's scope", study_uid)
            raise NotFound(f"no study {study_uid[:64]!r}")
        return study

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, study_uid: str) -> Response:
        study = self._study(request, study_uid)
        questions = selectors.questions_of_study(study=study, user=request.user)
        audit_record(
            action=AuditAction.VIEW,
            user=request.user,
            object_type="questions",
            object_id=study.study_uid,
            study_uid=study.study_uid,
        )
        return Response({"questions": [question_body(q) for q in questions]})

    @extend_schema(request=QuestionInputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_uid: str) -> Response:
        study = self._study(request, study_uid)
        data = QuestionInputSerializer(data=request.data)
        if not data.is_valid():
            return _bad_question(" ".join(str(m) for m in data.errors.get("question", [])))
        try:
            stored = services.question_ask(
                study=study,
                user=request.user,  # type: ignore[arg-type]
                question=data.validated_data["question"],
            )
        except ValueError as exc:  # blank once whitespace is collapsed
            return _bad_question(f"{str(exc).capitalize()}.")
        return Response(question_body(stored), status=status.HTTP_201_CREATED)


def critical_result_body(result: CriticalResult, now: Any) -> dict[str, Any]:
    signer = result.report.signed_by
    return {
        "id": result.pk,
        "report_id": result.report_id,
        "study_uid": result.study.study_uid,
        "labels": result.labels,
        "recipient": result.recipient.get_username() if result.recipient else None,
        "signed_by": signer.get_username() if signer else None,
        "created_at": result.created_at.isoformat(),
        "age_seconds": selectors.critical_result_age_seconds(result, now),
        "acknowledged_at": result.acknowledged_at.isoformat() if result.acknowledged_at else None,
        "acknowledged_by": (
            result.acknowledged_by.get_username() if result.acknowledged_by else None
        ),
    }


class CriticalResultListApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """Unacknowledged critical results, oldest first, with their age in seconds."""
        roles = user_roles(request.user)
        if roles & OVERSIGHT_ROLES:
            results = selectors.critical_results_open()
        elif Role.CLINICIAN in roles:
            results = selectors.critical_results_open(recipient=request.user)
        else:
            raise PermissionDenied("your role does not allow this")
        now = timezone.now()
        return Response({"results": [critical_result_body(r, now) for r in results]})


class CriticalResultAcknowledgeApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request, result_id: int) -> Response:
        """The recipient acknowledges the critical result (who and when are recorded); a
        radiologist or admin acknowledges one that had no recipient."""
        if not user_roles(request.user) & ACKNOWLEDGING_ROLES:
            raise PermissionDenied("your role does not acknowledge critical results")
        result = selectors.critical_result_for_acknowledgement(
            user=request.user, result_id=result_id
        )
        if result is None:
            _denied(request, f"critical result {result_id} is not addressed to the user")
            raise NotFound(f"no critical result {result_id}")
        try:
            result = services.critical_result_acknowledge(
                result=result,
                user=request.user,  # type: ignore[arg-type]
            )
        except services.AlreadyAcknowledged as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(critical_result_body(result, timezone.now()))
