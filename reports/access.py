"""Who may do what with a report: the per-object policy, in one place.

- Radiologists (``studies.report_study``) and administrators: every report, every action.
- Clinicians: read and export the *signed* reports of studies they ordered or were assigned
  to (``StudyAccess``); drafts and other studies' reports do not exist for them (404).
- Everyone else (managers, users without a role): nothing (403, before any lookup, so the
  answer is the same for every identifier).
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from reports.models import Report, ReportStatus
from workstation.accounts.access import study_is_granted
from workstation.accounts.roles import Role, user_roles

REPORT_PERMISSION = "studies.report_study"


class ReportAction(StrEnum):
    VIEW = "view"
    EDIT = "edit"  # save, claim, release, reject the draft, sign, add an addendum
    EXPORT = "export"  # FHIR


class Access(StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"  # 403: the role cannot do this
    HIDDEN = "hidden"  # 404: the object is outside the user's scope


def _is_reporter(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "has_perm")(REPORT_PERMISSION))  # noqa: B009


def report_role_allows(*, user: AbstractBaseUser | AnonymousUser, action: ReportAction) -> bool:
    """Whether the user's role could do ``action`` on any report (checked before lookup)."""
    if _is_reporter(user):
        return True
    return action is not ReportAction.EDIT and Role.CLINICIAN in user_roles(user)


def report_access(
    *, user: AbstractBaseUser | AnonymousUser, report: Report, action: ReportAction
) -> Access:
    """The policy above for one report."""
    if _is_reporter(user):
        return Access.ALLOWED
    if Role.CLINICIAN not in user_roles(user):
        return Access.FORBIDDEN
    visible = report.status != ReportStatus.DRAFT and study_is_granted(
        user=user, study_id=report.study_id
    )
    if not visible:
        return Access.HIDDEN
    return Access.ALLOWED if action is not ReportAction.EDIT else Access.FORBIDDEN
