"""`make run`'s command on a machine with neither DATABASE_URL nor REDIS_URL set: the embedded
PostgreSQL and Redis come up, the stack serves, the demo studies arrive over C-STORE, and
Ctrl-C stops every process and both servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port
from tests.factories import SHARED_DICOM

BASE_DIR = Path(__file__).resolve().parents[2]


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, headers={"Authorization": f"Token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _token(base: str, username: str, password: str) -> str:
    data = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{base}/api/v1/auth/token", data=data, headers={"Content-Type": "application/json"}
    )
    # The web process's first request is slow on a loaded machine (imports, password hash).
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
        return str(json.loads(response.read())["token"])


@pytest.mark.slow
def test_runstack_starts_everything_on_embedded_servers_and_stops_it_on_ctrl_c(
    tmp_path: Path,
) -> None:
    from inference.models.checkpoint import ModelCard
    from tests.inference.models.synthetic import trained_tiny

    model_dir = tmp_path / "model"
    trained_tiny().model.save_pretrained(model_dir, ModelCard(name="tiny", version="t1"))
    web_port, scp_port, redis_port, mllp_port = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="workstation.settings.base",
        VAR_DIR=str(tmp_path / "var"),
        EMBEDDED_REDIS_PORT=str(redis_port),
        WEB_PORT=str(web_port),
        DICOM_PORT=str(scp_port),
        HL7_MLLP_PORT=str(mllp_port),
        STUDY_SETTLE_SECONDS="1",
        DRAFT_MODEL_DIR=str(model_dir),
        DRAFT_BACKEND="reference",  # the retrieval bank takes minutes to embed
        HEATMAP_DIR=str(tmp_path / "heatmaps"),
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstack"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    # Read the stack's output all along: a full pipe would block the children's logging.
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if any("Workstation running at" in line for line in list(output)):
                break
            time.sleep(0.2)
        text = "".join(output)
        assert "Workstation running at" in text, text[-3000:]
        base = f"http://127.0.0.1:{web_port}"
        login = re.search(r"radiologist\s+radiologist\s+(\S+)", text)
        assert login, text[-3000:]
        token = _token(base, "radiologist", login.group(1))

        status, health = 0, {}
        for _ in range(60):
            status, health = _get(f"{base}/healthz")
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, health

        if SHARED_DICOM.is_dir():
            status, studies = _get(f"{base}/api/v1/studies", token)
            assert status == 200
            assert studies["count"] == 3  # the 5 demo files are 3 studies
            for _ in range(360):  # each settles, and the worker (cold: imports torch) drafts it
                _, studies = _get(f"{base}/api/v1/studies", token)
                if all(s["status"] == "drafted" for s in studies["results"]):  # type: ignore[index]
                    break
                time.sleep(0.5)
            statuses = {s["status"] for s in studies["results"]}  # type: ignore[index]
            assert statuses == {"drafted"}, "".join(output)[-4000:]
            uid = studies["results"][0]["study_uid"]  # type: ignore[index]
            status, report = _get(f"{base}/api/v1/studies/{uid}/report", token)
            assert status == 200 and report["model_version"] == "t1"
        children = psutil.Process(process.pid).children(recursive=True)
        commands = [" ".join(c.cmdline()) for c in children]
        assert any("celery" in c and " beat " in c for c in commands), commands  # drift check
        assert "fusion model written to" in "".join(output)  # drafts show contributions
        # A model not trained on phantoms gets no phantom reference, and is told how.
        assert "no drift reference for tiny:t1" in "".join(output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        reader.join(timeout=10)
    assert process.returncode == 0, "".join(output)[-3000:]
    assert "All processes stopped." in "".join(output)
    time.sleep(1)
    survivors = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], [c.cmdline() for c in survivors]
    var_dir = str(tmp_path / "var")
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(attrs=["cmdline"])
        if any(var_dir in part for part in (p.info["cmdline"] or []))
    ]
    assert leftovers == [], "embedded PostgreSQL/Redis still running"
