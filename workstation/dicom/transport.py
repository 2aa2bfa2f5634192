"""The listener's transport hardening on top of pynetdicom's threaded server.

pynetdicom trusts its peers in three ways this module takes away:

- it reads as many bytes as a PDU header announces, so one peer announcing 1 GiB and sending
  it makes the listener hold 1 GiB; here a PDU longer than the negotiated maximum ends only
  that association;
- accepted sockets have no timeout, so a peer that sends half a PDU header holds an
  association slot for ever; here every read times out after the network timeout;
- with TLS it runs the handshake on the accepting thread, so one silent TCP client stops
  every other client from connecting; here the handshake runs on the connection's thread.
"""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path
from typing import Any

from pynetdicom import AE
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from workstation.dicom.contexts import fast_copy_contexts

logger = logging.getLogger(__name__)

# A PDU may carry this much more than the negotiated maximum (its own item headers).
PDU_HEADROOM = 1024
# Without a negotiated maximum (``DICOM_MAX_PDU=0``), no PDU may announce more than this.
PDU_CEILING = 64 * 1024 * 1024


class _BoundedSocket(AssociationSocket):
    """An association socket that refuses to read a PDU longer than ``limit`` bytes."""

    limit = PDU_CEILING

    def recv(self, nr_bytes: int) -> bytearray:
        if nr_bytes > self.limit:
            peer = self.assoc.requestor.address_info
            logger.warning(
                "association from %s aborted: a PDU announced %d bytes (limit %d)",
                peer.address if peer else "?",
                nr_bytes,
                self.limit,
            )
            return bytearray()  # pynetdicom reads a short PDU as the connection closing
        return super().recv(nr_bytes)


class _Handler(RequestHandler):
    """Finishes the TLS handshake on this connection's thread, then bounds its reads."""

    bounded_socket: type[_BoundedSocket] = _BoundedSocket

    def handle(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                logger.warning("TLS handshake from %s refused: %s", self.client_address, exc)
                return
        super().handle()

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        # The socket pynetdicom made is already registered (its connection event is queued);
        # giving it the bounded read keeps that state intact.
        assoc.dul.socket.__class__ = self.bounded_socket
        return assoc


class _Server(ThreadedAssociationServer):
    """Gives each accepted socket a read timeout and defers its TLS handshake."""

    connection_timeout: float | None = None

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        assert self.socket is not None
        client, address = self.socket.accept()
        client.settimeout(self.connection_timeout)
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address


def tls_context(cert: Path | None, key: Path | None, ca: Path | None) -> ssl.SSLContext | None:
    """The listener's TLS context (DICOM PS3.15 B.1), or ``None`` when ``cert`` is unset.

    With ``ca`` set, a client must present a certificate that chains to it; any other client
    is refused during the handshake, before an association exists.
    """
    if cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED if ca else ssl.CERT_NONE
    return context


def hardened_server(
    ae: AE,
    address: tuple[str, int],
    *,
    evt_handlers: list[Any],
    max_pdu: int,
    read_timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> ThreadedAssociationServer:
    """A listening (not yet serving) server for ``ae``; call ``serve_forever`` on it.

    ``max_pdu`` is the negotiated maximum PDU length (0: none, ``PDU_CEILING`` applies).
    """
    limit = max_pdu + PDU_HEADROOM if max_pdu else PDU_CEILING
    bounded = type("_Bounded", (_BoundedSocket,), {"limit": limit})
    handler = type("_BoundedHandler", (_Handler,), {"bounded_socket": bounded})
    server = ae.make_server(
        address,
        ssl_context=ssl_context,
        evt_handlers=evt_handlers,
        server_class=_Server,
        request_handler=handler,
    )
    assert isinstance(server, _Server)
    server.connection_timeout = read_timeout
    # Each association deep-copies these; the cheap copy took that from 60-180 ms to ~1 ms.
    server.contexts = fast_copy_contexts(server.contexts)
    ae._servers.append(server)  # as ``AE.start_server`` does: the server's shutdown expects it
    return server
