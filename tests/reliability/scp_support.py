"""Helpers for the reliability tests: listeners with overrides, raw PDUs, C-ECHO, RSS."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.conftest import LiveScp, free_port

ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, ABORT = 0x01, 0x02, 0x03, 0x07


@contextmanager
def scp_running(storage_dir: Path, **overrides: Any) -> Iterator[LiveScp]:
    """The project's SCP on a free loopback port with ``ScpConfig`` overrides."""
    from workstation.dicom.scp import ScpConfig, start_scp

    port = free_port()
    config = ScpConfig.from_settings(
        host="127.0.0.1", port=port, storage_dir=storage_dir, **overrides
    )
    server = start_scp(config, block=False)
    assert server is not None
    try:
        yield LiveScp("127.0.0.1", port, config.ae_title, storage_dir)
    finally:
        server.shutdown()


def echo(scp: LiveScp, *, calling: str = "ECHO-SCU", tls: Any = None) -> int | None:
    """C-ECHO status, or ``None`` when no association was established."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 3
    assoc = ae.associate(scp.host, scp.port, ae_title=scp.ae_title, tls_args=tls)
    if not assoc.is_established:
        return None
    answer = assoc.send_c_echo()
    assoc.release()
    return answer.get("Status") if answer else None


def captured_associate_rq(calling: str = "RAW-SCU", called: str = "RADWS") -> bytes:
    """The A-ASSOCIATE-RQ PDU pynetdicom sends for a Verification association."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    captured: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            header = _recv_exact(conn, 6)
            length = struct.unpack(">L", header[2:6])[0]
            captured.append(header + _recv_exact(conn, length))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 0.5
    ae.associate("127.0.0.1", port, ae_title=called)
    thread.join(timeout=5)
    listener.close()
    return captured[0]


def _recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_pdu(conn: socket.socket) -> tuple[int, bytes] | None:
    """The next PDU's type and body, or ``None`` when the peer closed the connection."""
    header = _recv_exact(conn, 6)
    if len(header) < 6:
        return None
    length = struct.unpack(">L", header[2:6])[0]
    return header[0], _recv_exact(conn, length)


_RQ: dict[str, bytes] = {}


def raw_associate(
    scp: LiveScp, *, calling: str = "RAW-SCU"
) -> tuple[socket.socket, tuple[int, bytes] | None]:
    """Open a TCP connection, send an A-ASSOCIATE-RQ, return the socket and the answer PDU."""
    pdu = _RQ.get(scp.ae_title) or captured_associate_rq(called=scp.ae_title)
    _RQ[scp.ae_title] = pdu
    # Calling AE title: bytes 26-41 of the A-ASSOCIATE-RQ (PS3.8 9.3.2), space padded.
    pdu = pdu[:26] + calling.encode("ascii", "replace")[:16].ljust(16) + pdu[42:]
    conn = socket.create_connection((scp.host, scp.port), timeout=10)
    conn.sendall(pdu)
    return conn, read_pdu(conn)


def closed_within(conn: socket.socket, seconds: float) -> bool:
    """True when the peer closes (or aborts) ``conn`` within ``seconds``."""
    conn.settimeout(seconds)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return True
            if data[:1] == bytes([ABORT]):
                return True
    except TimeoutError:
        return False
    except OSError:
        return True


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)
