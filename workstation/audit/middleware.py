"""Per-request audit plumbing: remember where the request came from; record every denial."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from workstation.audit.context import RequestOrigin, origin_reset, origin_set
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record

_AUDITED = "_audit_denial_recorded"


def client_ip(request: HttpRequest) -> str | None:
    """The peer address. X-Forwarded-For is not trusted: a proxy deployment must set
    REMOTE_ADDR itself (daphne's ``--proxy-headers``), so a client cannot forge its IP."""
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def denial_mark_recorded(request: object) -> None:
    """Tell the middleware that the view already wrote this request's denial row.

    Accepts Django's request or DRF's wrapper (whose attributes do not reach the original).
    """
    target = getattr(request, "_request", request)
    setattr(target, _AUDITED, True)


class AuditMiddleware:
    """Sets the request origin for services and records 401/403 answers as ``denied``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = origin_set(RequestOrigin(source_ip=client_ip(request), path=request.path))
        try:
            response = self.get_response(request)
            if response.status_code in (401, 403) and not getattr(request, _AUDITED, False):
                audit_record(
                    action=AuditAction.DENIED,
                    user=getattr(request, "user", None),
                    outcome=AuditOutcome.DENIED,
                    object_type="http",
                    object_id=request.path[:128],
                    detail=f"{request.method} {request.path} answered {response.status_code}",
                )
            return response
        finally:
            origin_reset(token)
