"""QIDO-RS query parameters (PS3.18 8.3.4) parsed into a search of ``workstation.dicom.query``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workstation.dicom.query import (
    CONTROL_KEYWORDS,
    QueryError,
    QueryLevel,
    attribute_keyword,
    returnable,
)


@dataclass(frozen=True)
class QidoQuery:
    keys: dict[str, str]  # keyword -> matching value
    include: list[str] | None  # None: includefield=all
    limit: int
    offset: int
    limit_capped: bool  # the client asked for more than the server's maximum


def _int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}={raw[:20]!r} is not an integer") from None
    if value < minimum:
        raise QueryError(f"{name} must be at least {minimum}")
    return value


def qido_query_parse(
    params: Iterable[tuple[str, list[str]]], *, level: QueryLevel, max_results: int
) -> QidoQuery:
    """Parse ``name -> values`` query parameters; raises ``QueryError`` (answered 400).

    Attributes may be named by keyword or by tag (``PatientID`` or ``00100020``). Unknown
    attributes, and known ones that cannot be matched at ``level``, are errors; an
    ``includefield`` naming an attribute the server does not keep is ignored (PS3.18 allows
    it), one naming no DICOM attribute at all is an error. ``fuzzymatching`` is accepted and
    ignored: person names always match case-insensitively here.
    """
    matchable = {a.keyword for a in returnable(level)}
    keys: dict[str, str] = {}
    include: list[str] | None = []
    limit, offset, capped = max_results, 0, False
    for name, values in params:
        if name == "includefield":
            for value in (v for raw in values for v in raw.split(",") if v.strip()):
                if value.strip().lower() == "all":
                    include = None
                elif include is not None:
                    include.append(attribute_keyword(value))
                else:
                    attribute_keyword(value)  # still must name an attribute
        elif name == "limit":
            requested = _int("limit", values[-1], 1)
            capped = requested > max_results
            limit = min(requested, max_results)
        elif name == "offset":
            offset = _int("offset", values[-1], 0)
        elif name == "fuzzymatching":
            if values[-1].lower() not in ("true", "false"):
                raise QueryError("fuzzymatching must be true or false")
        else:
            keyword = attribute_keyword(name)
            if keyword not in matchable and keyword not in CONTROL_KEYWORDS:
                raise QueryError(f"{keyword} is not a query attribute at the {level} level")
            keys[keyword] = values[-1]
    return QidoQuery(keys=keys, include=include, limit=limit, offset=offset, limit_capped=capped)
