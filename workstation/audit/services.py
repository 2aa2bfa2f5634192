"""The one writer of audit rows."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from workstation.audit.context import origin_get
from workstation.audit.models import AuditAction, AuditEvent, AuditOutcome

logger = logging.getLogger(__name__)


def audit_record(
    *,
    action: AuditAction,
    user: AbstractBaseUser | AnonymousUser | None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    object_type: str = "",
    object_id: str = "",
    study_uid: str = "",
    report_id: int | None = None,
    detail: str = "",
    username: str | None = None,
) -> AuditEvent:
    """Append one audit row; source IP and path come from the current request, if any.

    ``username`` overrides the snapshot (a failed login names who was tried, with no user).
    Runs inside the caller's transaction: an edit and its audit row commit together. Callers
    that raise after a refusal must write the row outside the transaction they roll back.
    """
    known = user if user is not None and user.is_authenticated else None
    origin = origin_get()
    event = AuditEvent.objects.create(
        user_id=known.pk if known is not None else None,
        username=(username if username is not None else known.get_username() if known else "")[
            :150
        ],
        action=action,
        outcome=outcome,
        object_type=object_type[:32],
        object_id=object_id[:128],
        study_uid=study_uid[:64],
        report_id=report_id,
        source_ip=origin.source_ip if origin else None,
        path=origin.path[:255] if origin else "",
        detail=detail[:2000],
    )
    if outcome is not AuditOutcome.SUCCESS:
        logger.info("audit: %s %s %s (%s)", event.username or "-", action, outcome, detail[:200])
    return event
