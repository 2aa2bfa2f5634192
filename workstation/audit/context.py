"""Where the current request came from, for audit rows written deep inside services.

The middleware sets it per request; services need no request argument to say where an edit
came from. Outside a request (Celery, management commands) it is empty.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    source_ip: str | None
    path: str


_origin: ContextVar[RequestOrigin | None] = ContextVar("audit_request_origin", default=None)


def origin_get() -> RequestOrigin | None:
    return _origin.get()


def origin_set(origin: RequestOrigin | None) -> object:
    """Set the origin; returns a token for :func:`origin_reset`."""
    return _origin.set(origin)


def origin_reset(token: object) -> None:
    _origin.reset(token)  # type: ignore[arg-type]
