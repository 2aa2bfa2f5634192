"""R1: no acknowledged instance is lost or duplicated, under 8 concurrent senders and re-sends,
and while the database restarts under them.

The restart test runs the real ``manage.py runscp`` against an embedded PostgreSQL that the
test starts in its own tmp dir (``pgserver``), so the shared server is never disturbed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pydicom.uid import generate_uid

from tests.conftest import LiveScp, free_port, wait_for
from tests.factories import cr_dataset, write
from tests.reliability.scp_support import echo
from workstation.dicom.part10 import split_part10
from workstation.dicom.scu import SendResult, send_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ASSOCIATIONS = 8
PER_ASSOCIATION = 250
INSTANCES = ASSOCIATIONS * PER_ASSOCIATION


def _generated(directory: Path, count: int = INSTANCES) -> dict[Path, tuple[str, str]]:
    """``count`` small CR files in 20 studies; returns {path: (sop_uid, dataset sha256)}."""
    studies = [generate_uid() for _ in range(20)]
    files = {}
    for i in range(count):
        ds = cr_dataset(rows=16, columns=16, seed=i, study_uid=studies[i % 20], InstanceNumber=i)
        path = write(ds, directory / f"{i:05d}.dcm")
        sha = hashlib.sha256(split_part10(path.read_bytes()).dataset_bytes).hexdigest()
        files[path] = (str(ds.SOPInstanceUID), sha)
    return files


def _send(scp: LiveScp, paths: list[Path]) -> list[SendResult]:
    return send_files(
        paths,
        host=scp.host,
        port=scp.port,
        called_ae_title=scp.ae_title,
        associations=ASSOCIATIONS,
        timeout=60,
    )


def _file_sha(root: Path, relative: str) -> str:
    return hashlib.sha256(split_part10((root / relative).read_bytes()).dataset_bytes).hexdigest()


@pytest.fixture(scope="module")
def embedded_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """A PostgreSQL of this module's own (pgserver) with the project's tables migrated."""
    import pgserver

    # pgserver runs PostgreSQL as an unprivileged user when we are root: its directory
    # must be reachable by that user, which pytest's private tmp dirs are not.
    parent = Path(tempfile.mkdtemp(prefix="radws-r1-"))
    parent.chmod(0o755)
    server = pgserver.get_server(parent / "pg", cleanup_mode="delete")
    server.psql("CREATE DATABASE radws_r1;")
    url = server.get_uri(database="radws_r1")
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=_env(url, tmp_path_factory.getbasetemp()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    yield url, server
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "workstation.settings.base",
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(tmp_path / "store"),
        "STUDY_SETTLE_SECONDS": "86400",  # no drafting jobs: this module is about ingest
        "DICOM_MAX_ASSOCIATIONS": "32",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def scp_process(
    embedded_postgres: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveScp]:
    """``manage.py runscp`` in its own process (so sender and listener use both cores)."""
    url, _ = embedded_postgres
    base = tmp_path_factory.getbasetemp()
    port = free_port()
    log = (base / "scp.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runscp", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=_env(url, base),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    scp = LiveScp("127.0.0.1", port, "RADWS", base / "store")
    try:
        assert wait_for(lambda: echo(scp) == 0x0000, timeout=120), (base / "scp.log").read_text()
        yield scp
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _rows(url: str, sop_uids: set[str]) -> dict[str, tuple[str, str]]:
    """Stored rows of the given instances: {sop_uid: (sha256, storage_path)}."""
    with psycopg.connect(url) as conn:
        return {
            sop: (sha, rel)
            for sop, sha, rel in conn.execute(
                "SELECT sop_uid, sha256, storage_path FROM studies_instance"
            )
            if sop in sop_uids
        }


def _duplicates(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) - count(DISTINCT sop_uid) FROM studies_instance")
        return int(row.fetchone()[0])  # type: ignore[index]


def _mismatched(
    files: dict[Path, tuple[str, str]], rows: dict[str, tuple[str, str]], root: Path
) -> list[str]:
    expected = dict(files.values())
    return [
        sop
        for sop, (sha, rel) in rows.items()
        if expected[sop] != sha or _file_sha(root, rel) != sha
    ]


def test_8_associations_of_250_sent_twice_store_each_instance_once_with_its_hash(
    embedded_postgres: tuple[str, object], scp_process: LiveScp, tmp_path: Path
) -> None:
    url, _ = embedded_postgres
    files = _generated(tmp_path / "src")
    paths = list(files)

    first = _send(scp_process, paths)
    second = _send(scp_process, paths)

    assert [r.status for r in first + second] == [0x0000] * (2 * INSTANCES)
    rows = _rows(url, {sop for sop, _ in files.values()})
    assert len(rows) == INSTANCES and _duplicates(url) == 0
    assert _mismatched(files, rows, scp_process.storage_dir) == []


def _restart(server: object) -> None:
    from pgserver._commands import pg_ctl

    # "immediate" is a crash: no checkpoint, every connection dropped mid-transaction.
    pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=server.pgdata, user=server.system_user)  # type: ignore[attr-defined]


def test_a_database_crash_restart_under_8_senders_loses_and_duplicates_nothing(
    embedded_postgres: tuple[str, object], scp_process: LiveScp, tmp_path: Path
) -> None:
    url, server = embedded_postgres
    files = _generated(tmp_path / "src")
    paths = list(files)
    results: list[SendResult] = []
    sender = threading.Thread(target=lambda: results.extend(_send(scp_process, paths)))
    sender.start()
    sops = {sop for sop, _ in files.values()}
    assert wait_for(lambda: len(_rows(url, sops)) >= INSTANCES // 4, timeout=120)
    _restart(server)
    restarted_while_sending = sender.is_alive()
    sender.join(timeout=300)
    after_first_pass = _rows(url, sops)

    statuses = {path: r.status for path, r in zip(paths, results, strict=True)}
    acknowledged = [p for p in paths if statuses[p] == 0x0000]
    lost = [p for p in acknowledged if files[p][0] not in after_first_pass]
    unstored = [p for p in paths if files[p][0] not in after_first_pass]
    silent = [p for p in unstored if statuses[p] in (0x0000, None)]
    failures = [p for p in paths if statuses[p] not in (0x0000, None)]
    # The sender retries whatever was not acknowledged (re-sends of acknowledged instances
    # are the first test's subject).
    retried = _send(scp_process, [p for p in paths if statuses[p] != 0x0000])
    final = _rows(url, sops)

    print(
        f"\nR1 restart: {len(acknowledged)} acknowledged, {len(failures)} failure statuses, "
        f"{len(unstored)} not stored after the first pass"
    )
    assert restarted_while_sending
    assert lost == []  # every 0x0000 is stored
    assert silent == []  # every instance not stored got a failure status
    assert [r.status for r in retried] == [0x0000] * len(retried)
    assert len(final) == INSTANCES and _duplicates(url) == 0
    assert _mismatched(files, final, scp_process.storage_dir) == []
