"""R2: no input crashes or hangs a process. A seeded corpus of 5,000 mutated DICOM files goes
over C-STORE to ``manage.py runscp`` (its own process, so a crash or its memory shows) and is
POSTed to the upload endpoint; stored instances are then rendered, which decodes their
pixels (compressed ones in a limited child process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from django.db import connection
from pynetdicom import AE
from rest_framework.test import APIClient

from tests.conftest import LiveScp, free_port, wait_for
from tests.factories import dataset_bytes_sha256
from tests.reliability.corpus import Mutant, build
from tests.reliability.scp_support import echo
from workstation.dicom import scu  # noqa: F401 - sends files' bytes as they are (chunked)
from workstation.studies.models import Instance

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CORPUS = 5000
LANES = 4
HANG_SECONDS = 5.0
GiB = 1024**3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Mutant]:
    return build(tmp_path_factory.mktemp("corpus"), CORPUS)


def _database_url() -> str:
    s = connection.settings_dict
    host = s["HOST"] or "127.0.0.1"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{s['NAME']}?host={host}"
    return f"postgresql://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


class _PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return


@pytest.fixture
def scp_process(
    transactional_db: None, tmp_path: Path
) -> Iterator[tuple[LiveScp, subprocess.Popen[bytes]]]:
    """``manage.py runscp`` against this test's database, in its own process."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "workstation.settings.base",
        "DATABASE_URL": _database_url(),
        "DICOM_STORAGE_DIR": str(tmp_path / "store"),
        "STUDY_SETTLE_SECONDS": "86400",  # no drafting: this test is about ingest
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "scp.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runscp", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    scp = LiveScp("127.0.0.1", port, "RADWS", tmp_path / "store")
    try:
        assert wait_for(lambda: echo(scp) == 0x0000, timeout=120), (
            tmp_path / "scp.log"
        ).read_text()
        yield scp, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _contexts(lane: list[Mutant]) -> list[tuple[str, str]]:
    pairs = []
    for mutant in lane:
        pair = (mutant.sop_class, mutant.transfer_syntax)
        if pair not in pairs:
            pairs.append(pair)
    return pairs[:128]


def _send_lane(scp: LiveScp, lane: list[Mutant]) -> list[tuple[Mutant, int | None, float, str]]:
    """Send each mutant over one association (re-associating if one ends); time each."""
    ae = AE(ae_title="FUZZER")
    ae.acse_timeout = ae.network_timeout = 30
    ae.dimse_timeout = 2 * HANG_SECONDS
    for sop_class, syntax in _contexts(lane):
        ae.add_requested_context(sop_class, syntax)
    results = []
    assoc = ae.associate(scp.host, scp.port, ae_title=scp.ae_title)
    for mutant in lane:
        if not assoc.is_established:
            assoc = ae.associate(scp.host, scp.port, ae_title=scp.ae_title)
        started = time.monotonic()
        error = ""
        try:
            answer = assoc.send_c_store(mutant.path)
            status = answer.get("Status") if answer else None
        except Exception as exc:  # the sender's own framing of a mutant (zlib, struct...)
            status, error = None, f"sender refused: {type(exc).__name__}: {exc}"
        results.append((mutant, status, time.monotonic() - started, error))
    if assoc.is_established:
        assoc.release()
    return results


def _stored_correctly(successes: list[Mutant], storage_dir: Path) -> list[str]:
    """SOP UIDs answered 0x0000 whose row or file does not hold one of the bodies sent."""
    sent: dict[str, set[str]] = {}
    for mutant in successes:
        sent.setdefault(mutant.sop_uid, set()).add(mutant.body_sha256)
    rows = {i.sop_uid: i for i in Instance.objects.filter(sop_uid__in=sent)}
    wrong = []
    for sop_uid, shas in sent.items():
        row = rows.get(sop_uid)
        stored = row and dataset_bytes_sha256(storage_dir / row.storage_path)
        if row is None or row.sha256 not in shas or stored != row.sha256:
            wrong.append(sop_uid)
    return wrong


def test_5000_mutated_files_over_c_store_get_only_answers_and_the_listener_stays_up(
    corpus: list[Mutant], scp_process: tuple[LiveScp, subprocess.Popen[bytes]]
) -> None:
    scp, process = scp_process
    rss = _PeakRss(process.pid)
    rss.start()
    lanes = [corpus[i::LANES] for i in range(LANES)]
    with ThreadPoolExecutor(LANES) as pool:
        results = [r for lane in pool.map(lambda lane: _send_lane(scp, lane), lanes) for r in lane]
    rss.stop.set()
    started = time.monotonic()
    echo_status = echo(scp)
    echo_seconds = time.monotonic() - started

    statuses = Counter(status for _, status, _, _ in results)
    print(
        f"\nR2 C-STORE: {len(results)} sent, statuses {dict(statuses)}, peak RSS "
        f"{rss.peak / 2**20:.0f} MiB, slowest {max(r[2] for r in results):.2f} s"
    )
    # No answer only where the sender itself could not put the file on the wire (a transfer
    # syntax nobody negotiates, a body it cannot frame); the listener answered every other.
    unanswered = [(m.path.name, e) for m, s, _, e in results if s is None and not e]
    log = (scp.storage_dir.parent / "scp.log").read_text(errors="replace")[-4000:]
    assert unanswered == [], log
    assert process.poll() is None  # 0 crashes
    assert [m.path.name for m, _, seconds, _ in results if seconds > HANG_SECONDS] == []
    assert rss.peak < GiB
    successes = [m for m, s, _, _ in results if s == 0x0000]
    assert _stored_correctly(successes, scp.storage_dir) == []
    assert echo_status == 0x0000 and echo_seconds < 1.0


def test_5000_mutated_files_posted_to_the_upload_endpoint_get_only_4xx_or_stored(
    corpus: list[Mutant], reader: object, storage_dir: Path
) -> None:
    client = APIClient()
    client.force_authenticate(reader)
    before = psutil.Process().memory_info().rss
    codes: Counter[int] = Counter()
    slow, successes = [], []
    for mutant in corpus:
        started = time.monotonic()
        response = client.post(
            "/api/v1/instances", mutant.path.read_bytes(), content_type="application/dicom"
        )
        if time.monotonic() - started > HANG_SECONDS:
            slow.append(mutant.path.name)
        codes[response.status_code] += 1
        if response.status_code in (200, 201):
            successes.append(mutant)
    growth = psutil.Process().memory_info().rss - before

    # Rendering decodes the stored pixels (compressed ones in a limited child process).
    rendered: Counter[int] = Counter()
    for sop_uid in sorted({m.sop_uid for m in successes}):
        started = time.monotonic()
        rendered[client.get(f"/api/v1/instances/{sop_uid}/frame").status_code] += 1
        if time.monotonic() - started > 2 * HANG_SECONDS:  # a child decoder starts first
            slow.append(sop_uid)

    print(
        f"\nR2 upload: {dict(codes)}, RSS growth {growth / 2**20:.0f} MiB, render {dict(rendered)}"
    )
    assert set(codes) <= {200, 201, 400, 409, 415}, codes
    assert slow == []
    assert growth < GiB
    assert _stored_correctly(successes, storage_dir) == []
    assert rendered.total() >= 10 and set(rendered) <= {200, 422}, rendered
