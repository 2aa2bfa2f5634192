"""``manage.py runscp``: the DICOM C-ECHO/C-STORE listener and the study settle sweeper."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from workstation.dicom.scp import ScpConfig, SettleSweeper, start_scp


class Command(BaseCommand):
    help = "Run the DICOM Storage SCP (C-STORE, C-ECHO) until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="overrides DICOM_PORT")
        parser.add_argument("--host", default=None, help="overrides DICOM_HOST")

    def handle(self, *args: Any, **options: Any) -> None:
        overrides = {k: v for k, v in (("port", options["port"]), ("host", options["host"])) if v}
        config = ScpConfig.from_settings(**overrides)
        server = start_scp(config, block=False)
        assert server is not None
        sweeper = SettleSweeper(settings.STUDY_SWEEP_INTERVAL_SECONDS)
        sweeper.start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(
            f"DICOM SCP {config.ae_title} on {config.host}:{config.port} (Ctrl-C to stop)"
        )
        stop.wait()
        sweeper.stop()
        server.shutdown()
        sweeper.join(timeout=5)
        self.stdout.write("DICOM SCP stopped")
