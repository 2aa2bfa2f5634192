"""What a report version says, as frozen values, and its canonical bytes for hashing.

The SHA-256 of :func:`canonical_bytes` is stored with each version when it is written and
recomputed from the stored row before every export: a difference means the stored text was
changed behind the application's back (the triggers were bypassed), and the export is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from inference.labels import Label
from reports.models import Decision, FindingDecision, ReportVersion


@dataclass(frozen=True)
class Sections:
    findings: str
    impression: str
    recommendations: str = ""
    addendum: str = ""


@dataclass(frozen=True)
class AiFinding:
    """One finding the AI proposed; ``confidence`` is its calibrated probability in [0, 1]."""

    label: Label
    confidence: float
    text: str = ""


@dataclass(frozen=True)
class FindingVerdict:
    """A radiologist's decision on one label (``ADDED`` for a finding the AI missed)."""

    label: Label
    decision: Decision
    text: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class VersionContent:
    report_id: int
    study_uid: str
    number: int
    kind: str
    author_id: int | None
    created_at: dt.datetime
    sections: Sections
    model_version: str
    decisions: tuple[FindingVerdict, ...]


def canonical_bytes(content: VersionContent) -> bytes:
    """Sorted-key, compact UTF-8 JSON; times in UTC ISO 8601 with microseconds."""
    payload = {
        "report_id": content.report_id,
        "study_uid": content.study_uid,
        "number": content.number,
        "kind": content.kind,
        "author_id": content.author_id,
        "created_at": content.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "findings": content.sections.findings,
        "impression": content.sections.impression,
        "recommendations": content.sections.recommendations,
        "addendum": content.sections.addendum,
        "model_version": content.model_version,
        "decisions": sorted(
            [
                {
                    "label": str(v.label),
                    "decision": str(v.decision),
                    "text": v.text,
                    "confidence": v.confidence,
                }
                for v in content.decisions
            ],
            key=lambda item: str(item["label"]),
        ),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_sha256(content: VersionContent) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def stored_content(*, version: ReportVersion, study_uid: str) -> VersionContent:
    """The content as stored now (one query for the decisions)."""
    decisions = tuple(
        FindingVerdict(
            label=Label(row.label),
            decision=Decision(row.decision),
            text=row.text,
            confidence=row.confidence,
        )
        for row in FindingDecision.objects.filter(version=version)
    )
    return VersionContent(
        report_id=version.report_id,
        study_uid=study_uid,
        number=version.number,
        kind=version.kind,
        author_id=version.author_id,
        created_at=version.created_at,
        sections=Sections(
            version.findings, version.impression, version.recommendations, version.addendum
        ),
        model_version=version.model_version,
        decisions=decisions,
    )
