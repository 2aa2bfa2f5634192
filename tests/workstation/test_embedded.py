"""With DATABASE_URL/REDIS_URL unset, processes share an embedded PostgreSQL and Redis under
VAR_DIR, and the servers stop when the last process leaves, however the others ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import sys, time, django
django.setup()
from django.db import connection
from django.conf import settings
import redis
with connection.cursor() as cursor:
    cursor.execute("SELECT current_database()")
    print("db", cursor.fetchone()[0], flush=True)
print("redis", redis.Redis.from_url(settings.REDIS_URL).ping(), flush=True)
connection.close()
time.sleep(float(sys.argv[1]))
"""


def _env(var_dir: Path, redis_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="workstation.settings.base",
        VAR_DIR=str(var_dir),
        EMBEDDED_REDIS_PORT=str(redis_port),
    )
    return env


def _probe(env: dict[str, str], linger: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PROBE, str(linger)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _servers_of(var_dir: Path) -> list[int]:
    marker = str(var_dir)
    return [
        p.pid
        for p in psutil.process_iter(attrs=["cmdline"])
        if any(marker in part for part in (p.info["cmdline"] or []))
        and p.info["cmdline"][0] != sys.executable
    ]


def _wait_gone(var_dir: Path, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _servers_of(var_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.slow
def test_it_serves_a_process_and_stops_both_servers_when_it_exits(tmp_path: Path) -> None:
    env = _env(tmp_path / "var", free_port())

    out, err = _probe(env, 0).communicate(timeout=120)

    assert "db radws" in out and "redis True" in out, err[-2000:]
    assert _wait_gone(tmp_path / "var") == []


@pytest.mark.slow
def test_servers_outlive_a_killed_process_only_until_the_last_live_one_exits(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path / "var", free_port())
    crashed = _probe(env, 60)
    assert crashed.stdout is not None
    assert crashed.stdout.readline().startswith("db radws")
    survivor = _probe(env, 2)

    crashed.send_signal(signal.SIGKILL)  # no exit hooks run
    crashed.wait(timeout=10)
    assert _servers_of(tmp_path / "var"), "the survivor still needs the servers"
    out, err = survivor.communicate(timeout=120)

    assert "redis True" in out, err[-2000:]
    assert _wait_gone(tmp_path / "var") == []


@pytest.mark.slow
def test_sigterm_stops_the_servers_of_a_plain_manage_py_process(tmp_path: Path) -> None:
    env = _env(tmp_path / "var", free_port())
    process = _probe(env, 60)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("db radws")

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    assert _wait_gone(tmp_path / "var") == []
