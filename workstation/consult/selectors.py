"""Read-only queries: which studies a user may consult, and a study's facts for VQA.

Who may ask: radiologists and administrators about any study; clinicians about the studies
they ordered or were assigned (``StudyAccess``) once the report is signed, since drafts do not
exist for them. Everything else is "no such study" (404), so a guessed UID tells nothing.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Q, QuerySet

from inference.labels import Label
from inference.types import Laterality, Severity
from inference.vqa import FindingRecord, StudyFacts
from inference.vqa.state import StudyReading
from inference.vqa.types import Presence
from reports.models import AiDraft, Report, ReportStatus, ReportVersion, VersionKind
from workstation.accounts.access import study_scope
from workstation.accounts.roles import Role, user_roles
from workstation.consult.models import CriticalResult, Question
from workstation.studies.models import Study

REPORT_PERMISSION = "studies.report_study"
SIGNED_STATES = (ReportStatus.SIGNED, ReportStatus.AMENDED)
AFTER_SIGNING = (VersionKind.ADDENDUM, VersionKind.CORRECTION)


def is_reporter(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.has_perm(REPORT_PERMISSION))


def consultable_studies(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """The studies ``user`` may ask about (see the module docstring)."""
    scoped = study_scope(user=user, queryset=Study.objects.all())
    if is_reporter(user):
        return scoped
    return scoped.filter(report__status__in=SIGNED_STATES)


def study_for_consult(*, user: User | AnonymousUser, study_uid: str) -> Study | None:
    return (
        consultable_studies(user=user).select_related("patient").filter(study_uid=study_uid).first()
    )


def _laterality(value: object) -> Laterality:
    try:
        return Laterality(str(value or ""))
    except ValueError:
        return Laterality.NONE


def _severity(value: object) -> Severity | None:
    try:
        return Severity(str(value)) if value else None
    except ValueError:
        return None


def _box(value: object) -> tuple[int, int, int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 4:
        x0, y0, x1, y1 = (int(v) for v in value)
        return (x0, y0, x1, y1)
    return None


def _records(
    report: Report, detail: AiDraft, decisions: dict[str, str]
) -> tuple[FindingRecord, ...]:
    records = []
    for item in detail.findings:
        try:
            label = Label(item["label"])
        except (KeyError, ValueError):
            continue
        heatmap = item.get("heatmap")
        records.append(
            FindingRecord(
                label=label,
                confidence=float(item.get("confidence") or 0.0),
                laterality=_laterality(item.get("laterality")),
                severity=_severity(item.get("severity")),
                box=_box(item.get("bounding_box")),
                heatmap=heatmap,
                heatmap_url=f"/api/v1/reports/{report.pk}/heatmaps/{heatmap}" if heatmap else None,
                is_critical=bool(item.get("is_critical")),
                decision=decisions.get(label.value),
            )
        )
    return tuple(records)


def _signed_text(report: Report, signed: ReportVersion) -> str:
    later = ReportVersion.objects.filter(
        report=report, number__gt=signed.number, kind__in=AFTER_SIGNING
    ).order_by("number")
    return "\n\n".join([signed.text, *(v.addendum for v in later if v.addendum)])


def study_facts(study: Study) -> StudyFacts:
    """What the study's report says: the AI findings with the decisions of the signed (else
    newest) version, and the signed text with its addenda once signed."""
    date = study.study_date.isoformat() if study.study_date else ""
    report = Report.objects.filter(study=study).first()
    if report is None or report.head_number is None:
        return StudyFacts(study_uid=study.study_uid, study_date=date)
    number = report.signed_number if report.signed_number is not None else report.head_number
    version = ReportVersion.objects.prefetch_related("decisions").get(report=report, number=number)
    decisions = {row.label: row.decision for row in version.decisions.all()}
    detail = AiDraft.objects.filter(version__report=report).first()
    return StudyFacts(
        study_uid=study.study_uid,
        study_date=date,
        findings=_records(report, detail, decisions) if detail else (),
        has_draft=detail is not None,
        signed_text=_signed_text(report, version) if report.is_signed else None,
        model_name=detail.model_name if detail else "",
        model_version=detail.model_version if detail else "",
        demonstration=detail.demonstration if detail else False,
    )


def prior_study(*, study: Study, user: User | AnonymousUser) -> Study | None:
    """The patient's latest earlier study that ``user`` may consult and that has a report."""
    earlier = (
        consultable_studies(user=user).filter(patient_id=study.patient_id).exclude(pk=study.pk)
    )
    if study.study_date is not None:
        earlier = earlier.filter(
            Q(study_date__lt=study.study_date)
            | Q(study_date=study.study_date, received_at__lt=study.received_at)
            | Q(study_date__isnull=True, received_at__lt=study.received_at)
        )
    else:
        earlier = earlier.filter(received_at__lt=study.received_at)
    return (
        earlier.filter(report__head_number__isnull=False)
        .order_by(F("study_date").desc(nulls_last=True), "-received_at")
        .first()
    )


def confirmed_findings(facts: StudyFacts) -> list[FindingRecord]:
    """The AI findings the signed report stands behind (for the clinician's overlays)."""
    reading = StudyReading(facts)
    shown = []
    for record in facts.findings:
        state = reading.state(record.label)
        if state.finding is not None and state.presence is not Presence.ABSENT:
            shown.append(state.finding)
    return shown


def questions_of_study(
    *, study: Study, user: User | AnonymousUser, limit: int = 50
) -> list[Question]:
    """The study's questions ``user`` may read, newest first: radiologists see everyone's;
    others only their own (a question asked about the draft must not reach a clinician)."""
    found = Question.objects.filter(study=study).select_related("asked_by", "study")
    if not is_reporter(user):
        found = found.filter(asked_by_id=user.pk)
    return list(found.order_by("-asked_at", "-id")[:limit])


def signed_reports_for_clinician(*, user: User | AnonymousUser) -> QuerySet[Report]:
    """Signed reports of the studies the clinician may read, newest signature first."""
    studies = study_scope(user=user, queryset=Study.objects.all())
    return (
        Report.objects.filter(study__in=studies, status__in=SIGNED_STATES)
        .select_related("study", "study__patient", "signed_by")
        .order_by("-signed_at")
    )


def critical_results_open(
    *, recipient: User | AnonymousUser | None = None
) -> QuerySet[CriticalResult]:
    """Unacknowledged critical results, oldest first (all of them, or one recipient's)."""
    found = CriticalResult.objects.filter(acknowledged_at__isnull=True).select_related(
        "study", "study__patient", "recipient", "report__signed_by"
    )
    if recipient is not None:
        found = found.filter(recipient_id=recipient.pk)
    return found.order_by("created_at", "id")


def critical_result_for_acknowledgement(
    *, user: User | AnonymousUser, result_id: int
) -> CriticalResult | None:
    """The critical result ``user`` may acknowledge: a clinician their own; a radiologist or
    admin one nobody could be notified of (after phoning the referrer)."""
    roles = user_roles(user)
    allowed = Q(pk__in=[])
    if Role.CLINICIAN in roles:
        allowed |= Q(recipient_id=user.pk)
    if roles & {Role.RADIOLOGIST, Role.ADMIN}:
        allowed |= Q(recipient__isnull=True)
    return (
        CriticalResult.objects.select_related("study", "report__signed_by", "recipient")
        .filter(allowed, pk=result_id)
        .first()
    )


def critical_result_age_seconds(result: CriticalResult, now: dt.datetime) -> int:
    return max(0, int((now - result.created_at).total_seconds()))


def age_text(seconds: int) -> str:
    """``seconds`` as people read a waiting time: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{minutes} min" if minutes else f"{seconds} s"
