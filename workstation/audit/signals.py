"""Login, logout and failed logins, from Django's auth signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record


def _logged_in(sender: object, request: object, user: Any, **kwargs: Any) -> None:
    audit_record(action=AuditAction.LOGIN, user=user, object_type="session")


def _logged_out(sender: object, request: object, user: Any, **kwargs: Any) -> None:
    # ``user`` is None when the session had already expired.
    audit_record(action=AuditAction.LOGOUT, user=user, object_type="session")


def _login_failed(sender: object, credentials: dict[str, Any], **kwargs: Any) -> None:
    # Django has already masked the password in ``credentials``; only the username is kept.
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        user=None,
        outcome=AuditOutcome.FAILURE,
        object_type="session",
        username=str(credentials.get("username", ""))[:150],
        detail="wrong credentials or locked out",
    )


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit_login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit_logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit_login_failed")
