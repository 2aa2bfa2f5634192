"""R3: the listener's network edge. Association limits, idle timeouts, the calling AE
allow-list, hostile raw PDUs and optional DICOM TLS, each over real loopback sockets."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import struct
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.conftest import LiveScp
from tests.reliability.scp_support import (
    ASSOCIATE_AC,
    ASSOCIATE_RJ,
    captured_associate_rq,
    closed_within,
    echo,
    raw_associate,
    rss_bytes,
    scp_running,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


def test_associations_beyond_the_limit_are_refused_as_a_transient_local_limit(
    storage_dir: Path,
) -> None:
    with scp_running(storage_dir, max_associations=3) as scp:
        held = [raw_associate(scp, calling=f"HOLD{i}") for i in range(3)]
        extra = [raw_associate(scp, calling=f"EXTRA{i}") for i in range(5)]
        for conn, _ in held + extra:
            conn.close()
        time.sleep(0.5)  # the held associations' threads notice their sockets closed
        after = echo(scp)

    assert [answer[0] if answer else None for _, answer in held] == [ASSOCIATE_AC] * 3
    # A-ASSOCIATE-RJ: result 2 rejected-transient, source 3 service-provider (presentation),
    # reason 2 local-limit-exceeded (PS3.8 9.3.4).
    rejections = [answer[1][1:4] if answer else None for _, answer in extra]
    assert rejections == [bytes([2, 3, 2])] * 5
    assert after == 0x0000  # a freed slot is usable again


def test_an_idle_connection_and_an_idle_association_are_closed_within_the_timeouts(
    storage_dir: Path,
) -> None:
    with scp_running(storage_dir, acse_timeout=1.0, network_timeout=1.5) as scp:
        silent = socket.create_connection((scp.host, scp.port), timeout=10)
        started = time.monotonic()
        silent_closed = closed_within(silent, 1.0 + 3.0)
        silent_after = time.monotonic() - started
        idle, answer = raw_associate(scp)
        started = time.monotonic()
        idle_closed = closed_within(idle, 1.5 + 3.0)
        idle_after = time.monotonic() - started
        silent.close()
        idle.close()

    assert answer is not None and answer[0] == ASSOCIATE_AC
    assert silent_closed and silent_after >= 0.5, silent_after
    assert idle_closed and idle_after >= 1.0, idle_after


def test_unlisted_calling_ae_titles_are_refused_and_listed_ones_served(storage_dir: Path) -> None:
    allowed = ("MODALITY1", "PACS")
    strangers = ("STRANGER", "modality1", "PACS2", "RADWS", "MODALITY")
    malformed = ("", "MODALITY1\\")  # all spaces; a backslash
    with scp_running(storage_dir, allowed_calling_ae_titles=allowed) as scp:
        refused = []
        for title in strangers + malformed:
            conn, answer = raw_associate(scp, calling=title)
            conn.close()
            refused.append(answer[1][1:4] if answer and answer[0] == ASSOCIATE_RJ else answer)
        served = [echo(scp, calling=title) for title in allowed]

    # result 1 rejected-permanent, source 1 service-user, reason 3 calling AE not recognised
    assert refused[: len(strangers)] == [bytes([1, 1, 3])] * len(strangers)
    # A title no AE may have is not negotiated at all (rejected, aborted or closed).
    assert [a is None or a[0] != ASSOCIATE_AC for a in refused[len(strangers) :]] == [True] * 2
    assert served == [0x0000] * len(allowed)


def _hostile_pdus(associate_rq: bytes) -> dict[str, bytes]:
    return {
        "short": b"\x01\x00",
        "truncated": associate_rq[: len(associate_rq) // 2],
        "unknown-type": b"\x99\x00" + struct.pack(">L", 4) + b"\x00" * 4,
        "zero-length-rq": b"\x01\x00\x00\x00\x00\x00",
        "garbage-rq": b"\x01\x00" + struct.pack(">L", 64) + b"\xff" * 64,
        "announces-1GiB": b"\x01\x00" + struct.pack(">L", 1024 * MiB),
        "pdata-announces-1GiB": b"\x04\x00" + struct.pack(">L", 1024 * MiB),
    }


class _Bystander(threading.Thread):
    """An association that sends a C-ECHO every 0.2 s while hostile peers come and go."""

    def __init__(self, scp: LiveScp) -> None:
        super().__init__(daemon=True)
        self.scp = scp
        self.statuses: list[int | None] = []
        self.stop = threading.Event()

    def run(self) -> None:
        ae = AE(ae_title="BYSTANDER")
        ae.add_requested_context(Verification)
        assoc = ae.associate(self.scp.host, self.scp.port, ae_title=self.scp.ae_title)
        while assoc.is_established and not self.stop.wait(0.2):
            answer = assoc.send_c_echo()
            self.statuses.append(answer.get("Status") if answer else None)
        self.established_to_the_end = assoc.is_established
        if assoc.is_established:
            assoc.release()


def test_hostile_raw_pdus_abort_only_their_own_association_without_memory_growth(
    storage_dir: Path,
) -> None:
    rq = captured_associate_rq(calling="RAW-SCU")
    with scp_running(storage_dir, acse_timeout=2.0, network_timeout=2.0) as scp:
        bystander = _Bystander(scp)
        bystander.start()
        before = rss_bytes()
        closed: dict[str, bool] = {}
        for name, pdu in _hostile_pdus(rq).items():
            for _ in range(3):
                conn = socket.create_connection((scp.host, scp.port), timeout=10)
                if name == "pdata-announces-1GiB":
                    conn.sendall(rq)
                    conn.recv(65536)  # the A-ASSOCIATE-AC
                conn.sendall(pdu)
                if "1GiB" in name:
                    # Keep sending what the header announced: the listener must not hold it.
                    with contextlib.suppress(OSError):
                        for _ in range(64):
                            conn.sendall(b"\x00" * MiB)
                closed[name] = closed.get(name, True) and closed_within(conn, 2.0 + 3.0)
                conn.close()
        growth = rss_bytes() - before
        bystander.stop.set()
        bystander.join(timeout=10)
        after = echo(scp)

    assert closed == dict.fromkeys(_hostile_pdus(rq), True)
    assert growth < 32 * MiB, f"RSS grew {growth / MiB:.0f} MiB"
    assert len(bystander.statuses) >= 10
    assert set(bystander.statuses) == {0x0000} and bystander.established_to_the_end
    assert after == 0x0000


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _client(ca: Path, cert: tuple[Path, Path] | None) -> tuple[ssl.SSLContext, str]:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert is not None:
        context.load_cert_chain(*cert)
    return context, "127.0.0.1"


def test_dicom_tls_serves_a_trusted_client_and_refuses_untrusted_certificates(
    storage_dir: Path, tmp_path: Path
) -> None:
    ca_key, rogue_key = _key(), _key()
    ca = _cert("Test Hospital CA", ca_key, ca=True)
    rogue_ca = _cert("Rogue CA", rogue_key, ca=True)
    ca_path, _ = _write(tmp_path, "ca", ca, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _write(
        tmp_path, "server", _cert("RADWS", server_key, ("Test Hospital CA", ca_key)), server_key
    )
    client = _write(
        tmp_path, "client", _cert("MODALITY1", client_key, ("Test Hospital CA", ca_key)), client_key
    )
    stranger = _write(
        tmp_path,
        "stranger",
        _cert("MODALITY1", stranger_key, ("Rogue CA", rogue_key)),
        stranger_key,
    )
    self_signed = _write(tmp_path, "self", _cert("MODALITY1", stranger_key), stranger_key)
    del rogue_ca

    with scp_running(
        storage_dir, tls_cert=server[0], tls_key=server[1], tls_ca=ca_path, acse_timeout=2.0
    ) as scp:
        # A client that connects and never starts its handshake must not hold up the others.
        silent = socket.create_connection((scp.host, scp.port))
        trusted = echo(scp, tls=_client(ca_path, client))
        untrusted = [
            echo(scp, tls=_client(ca_path, cert)) for cert in (stranger, self_signed, None)
        ]
        plain = echo(scp)
        trusted_again = echo(scp, tls=_client(ca_path, client))
        silent.close()

    assert trusted == 0x0000
    assert untrusted == [None, None, None]
    assert plain is None  # no TLS, no association
    assert trusted_again == 0x0000
