"""Assignment: which radiologist should read a study (the worklist's "my studies").

An assignment says who is expected to read; it locks nothing (a claim does that). Only
radiologists (and admins) assign, and only to someone who may report.
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from reports.errors import InvalidContent
from reports.models import Assignment
from reports.services.base import require_reporter
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.notify import study_event_on_commit
from workstation.studies.models import Study

REPORT_PERMISSION = "studies.report_study"


def study_assign(*, study: Study, assignee: User | None, by: User) -> Assignment | None:
    """Assign ``study`` to ``assignee`` (``None`` removes the assignment).

    Raises ``NotAllowed`` when ``by`` may not report and ``InvalidContent`` when the
    assignee may not report (or is inactive). Audited as an edit of the study; open
    worklists hear an ``assigned`` event once the transaction commits.
    """
    require_reporter(by)
    if assignee is not None and not (assignee.is_active and assignee.has_perm(REPORT_PERMISSION)):
        raise InvalidContent(f"{assignee.get_username()} is not a radiologist")
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()
        if assignee is None:
            Assignment.objects.filter(study=study).delete()
            assignment = None
            detail = "assignment removed"
        else:
            assignment, _ = Assignment.objects.update_or_create(
                study=study,
                defaults={"assignee": assignee, "assigned_by": by, "assigned_at": timezone.now()},
            )
            detail = f"assigned to {assignee.get_username()}"
        audit_record(
            action=AuditAction.EDIT,
            user=by,
            object_type="study_assignment",
            object_id=study.study_uid,
            study_uid=study.study_uid,
            detail=detail,
        )
        study_event_on_commit(event="assigned", study_uid=study.study_uid, status=study.status)
    return assignment
