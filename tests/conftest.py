"""Shared fixtures: named actors, a live SCP on a free port, a real Celery worker."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser

from workstation.accounts.roles import Role, roles_ensure
from workstation.accounts.services import user_create_with_role

PASSWORD = "correct-horse-battery-staple"


def _user(username: str, role: Role | None) -> AbstractUser:
    from django.contrib.auth import get_user_model

    roles_ensure()
    if role is None:
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        return user  # type: ignore[no-any-return]
    user_create_with_role(username=username, role=role, password=PASSWORD)
    return get_user_model().objects.get(username=username)  # type: ignore[no-any-return]


@pytest.fixture
def reader(db: None) -> AbstractUser:
    """A radiologist reading the worklist."""
    return _user("reader", Role.RADIOLOGIST)


@pytest.fixture
def attending(db: None) -> AbstractUser:
    """A second radiologist."""
    return _user("attending", Role.RADIOLOGIST)


@pytest.fixture
def clinician(db: None) -> AbstractUser:
    return _user("clinician", Role.CLINICIAN)


@pytest.fixture
def manager(db: None) -> AbstractUser:
    return _user("manager", Role.MANAGER)


@pytest.fixture
def administrator(db: None) -> AbstractUser:
    """Holds the admin role (a superuser, staff)."""
    return _user("administrator", Role.ADMIN)


@pytest.fixture
def outsider(db: None) -> AbstractUser:
    """Signed in, but holds no role."""
    return _user("outsider", None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveScp:
    host: str
    port: int
    ae_title: str
    storage_dir: Path


@pytest.fixture
def storage_dir(tmp_path: Path, settings: object) -> Path:
    path = tmp_path / "dicom-store"
    path.mkdir()
    settings.DICOM_STORAGE_DIR = path  # type: ignore[attr-defined]
    return path


@pytest.fixture
def live_scp(transactional_db: None, storage_dir: Path) -> Iterator[LiveScp]:
    """The project's SCP listening on a free loopback port, storing under a temp dir."""
    from workstation.dicom.scp import ScpConfig, start_scp

    port = free_port()
    config = ScpConfig.from_settings(host="127.0.0.1", port=port, storage_dir=storage_dir)
    server = start_scp(config, block=False)
    assert server is not None
    yield LiveScp("127.0.0.1", port, config.ae_title, storage_dir)
    server.shutdown()


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[object]:
    """A real Celery worker (threads) consuming the real Redis broker's queues."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from workstation.celery import app

    queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.DRAFT_QUEUE]
    with app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_purge(queue)
    with start_worker(
        app, queues=queues, perform_ping_check=False, pool="threads", concurrency=1
    ) as worker:
        yield worker


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny reference model (trained once per process) saved as a model directory."""
    from inference.models.checkpoint import ModelCard
    from tests.inference.models.synthetic import trained_tiny

    directory = tmp_path_factory.mktemp("demo-model")
    card = ModelCard(name="reference-tiny", version="test-1", training_data="synthetic discs")
    trained_tiny().model.save_pretrained(directory, card)
    return directory


@pytest.fixture
def drafting_model(tiny_model_dir: Path, settings: object, tmp_path: Path) -> Iterator[Path]:
    """Drafting jobs use the tiny model, writing heatmaps under this test's tmp dir."""
    from inference import services

    settings.DRAFT_MODEL_DIR = tiny_model_dir  # type: ignore[attr-defined]
    settings.HEATMAP_DIR = tmp_path / "heatmaps"  # type: ignore[attr-defined]
    services._backend.cache_clear()
    yield tiny_model_dir
    services._backend.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _stray_connections_closed(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """Close, at the end of the run, connections the test process left on the test database.

    ORM calls made between Playwright steps run in another context than pytest-django's, so
    their connections are not closed by it; the test database could then not be dropped and
    ``test_radws_<pid>`` databases piled up on a shared server. Runs before the drop.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
