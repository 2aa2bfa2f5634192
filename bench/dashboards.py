"""Dashboard API latency with 10,000 studies in PostgreSQL (SPEC section 9, issue 7).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.dashboards --studies 10000

Creates a throw-away database next to the one ``DATABASE_URL`` names (``radws_bench_<pid>``),
migrates it, seeds ``--studies`` studies with reports from a seeded generator (AI drafts with
findings, timings and QA flags; 8% drafts rejected; 80% signed with edit metrics; six
radiologists; 60 days), assesses every draft (the labeller, once per draft), then serves the
project's ASGI application with daphne on loopback and measures GET
``/api/v1/dashboards/{manager,model}`` over the 60 days with 1 and 16 concurrent clients
(token auth), with the figure cache off (every request runs the SQL) and on. The database is
dropped afterwards. Writes ``var/bench/dashboards.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
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


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(server_url: str, sql: str) -> None:
    """Run ``sql`` on the server's own database (never the bench one)."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


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


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The project's ASGI application under daphne (its errors go to ``log``)."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "workstation.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the web process did not start")


def _client(
    port: int, path: str, token: str, count: int, out: list[float], errors: list[str]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            errors.append(f"{path}: HTTP {response.status}")
        out.append((time.perf_counter() - started) * 1000.0)


def measure(port: int, path: str, token: str, clients: int, per_client: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    _client(port, path, token, 1, [], errors)  # warm the process (imports, connections)
    threads = [
        threading.Thread(target=_client, args=(port, path, token, per_client, latencies, errors))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError("; ".join(sorted(set(errors))))
    return {
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "requests_per_s": round(len(latencies) / wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20, help="per cell with one client")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        print("set DATABASE_URL and REDIS_URL (a server where a database may be created)")
        return 2
    name = f"radws_bench_{os.getpid()}"
    server_url = os.environ["DATABASE_URL"]
    _admin(server_url, f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(server_url, name),
        "DJANGO_SETTINGS_MODULE": "workstation.settings.base",
    }
    os.environ.update(env)
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = seed(args.studies, args.seed)
        seeded["seed_seconds"] = round(time.perf_counter() - started, 1)
        from django.db import connections

        connections.close_all()
        token = seeded.pop("token")
        today = dt.datetime.now(dt.UTC).date()
        query = f"since={today - dt.timedelta(days=DAYS)}&until={today}"
        results: dict[str, Any] = {"seeded": seeded, "cells": []}
        log = BASE_DIR / "var" / "bench" / "dashboards-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        from tests.conftest import free_port

        for cache_seconds in ("0", "30"):
            port = free_port()
            # Under ASGI each request runs in a thread of its own: persistent connections
            # would pile up, one per thread, until PostgreSQL refuses more clients.
            server_env = {**env, "DASHBOARD_CACHE_SECONDS": cache_seconds}
            server_env["DATABASE_CONN_MAX_AGE"] = "0"
            server = _serve(port, server_env, log)
            try:
                for dashboard in ("manager", "model"):
                    path = f"/api/v1/dashboards/{dashboard}?{query}"
                    for clients, per_client in (
                        (1, args.requests),
                        (16, max(2, args.requests // 4)),
                    ):
                        cell = measure(port, path, token, clients, per_client)
                        cell.update(dashboard=dashboard, cache=cache_seconds != "0")
                        results["cells"].append(cell)
                        print(
                            f"{dashboard:8} cache={'on ' if cell['cache'] else 'off'} "
                            f"clients={clients:2}  P50 {cell['p50_ms']:8.1f} ms  "
                            f"P95 {cell['p95_ms']:8.1f} ms  {cell['requests_per_s']:6.2f} req/s"
                        )
            finally:
                server.terminate()
                server.wait(timeout=20)
        out = BASE_DIR / "var" / "bench" / "dashboards.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        results["cpu_count"] = os.cpu_count()
        out.write_text(json.dumps(results, indent=2))
        print(f"seeded {seeded}; results in {out}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
