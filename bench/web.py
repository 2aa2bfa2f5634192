"""Web latency with 10,000 studies and their reports in PostgreSQL (SPEC section 9, item 3).

    .venv/bin/python -m bench.web --studies 10000

A throw-away stack (embedded PostgreSQL and Redis under a temporary VAR_DIR, never a shared
database) is seeded by ``bench.dashboards.seed`` (studies, AI drafts with findings, versions,
edit metrics, signatures over 60 days), then the project's ASGI application runs under daphne
on loopback and these pages are measured with 1 and 16 concurrent keep-alive clients:

* ``GET /`` the worklist page as a signed-in radiologist (session cookie), first page;
* ``GET /api/v1/studies/{uid}/report`` the report API, random studies, radiologist token;
* ``GET /api/v1/dashboards/manager`` and ``/model`` over the 60 days, manager token, with the
  figure cache off (every request runs the SQL) and then, on a second server, on
  (``DASHBOARD_CACHE_SECONDS=30``: what a manager's browser usually meets).

Each cell reports P50/P95 and requests/s. Bounded: ``--requests`` per client.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import (
    BASE_DIR,
    figure,
    free_port,
    latency_figures,
    project_stack,
    serve_web,
    stop,
)
from bench.dashboards import DAYS

SEED_SCRIPT = """
import json, random
import django
django.setup()
from rest_framework.authtoken.models import Token
from bench.dashboards import seed
from workstation.accounts.roles import Role
from workstation.accounts.services import user_create_with_role
from workstation.studies.models import Study
seeded = seed({studies}, 7)
user_create_with_role(username="bench-reader", role=Role.RADIOLOGIST, password={password!r})
from django.contrib.auth import get_user_model
reader = get_user_model().objects.get(username="bench-reader")
uids = list(Study.objects.filter(report__isnull=False).values_list("study_uid", flat=True))
random.Random(7).shuffle(uids)
print(json.dumps({{
    "manager_token": seeded.pop("token"),
    "reader_token": Token.objects.create(user=reader).key,
    "uids": uids[:200],
    "seeded": seeded,
}}))
"""


def login(port: int, username: str, password: str) -> str:
    """Sign in through the real login form; returns the Cookie header of the session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if match is None or "csrftoken" not in cookies:
        raise RuntimeError("the login page carries no CSRF token")
    body = urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
    )
    conn.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
    )
    response = conn.getresponse()
    response.read()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    if response.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"login as {username} failed: HTTP {response.status}")
    return "; ".join(f"{key}={morsel.value}" for key, morsel in cookies.items())


def _client(
    port: int, paths: Sequence[str], headers: dict[str, str], out: list[float], errors: list[str]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for path in paths:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - started) * 1000.0)
        if response.status != 200:
            errors.append(f"{path.split('?')[0]}: HTTP {response.status}")


def measure(
    port: int, paths: Sequence[str], headers: dict[str, str], clients: int, per_client: int
) -> dict[str, Any]:
    """``clients`` threads each send ``per_client`` requests over one keep-alive connection."""
    _client(port, paths[:1], headers, [], [])  # warm: imports, connections, query plans
    latencies: list[float] = []
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_client,
            args=(
                port,
                [paths[(c * per_client + i) % len(paths)] for i in range(per_client)],
                headers,
                latencies,
                errors,
            ),
        )
        for c in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError("; ".join(sorted(set(errors))[:5]))
    return {
        **latency_figures(latencies),
        "requests_per_s": figure(len(latencies) / wall, "requests/s", runs=len(latencies)),
    }


def _measure_pages(
    port: int,
    pages: dict[str, tuple[list[str], dict[str, str]]],
    requests: int,
    figures: dict[str, Any],
) -> None:
    for name, (paths, headers) in pages.items():
        for clients in (1, 16):
            per_client = requests if clients == 1 else max(2, requests // 8)
            cell = measure(port, paths, headers, clients, per_client)
            for key, value in cell.items():
                figures[f"{name}_{clients}c_{key}"] = value
            print(
                f"  {name:<22} {clients:>2} clients: P50 "
                f"{cell['latency_p50']['value']:8.1f} ms  P95 "
                f"{cell['latency_p95']['value']:8.1f} ms  "
                f"{cell['requests_per_s']['value']:7.1f} req/s",
                flush=True,
            )


def run(studies: int = 10_000, requests: int = 40) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="radws-bench-web-") as tmp,
        project_stack(Path(tmp), DASHBOARD_CACHE_SECONDS="0") as stack,
    ):
        print(f"web: seeding {studies} studies with reports ...", flush=True)
        password = secrets.token_urlsafe(16)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", SEED_SCRIPT.format(studies=studies, password=password)],
            env=stack.env,
            cwd=BASE_DIR,
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"seeding failed: {out.stderr[-2000:]}")
        seeded = json.loads(out.stdout.strip().splitlines()[-1])
        seed_seconds = time.perf_counter() - started
        log = BASE_DIR / "var" / "bench" / "web-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        today = dt.datetime.now(dt.UTC).date()
        window = f"since={today - dt.timedelta(days=DAYS)}&until={today}"
        manager = {"Authorization": f"Token {seeded['manager_token']}"}
        dashboards = {
            f"{name}_dashboard_api": ([f"/api/v1/dashboards/{name}?{window}"], manager)
            for name in ("manager", "model")
        }
        pages = {
            "worklist": (["/"], {}),
            "report_api": (
                [f"/api/v1/studies/{uid}/report" for uid in seeded["uids"]],
                {"Authorization": f"Token {seeded['reader_token']}"},
            ),
            **dashboards,
        }
        figures: dict[str, Any] = {}
        port = free_port()
        web = serve_web(port, stack.env, log)
        try:
            pages["worklist"][1]["Cookie"] = login(port, "bench-reader", password)
            print("  (dashboard figure cache off)", flush=True)
            _measure_pages(port, pages, requests, figures)
        finally:
            stop(web)
        port = free_port()
        web = serve_web(port, {**stack.env, "DASHBOARD_CACHE_SECONDS": "30"}, log)
        try:
            print("  (dashboard figure cache on, 30 s)", flush=True)
            cached = {f"{name}_cached": page for name, page in dashboards.items()}
            _measure_pages(port, cached, requests, figures)
        finally:
            stop(web)
    return {
        "setup": {
            "studies": studies,
            "seeded": seeded["seeded"],
            "seed_seconds": round(seed_seconds, 1),
            "cpu_count": os.cpu_count(),
        },
        "figures": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40, help="per client with one client")
    args = parser.parse_args()
    result = run(args.studies, args.requests)
    print(json.dumps(result["setup"]))


if __name__ == "__main__":
    main()
