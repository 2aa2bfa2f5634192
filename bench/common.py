"""What every benchmark shares: the machine description, percentiles, figures with their units
and spread, free ports, and the throw-away project stack (embedded PostgreSQL and Redis under a
temporary VAR_DIR, so no shared database is touched).

A figure is ``{"value", "unit", "runs", "spread"}``: ``runs`` is how many measurements it
summarises and ``spread`` their range (or interquartile range for latencies), so a reader can
tell a steady figure from a noisy one. Imports no Django.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]


def machine() -> dict[str, Any]:
    """CPU, memory and versions of what was measured, for bench/results.json."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def figure(
    value: float, unit: str, *, runs: int = 1, spread: float | None = None
) -> dict[str, Any]:
    return {
        "value": round(float(value), 3),
        "unit": unit,
        "runs": runs,
        "spread": None if spread is None else round(float(spread), 3),
    }


def latency_figures(latencies_ms: Sequence[float], prefix: str = "latency") -> dict[str, Any]:
    """P50/P95/P99 of ``latencies_ms``; the spread of each is the interquartile range."""
    iqr = percentile(latencies_ms, 75) - percentile(latencies_ms, 25)
    return {
        f"{prefix}_p{q}": figure(
            percentile(latencies_ms, q), "ms", runs=len(latencies_ms), spread=iqr
        )
        for q in (50, 95, 99)
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until 127.0.0.1:``port`` accepts; fail at once if ``process`` (the server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def serve_web(
    port: int, env: dict[str, str], log: Path | None = None, timeout: float = 60.0
) -> subprocess.Popen[bytes]:
    """The project's ASGI application under daphne on 127.0.0.1:``port``, once it accepts
    (its stderr appended to ``log``, else discarded); stopped again if it never does."""
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with (log or Path(os.devnull)).open("ab") as sink:
        web = subprocess.Popen(
            [*command, "workstation.asgi:application"],
            env=env,
            cwd=BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_for_port(port, timeout=timeout, process=web)
    except BaseException:
        stop(web)
        raise
    return web


@dataclass(frozen=True)
class Stack:
    """A throw-away project environment: ``env`` points every manage.py it runs at it."""

    root: Path
    env: dict[str, str]

    def manage(self, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*MANAGE, *args], env=self.env, cwd=BASE_DIR, **popen)

    def run(self, *args: str) -> None:
        subprocess.run([*MANAGE, *args], env=self.env, cwd=BASE_DIR, check=True)


@contextmanager
def project_stack(root: Path, **overrides: str) -> Iterator[Stack]:
    """Embedded PostgreSQL and Redis under ``root/var`` (migrated), stopped on exit.

    DATABASE_URL/REDIS_URL are dropped from the environment on purpose: the benchmark must not
    write 10,000 studies into a database someone else uses.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        VAR_DIR=str(root / "var"),
        EMBEDDED_REDIS_PORT=str(free_port()),
        DICOM_STORAGE_DIR=str(root / "store"),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="workstation.settings.base",
    )
    env.update(overrides)
    stack = Stack(root, env)
    stack.run("migrate", "-v", "0")
    try:
        yield stack
    finally:
        # The last process out stops the embedded servers; make sure one runs and exits.
        subprocess.run([*MANAGE, "check", "-v", "0"], env=env, cwd=BASE_DIR, check=False)


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
