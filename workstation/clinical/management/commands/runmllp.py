"""``manage.py runmllp``: the HL7 v2 listener (ORM^O01, ORU^R01 over MLLP) for clinical context."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workstation.clinical.hl7v2 import hl7_message_handle
from workstation.clinical.mllp import MllpServer


def _stop(*_: object) -> None:
    # serve_forever runs in this (the main) thread, so shutdown() would wait for itself.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Receive HL7 v2 ORM^O01 / ORU^R01 over MLLP (HL7_MLLP_HOST:HL7_MLLP_PORT); ACK each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="default: HL7_MLLP_HOST")
        parser.add_argument("--port", type=int, default=None, help="default: HL7_MLLP_PORT")

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or settings.HL7_MLLP_HOST
        port = options["port"] or settings.HL7_MLLP_PORT
        try:
            server = MllpServer(
                (host, port),
                hl7_message_handle,
                timeout_seconds=settings.HL7_MLLP_TIMEOUT,
                max_bytes=settings.HL7_MAX_MESSAGE_BYTES,
            )
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(
            f"HL7 MLLP listener on {host}:{server.server_address[1]} (ORM^O01, ORU^R01)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
