"""API-wide pieces: the exception handler that gives every error a ``detail`` message."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; validation errors keep their field map under ``errors``."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "invalid input", "errors": response.data}
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": "; ".join(str(item) for item in response.data)}
    return response
