"""The 10,000-study history the web benchmark measures the pages against (SPEC section 9,
issue 7): ``seed`` writes studies with reports from a seeded generator (AI drafts with
findings, timings and QA flags; 8% drafts rejected; 80% signed with edit metrics; six
radiologists; 60 days) and assesses every draft (the labeller, once per draft).

It runs inside a configured Django process; ``bench.web`` calls it in a throw-away embedded
stack and measures the worklist, the report API and both dashboard APIs.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import numpy as np

DAYS = 60
RADIOLOGISTS = [f"rad{i}" for i in range(1, 7)]
FINDINGS = [
    ("Cardiomegaly", 0.15, False, "The heart is enlarged."),
    ("Pleural Effusion", 0.12, True, "Small right pleural effusion."),
    ("Pneumothorax", 0.03, True, "Small left apical pneumothorax."),
    ("Lung Lesion", 0.05, True, "A nodule in the right upper lobe."),
    ("Atelectasis", 0.10, False, "Bibasilar atelectasis."),
    ("Support Devices", 0.08, False, "A central line is in place."),
]


def seed(studies: int, seed_value: int) -> dict[str, Any]:
    """Write the history with bulk inserts; returns counts and the manager's API token."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from reports.models import AiDraft, Report, ReportMetrics, ReportVersion, VersionKind
    from workstation.accounts.roles import Role, roles_ensure
    from workstation.accounts.services import user_create_with_role
    from workstation.dashboards.services import draft_assessments_refresh
    from workstation.studies.models import Patient, Study

    roles_ensure()
    rng = np.random.default_rng(seed_value)
    password = secrets.token_urlsafe(12)  # nobody signs in: the API is called with a token
    for name in RADIOLOGISTS:
        user_create_with_role(username=name, role=Role.RADIOLOGIST, password=password)
    user_create_with_role(username="bench-manager", role=Role.MANAGER, password=password)
    users = {u.username: u for u in get_user_model().objects.all()}
    token = Token.objects.create(user=users["bench-manager"]).key
    now = timezone.now()
    patients = Patient.objects.bulk_create(
        Patient(patient_id=f"B{i}") for i in range(max(1, studies // 3))
    )
    received = [now - dt.timedelta(seconds=float(s)) for s in rng.uniform(0, DAYS * 86400, studies)]
    rows = Study.objects.bulk_create(
        Study(
            study_uid=f"1.2.826.0.1.3680043.10.4242.{i}",
            patient=patients[i % len(patients)],
            modalities="DX" if rng.random() < 0.3 else "CR",
            is_stat=bool(rng.random() < 0.05),
            last_instance_at=received[i],
            status="drafted",
        )
        for i in range(studies)
    )
    from django.db import connection

    with connection.cursor() as cursor:  # received_at is auto_now_add: set it afterwards
        cursor.execute("UPDATE studies_study SET received_at = last_instance_at")
    drafted = [s for s in rows if rng.random() < 0.95]
    draft_at = {
        s.pk: s.last_instance_at + dt.timedelta(seconds=float(rng.gamma(2, 40))) for s in drafted
    }
    signed = {s.pk for s in drafted if rng.random() < 0.8 and draft_at[s.pk] < now}
    rejected = {s.pk for s in drafted if rng.random() < 0.08}
    sign_at = {pk: draft_at[pk] + dt.timedelta(seconds=float(rng.gamma(2, 1800))) for pk in signed}
    signer = {pk: users[RADIOLOGISTS[int(rng.integers(len(RADIOLOGISTS)))]] for pk in signed}
    reports = Report.objects.bulk_create(
        Report(
            study=s,
            created_at=draft_at[s.pk],
            head_number=(1 if s.pk in rejected else 0) + (1 if s.pk in signed else 0),
            ai_draft_rejected=s.pk in rejected,
            status="signed" if s.pk in signed else "draft",
            signed_by=signer.get(s.pk),
            signed_at=sign_at.get(s.pk),
            signed_number=((2 if s.pk in rejected else 1) if s.pk in signed else None),
        )
        for s in drafted
    )
    findings_of = {}
    versions, later = [], []
    for report in reports:
        present = [f for f in FINDINGS if rng.random() < f[1]]
        findings_of[report.pk] = present
        text = " ".join(f[3] for f in present) or "The lungs are clear."
        if rng.random() < 0.04:  # a sentence the detection head does not back
            text += " Small left apical pneumothorax."
        versions.append(
            ReportVersion(
                report=report,
                number=0,
                kind=VersionKind.AI_DRAFT,
                created_at=report.created_at,
                findings=text,
                impression="See findings.",
                model_version="reference-demo:demo-1",
                content_sha256="0" * 64,
            )
        )
        number = 0
        if report.ai_draft_rejected:
            number += 1
            later.append(
                ReportVersion(
                    report=report,
                    number=number,
                    kind=VersionKind.DRAFT_REJECTED,
                    author=signer.get(report.study_id, users[RADIOLOGISTS[0]]),
                    created_at=report.created_at + dt.timedelta(seconds=30),
                    content_sha256="0" * 64,
                )
            )
        if report.study_id in signed:
            later.append(
                ReportVersion(
                    report=report,
                    number=number + 1,
                    kind=VersionKind.SIGNED,
                    author=signer[report.study_id],
                    created_at=sign_at[report.study_id],
                    findings=text,
                    impression="Signed.",
                    content_sha256="0" * 64,
                )
            )
    v0 = ReportVersion.objects.bulk_create(versions, batch_size=2000)
    ReportVersion.objects.bulk_create(later, batch_size=2000)
    AiDraft.objects.bulk_create(
        (
            AiDraft(
                version=version,
                backend="reference",
                model_name="reference-demo",
                model_version="demo-1",
                processing_time_ms=float(rng.lognormal(7.5, 0.6)),
                findings=[  # the shape inference.services writes, so the report API reads it
                    {
                        "finding": f[3],
                        "label": f[0],
                        "confidence": 0.8,
                        "severity": "moderate",
                        "laterality": None,
                        "bounding_box": None,
                        "is_critical": f[2],
                        "heatmap": None,
                        "context_contribution": None,
                    }
                    for f in findings_of[version.report_id]
                ],
                qa_flags=(
                    [
                        {
                            "kind": "unsupported",
                            "label": "Pneumothorax",
                            "detail": "",
                            "blocking": True,
                        }
                    ]
                    if rng.random() < 0.03
                    else []
                ),
                created_at=version.created_at,
            )
            for version in v0
        ),
        batch_size=2000,
    )
    ReportMetrics.objects.bulk_create(
        (
            ReportMetrics(
                report=report,
                char_distance=float(rng.beta(1.2, 6)),
                word_distance=float(rng.beta(1.2, 5)),
                ai_labels=[f[0] for f in findings_of[report.pk]],
                signed_labels=[f[0] for f in findings_of[report.pk] if rng.random() < 0.9],
                findings_removed=[],
                label_source="labeller",
            )
            for report in reports
            if report.study_id in signed
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:  # planner statistics, as autovacuum would gather
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    assessed = draft_assessments_refresh()
    return {
        "studies": studies,
        "drafts": len(v0),
        "signed": len(signed),
        "assessed": assessed,
        "assess_seconds": round(time.perf_counter() - started, 1),
        "token": token,
    }
