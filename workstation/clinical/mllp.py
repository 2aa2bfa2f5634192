"""An MLLP listener (HL7 v2 over TCP): frames are ``<VT> message <FS><CR>``; each received
message gets its ACK in a frame on the same connection. One thread per connection (a
hospital interface engine keeps a few connections open), bounded message size, an idle
timeout, and no input that can stop the listener."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"


class MllpHandler(socketserver.BaseRequestHandler):
    """Reads frames until the peer closes or stays idle past the server's timeout."""

    server: MllpServer

    def handle(self) -> None:
        self.request.settimeout(self.server.timeout_seconds)
        buffer = b""
        try:
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while END in buffer:
                    frame, buffer = buffer.split(END, 1)
                    self._answer(frame)
                if len(buffer) > self.server.max_bytes:
                    logger.warning(
                        "MLLP frame from %s over %d bytes: connection closed",
                        self.client_address,
                        self.server.max_bytes,
                    )
                    return
        except (TimeoutError, ConnectionError, OSError) as exc:
            logger.info("MLLP connection from %s ended: %s", self.client_address, exc)
        finally:
            connection.close()  # this thread's database connection

    def _answer(self, frame: bytes) -> None:
        start = frame.find(START)
        message = frame[start + 1 :] if start >= 0 else frame
        close_old_connections()
        ack = self.server.handle_message(message)
        self.request.sendall(START + ack.encode("utf-8") + END)


class MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handle_message: Callable[[bytes], str],
        *,
        timeout_seconds: float = 30.0,
        max_bytes: int = 1024 * 1024,
    ) -> None:
        self.handle_message = handle_message
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        super().__init__(address, MllpHandler)


def send_message(host: str, port: int, message: str, timeout: float = 10.0) -> str:
    """Send one HL7 message over MLLP and return the ACK's text (a client for tests and
    for checking a deployment by hand)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(START + message.encode("utf-8") + END)
        received = b""
        while END not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.split(END, 1)[0].lstrip(START).decode("utf-8")


def serve_in_thread(server: MllpServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="mllp", daemon=True)
    thread.start()
    return thread
