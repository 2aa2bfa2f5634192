"""What a WADO-RS request asks for: the transfer syntax in its Accept header, and the
rendering parameters (``window``, ``viewport``, ``quality``) of PS3.18 8.3.5."""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.request import Request

from inference.preprocess import Window
from workstation.dicomweb import retrieve
from workstation.dicomweb.multipart import MediaType
from workstation.studies import imaging


def wanted_transfer_syntax(accepts: list[MediaType]) -> str | None:
    """The transfer syntax the client wants for application/dicom (``None``: any, so as
    stored). Raises ``NotAcceptable`` when it accepts no DICOM representation."""
    for entry in accepts:
        inner = entry.params.get("type", "application/dicom")
        if entry.media_type in ("multipart/related", "*/*") and inner in (
            "application/dicom",
            "*/*",
        ):
            syntax = entry.params.get("transfer-syntax")
            if syntax == "*" or (entry.media_type == "*/*" and syntax is None):
                return None
            return syntax or retrieve.EXPLICIT_LE
    raise NotAcceptable('this resource is multipart/related; type="application/dicom"')


def rendering_params(request: Request) -> tuple[Window | None, int | None, int]:
    params = request.query_params
    window = None
    if "window" in params:
        parts = params["window"].split(",")
        try:
            center, width = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise ParseError("window is center,width[,function]") from None
        if width <= 0 or (len(parts) > 2 and parts[2].strip().lower() != "linear"):
            raise ParseError("window width must be positive; only the linear function is offered")
        window = Window(center, width)
    size = None
    if "viewport" in params:
        try:
            size = max(int(v) for v in params["viewport"].split(",")[:2])
        except ValueError:
            raise ParseError("viewport is width,height in pixels") from None
        if not 16 <= size <= imaging.MAX_RENDER_SIZE:
            raise ParseError(f"viewport must be between 16 and {imaging.MAX_RENDER_SIZE} pixels")
    quality = 90
    if "quality" in params:
        try:
            quality = int(params["quality"])
        except ValueError:
            raise ParseError("quality is an integer 1-100") from None
        if not 1 <= quality <= 100:
            raise ParseError("quality is an integer 1-100")
    return window, size, quality
