"""Thin REST views over reports: parse, check access, call one service, shape the output.

Refusals from the services (``ReportError``) become their HTTP status with a ``detail``
message and an audit row; objects outside the user's scope answer 404 and are audited as
denials.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.labels import Label
from reports import selectors, services
from reports.access import Access, ReportAction, report_access, report_role_allows
from reports.content import FindingVerdict, Sections
from reports.errors import ReportClaimed, ReportError, StaleVersion
from reports.models import Decision, Report
from workstation.audit.middleware import denial_mark_recorded
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record


def _audit_refusal(request: Request, report: Report | None, detail: str, outcome: str) -> None:
    audit_record(
        action=AuditAction.DENIED,
        user=request.user,
        outcome=AuditOutcome(outcome),
        object_type="report",
        object_id=str(report.pk) if report else "",
        study_uid=report.study.study_uid if report else "",
        report_id=report.pk if report else None,
        detail=f"{request.method} {request.path}: {detail}"[:2000],
    )
    denial_mark_recorded(request)


class ReportApiBase(APIView):
    """Looks the report up under the access policy; maps ``ReportError`` to responses."""

    report_action = ReportAction.VIEW

    def report(self, request: Request, report_id: int) -> Report:
        if not report_role_allows(user=request.user, action=self.report_action):
            raise PermissionDenied("your role does not allow this")
        try:
            report = selectors.report_get(report_id=report_id)
        except Report.DoesNotExist:
            raise NotFound(f"no report {report_id}") from None
        access = report_access(user=request.user, report=report, action=self.report_action)
        if access is Access.HIDDEN:
            _audit_refusal(request, report, "outside the user's scope", AuditOutcome.DENIED)
            raise NotFound(f"no report {report_id}")
        if access is Access.FORBIDDEN:
            _audit_refusal(request, report, "role does not allow it", AuditOutcome.DENIED)
            raise PermissionDenied("your role does not allow this")
        self.current_report = report
        return report

    def handle_exception(self, exc: Exception) -> Response:
        if not isinstance(exc, ReportError):
            return super().handle_exception(exc)
        report = getattr(self, "current_report", None)
        if not exc.audited:
            outcome = AuditOutcome.DENIED if exc.http_status in (403, 423) else AuditOutcome.FAILURE
            _audit_refusal(self.request, report, exc.message, outcome)
        denial_mark_recorded(self.request)
        body: dict[str, Any] = {"detail": exc.message}
        if isinstance(exc, StaleVersion):
            body.update(
                latest_version=exc.latest_number,
                latest_author=exc.author,
                latest_saved_at=exc.created_at,
            )
        if isinstance(exc, ReportClaimed):
            body.update(claimed_by=exc.holder, claim_expires_at=exc.expires_at)
        return Response(body, status=exc.http_status)


# --- Output -------------------------------------------------------------------------------
class DecisionOutputSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # shadows Field.label in stubs
    decision = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    text = serializers.CharField()


class VersionOutputSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    kind = serializers.CharField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    findings = serializers.CharField()
    impression = serializers.CharField()
    recommendations = serializers.CharField()
    addendum = serializers.CharField()
    model_version = serializers.CharField()
    content_sha256 = serializers.CharField()
    decisions = DecisionOutputSerializer(many=True, source="decisions.all")

    def get_author(self, version: Any) -> str | None:
        return version.author.get_username() if version.author else None


class VersionSummarySerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    kind = serializers.CharField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_author(self, version: Any) -> str | None:
        return version.author.get_username() if version.author else None


class ClaimOutputSerializer(serializers.Serializer[Any]):
    holder = serializers.CharField()
    expires_at = serializers.DateTimeField()


class MetricsOutputSerializer(serializers.Serializer[Any]):
    char_distance = serializers.FloatField()
    word_distance = serializers.FloatField()
    findings_added = serializers.ListField(child=serializers.CharField())
    findings_removed = serializers.ListField(child=serializers.CharField())
    accepted = serializers.IntegerField()
    edited = serializers.IntegerField()
    rejected = serializers.IntegerField()
    added = serializers.IntegerField()
    unreviewed = serializers.IntegerField()


class ReportOutputSerializer(serializers.Serializer[Any]):
    report_id = serializers.IntegerField(source="report.pk")
    study_uid = serializers.CharField(source="report.study.study_uid")
    status = serializers.CharField(source="report.status")
    head_version = serializers.IntegerField(source="report.head_number", allow_null=True)
    ai_draft_rejected = serializers.BooleanField(source="report.ai_draft_rejected")
    signed_by = serializers.SerializerMethodField()
    signed_at = serializers.DateTimeField(source="report.signed_at", allow_null=True)
    signed_version = serializers.IntegerField(source="report.signed_number", allow_null=True)
    claim = ClaimOutputSerializer(allow_null=True)
    current = VersionOutputSerializer(allow_null=True)
    addenda = VersionOutputSerializer(many=True)
    versions = VersionSummarySerializer(many=True)
    metrics = MetricsOutputSerializer(allow_null=True)

    def get_signed_by(self, detail: selectors.ReportDetail) -> str | None:
        signer = detail.report.signed_by
        return signer.get_username() if signer else None


def _detail(request: Request, report: Report) -> dict[str, Any]:
    """The report as the user may see it, read afresh (a service just changed it)."""
    report = selectors.report_get(report_id=report.pk)
    full = report_role_allows(user=request.user, action=ReportAction.EDIT)
    detail = selectors.report_detail(report=report, full_history=full)
    return dict(ReportOutputSerializer(detail).data)


# --- Input --------------------------------------------------------------------------------
class DecisionInputSerializer(serializers.Serializer[Any]):
    # A field named "label" shadows Field.label in the stubs, not at run time.
    label = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[label.value for label in Label]
    )
    decision = serializers.ChoiceField(
        choices=[d.value for d in Decision if d is not Decision.PROPOSED]
    )
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SectionsInputSerializer(serializers.Serializer[Any]):
    based_on_version = serializers.IntegerField(min_value=0, allow_null=True)
    findings = serializers.CharField(allow_blank=True, max_length=20000)
    impression = serializers.CharField(allow_blank=True, max_length=20000)
    recommendations = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=20000
    )
    decisions = DecisionInputSerializer(many=True, required=False, default=list)


class SignInputSerializer(serializers.Serializer[Any]):
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    based_on_version = serializers.IntegerField(min_value=0, allow_null=True)
    findings = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    impression = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    recommendations = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    decisions = DecisionInputSerializer(many=True, required=False, default=list)


class AddendumInputSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=20000)
    is_correction = serializers.BooleanField(required=False, default=False)


class RejectDraftInputSerializer(serializers.Serializer[Any]):
    based_on_version = serializers.IntegerField(min_value=0, allow_null=True)
    reason = serializers.CharField(allow_blank=True, required=False, default="", max_length=500)


def _verdicts(items: list[dict[str, Any]]) -> list[FindingVerdict]:
    return [
        FindingVerdict(label=Label(i["label"]), decision=Decision(i["decision"]), text=i["text"])
        for i in items
    ]


# --- Views --------------------------------------------------------------------------------
def _show(request: Request, report: Report) -> Response:
    body = _detail(request, report)
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="report",
        object_id=str(report.pk),
        study_uid=report.study.study_uid,
        report_id=report.pk,
    )
    return Response(body)


class ReportDetailApi(ReportApiBase):
    @extend_schema(responses=ReportOutputSerializer)
    def get(self, request: Request, report_id: int) -> Response:
        return _show(request, self.report(request, report_id))


class StudyReportRecordApi(ReportApiBase):
    @extend_schema(responses=ReportOutputSerializer)
    def get(self, request: Request, study_uid: str) -> Response:
        """The report of a study (404 when it has none, or it is outside the user's scope)."""
        if not report_role_allows(user=request.user, action=ReportAction.VIEW):
            raise PermissionDenied("your role does not allow this")
        try:
            report_id = selectors.report_for_study(study_uid=study_uid).pk
        except Report.DoesNotExist:
            raise NotFound(f"no report for study {study_uid[:64]!r}") from None
        return _show(request, self.report(request, report_id))


class ReportVersionCreateApi(ReportApiBase):
    report_action = ReportAction.EDIT

    @extend_schema(request=SectionsInputSerializer, responses={201: ReportOutputSerializer})
    def post(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        data = SectionsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.report_version_save(
            report=report,
            author=request.user,  # type: ignore[arg-type]
            based_on_version=values["based_on_version"],
            findings=values["findings"],
            impression=values["impression"],
            recommendations=values["recommendations"],
            decisions=_verdicts(values["decisions"]),
        )
        return Response(_detail(request, report), status=status.HTTP_201_CREATED)


class ReportClaimApi(ReportApiBase):
    report_action = ReportAction.EDIT

    @extend_schema(request=None, responses=ReportOutputSerializer)
    def post(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        services.report_claim(study=report.study, user=request.user)  # type: ignore[arg-type]
        return Response(_detail(request, report))

    @extend_schema(request=None, responses=ReportOutputSerializer)
    def delete(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        services.report_claim_release(report=report, user=request.user)  # type: ignore[arg-type]
        return Response(_detail(request, report))


class ReportSignApi(ReportApiBase):
    report_action = ReportAction.EDIT

    @extend_schema(request=SignInputSerializer, responses=ReportOutputSerializer)
    def post(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        data = SignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sections = None
        if "findings" in values or "impression" in values:
            sections = Sections(
                values.get("findings", ""),
                values.get("impression", ""),
                values.get("recommendations", ""),
            )
        services.report_sign(
            report=report,
            user=request.user,  # type: ignore[arg-type]
            password=values["password"],
            based_on_version=values["based_on_version"],
            sections=sections,
            decisions=_verdicts(values["decisions"]),
        )
        return Response(_detail(request, report))


class ReportAddendumApi(ReportApiBase):
    report_action = ReportAction.EDIT

    @extend_schema(request=AddendumInputSerializer, responses={201: ReportOutputSerializer})
    def post(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        data = AddendumInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.report_addendum_add(
            report=report,
            author=request.user,  # type: ignore[arg-type]
            text=data.validated_data["text"],
            is_correction=data.validated_data["is_correction"],
        )
        return Response(_detail(request, report), status=status.HTTP_201_CREATED)


class ReportRejectDraftApi(ReportApiBase):
    report_action = ReportAction.EDIT

    @extend_schema(request=RejectDraftInputSerializer, responses={201: ReportOutputSerializer})
    def post(self, request: Request, report_id: int) -> Response:
        report = self.report(request, report_id)
        data = RejectDraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.report_reject_draft(
            report=report,
            user=request.user,  # type: ignore[arg-type]
            based_on_version=data.validated_data["based_on_version"],
            reason=data.validated_data["reason"],
        )
        return Response(_detail(request, report), status=status.HTTP_201_CREATED)


class ReportFhirApi(ReportApiBase):
    report_action = ReportAction.EXPORT
    bundle = False

    @extend_schema(responses={(200, "application/fhir+json"): dict})
    def get(self, request: Request, report_id: int) -> Response:
        """The signed report as FHIR R4 (409 for a draft: drafts never leave)."""
        report = self.report(request, report_id)
        resource = services.report_fhir_export(
            report=report,
            user=request.user,  # type: ignore[arg-type]
            bundle=self.bundle,
        )
        return Response(resource, content_type="application/fhir+json")


class ReportFhirBundleApi(ReportFhirApi):
    bundle = True
