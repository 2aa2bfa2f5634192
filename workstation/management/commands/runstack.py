"""``manage.py runstack``: the whole workstation in one terminal (what ``make run`` starts).

Migrates, creates the demo users (printed), trains the demonstration model when there is none
and gives it a drift reference, starts the web server (ASGI, daphne), the DICOM SCP, the HL7
v2 MLLP listener, a Celery worker and Celery beat (the periodic drift check) as child
processes, sends the demo studies through the real C-STORE path, prints the URL, and on
Ctrl-C stops the children and then the embedded servers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workstation.health import check_scp


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run web + DICOM SCP + Celery worker together; Ctrl-C stops all of it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="do not send demo studies")
        parser.add_argument(
            "--no-train",
            action="store_true",
            help="do not train the demonstration model when DRAFT_MODEL_DIR has none",
        )
        parser.add_argument("--startup-timeout", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("create_demo_users", stdout=self.stdout)
        if not options["no_train"]:
            call_command("train_demo_model", if_missing=True, stdout=self.stdout)
        self._drift_reference()
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children: dict[str, list[str]] = {
            "web": [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                settings.WEB_HOST,
                "-p",
                str(settings.WEB_PORT),
                "workstation.asgi:application",
            ],
            "scp": [*manage, "runscp"],
            "mllp": [*manage, "runmllp"],  # HL7 v2 clinical context (workstation.clinical)
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workstation",
                "worker",
                "-Q",
                f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.DRAFT_QUEUE}",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            # Periodic tasks (CELERY_BEAT_SCHEDULE: the drift check every
            # DRIFT_INTERVAL_SECONDS); its schedule state is kept under VAR_DIR.
            "beat": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workstation",
                "beat",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
                "--loglevel",
                "INFO",
            ],
        }
        # The children share this process's database and Redis (DATABASE_URL/REDIS_URL are
        # in the environment, set by settings when the embedded servers were started).
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            for name, command in children.items():
                processes[name] = subprocess.Popen(
                    command, cwd=settings.BASE_DIR, env=env, start_new_session=True
                )
            self._wait_ready(processes, options["startup_timeout"], stop)
            if not options["no_demo"] and not stop.is_set():
                try:
                    call_command("send_demo_studies", stdout=self.stdout)
                except CommandError as exc:
                    self.stderr.write(f"demo studies not sent: {exc}")
            url = f"http://{settings.WEB_HOST}:{settings.WEB_PORT}/"
            self.stdout.write(self.style.SUCCESS(f"Workstation running at {url} (Ctrl-C stops)"))
            while not stop.wait(1.0):
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise CommandError(f"{name} exited with status {process.returncode}")
        finally:
            self._stop_all(processes)

    def _drift_reference(self) -> None:
        """The serving model's drift reference, made once (phantoms for the demonstration
        model); a model without one gets the way to make it printed."""
        from workstation.dashboards.drift import drift_reference_ensure

        reference = drift_reference_ensure(phantoms=settings.DRIFT_REFERENCE_PHANTOMS)
        if isinstance(reference, str):
            self.stdout.write(reference)
        else:
            self.stdout.write(
                f"Drift reference of {reference.model_version}: {reference.count} images "
                f"({reference.source})"
            )

    def _wait_ready(
        self, processes: dict[str, subprocess.Popen[bytes]], timeout: float, stop: threading.Event
    ) -> None:
        deadline = time.monotonic() + timeout
        scp_port = settings.DICOM_PORT
        while not stop.is_set():
            for name, process in processes.items():
                if process.poll() is not None:
                    raise CommandError(f"{name} exited during start-up ({process.returncode})")
            if (
                _port_open(settings.WEB_HOST, settings.WEB_PORT)
                and _port_open("127.0.0.1", scp_port)  # no C-ECHO (and its error log) before
                and check_scp("127.0.0.1", scp_port) == "ok"
            ):
                return
            if time.monotonic() > deadline:
                raise CommandError("the stack did not come up in time")
            time.sleep(0.3)

    def _stop_all(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        # Stop intake first (web, SCP, MLLP, beat), then the worker, which finishes its
        # current task.
        for name in ("web", "scp", "mllp", "beat", "worker"):
            process = processes.get(name)
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, process in processes.items():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it")
                process.kill()
                process.wait()
        self.stdout.write("All processes stopped.")
