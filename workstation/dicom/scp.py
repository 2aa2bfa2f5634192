"""The DICOM listener: C-ECHO and C-STORE SCP (pynetdicom).

The C-STORE handler validates, stores the file durably under its content-hash path, commits
the database row and only then answers Success. Every failure path answers a DIMSE failure
status (named in a comment) and writes a log line; no input stops the listener.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from workstation.dicom.ingest import IngestRefused, StoreStatus
from workstation.dicom.ingest_counts import ingest_failure_count
from workstation.dicom.part10 import encode_preamble_and_meta
from workstation.dicom.qr import qr_contexts_add, qr_handlers
from workstation.dicom.transport import hardened_server, tls_context
from workstation.studies import services
from workstation.studies.storage import StorageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScpConfig:
    ae_title: str
    host: str
    port: int
    storage_dir: Any  # pathlib.Path
    allowed_calling_ae_titles: tuple[str, ...]
    max_associations: int
    acse_timeout: float
    dimse_timeout: float
    network_timeout: float
    maximum_pdu_size: int
    tls_cert: Path | None = None  # PEM certificate chain; TLS is on when set
    tls_key: Path | None = None
    tls_ca: Path | None = None  # client certificates must chain to this CA when set

    @classmethod
    def from_settings(cls, **overrides: Any) -> ScpConfig:
        values: dict[str, Any] = {
            "ae_title": settings.DICOM_AE_TITLE,
            "host": settings.DICOM_HOST,
            "port": settings.DICOM_PORT,
            "storage_dir": settings.DICOM_STORAGE_DIR,
            "allowed_calling_ae_titles": tuple(settings.DICOM_ALLOWED_CALLING_AE_TITLES),
            "max_associations": settings.DICOM_MAX_ASSOCIATIONS,
            "acse_timeout": settings.DICOM_ACSE_TIMEOUT,
            "dimse_timeout": settings.DICOM_DIMSE_TIMEOUT,
            "network_timeout": settings.DICOM_NETWORK_TIMEOUT,
            "maximum_pdu_size": settings.DICOM_MAX_PDU,
            "tls_cert": settings.DICOM_TLS_CERT,
            "tls_key": settings.DICOM_TLS_KEY,
            "tls_ca": settings.DICOM_TLS_CA,
        }
        values.update(overrides)
        return cls(**values)


def handle_store(event: Event, config: ScpConfig) -> int:
    """C-STORE: answer Success only after the file is fsynced and its row committed; a
    refusal is counted for ``/metrics`` under its status."""
    status = _store(event, config)
    if status != StoreStatus.SUCCESS:
        ingest_failure_count(status=int(status))
    return status


def _store(event: Event, config: ScpConfig) -> int:
    request = cast(C_STORE, event.request)
    calling = event.assoc.requestor.ae_title
    sop_uid = str(request.AffectedSOPInstanceUID or "")[:80]
    try:
        context = event.context
        transfer_syntax = str(context.transfer_syntax)
        try:
            dataset = event.dataset
        except Exception as exc:  # pydicom raises many types on corrupt bytes
            # 0xC000 Cannot understand: the dataset does not decode
            logger.warning("C-STORE from %s refused: undecodable dataset (%s)", calling, exc)
            return StoreStatus.CANNOT_UNDERSTAND
        try:
            # Reading the header may decode elements lazily, and fail only then.
            dataset.get("SOPInstanceUID")
        except Exception as exc:  # pydicom raises many types on corrupt bytes
            # 0xC000 Cannot understand: header elements do not decode
            logger.warning("C-STORE from %s refused: unreadable header (%s)", calling, exc)
            return StoreStatus.CANNOT_UNDERSTAND
        result = services.instance_ingest(
            dataset=dataset,
            dataset_bytes=event.encoded_dataset(include_meta=False),
            preamble_and_meta=encode_preamble_and_meta(event.file_meta),
            transfer_syntax_uid=transfer_syntax,
            affected_sop_class_uid=str(request.AffectedSOPClassUID or ""),
            affected_sop_uid=str(request.AffectedSOPInstanceUID or ""),
            source=calling,
            storage_dir=config.storage_dir,
        )
    except IngestRefused as refused:
        # status named on StoreStatus (0x0122, 0xA900, 0xC001, 0xC002, 0xC003)
        logger.warning(
            "C-STORE %s from %s refused 0x%04X: %s",
            sop_uid,
            calling,
            refused.status,
            refused.message,
        )
        return refused.status
    except StorageError as exc:
        # 0xA700 Out of resources: the disk refused; the sender should retry
        logger.error("C-STORE %s from %s: storage failed: %s", sop_uid, calling, exc)
        return StoreStatus.OUT_OF_RESOURCES
    except DatabaseError as exc:
        # 0xA700 Out of resources: database unavailable; the file is stored, the row is not
        logger.error("C-STORE %s from %s: database failed: %s", sop_uid, calling, exc)
        connection.close()
        return StoreStatus.OUT_OF_RESOURCES
    except Exception:
        # 0xC000 Cannot understand: anything unforeseen is refused, never acknowledged
        logger.exception("C-STORE %s from %s: unexpected failure", sop_uid, calling)
        return StoreStatus.CANNOT_UNDERSTAND
    logger.info(
        "C-STORE %s from %s stored (%s)",
        sop_uid,
        calling,
        "new" if result.created else ("replaced lossy copy" if result.replaced else "duplicate"),
    )
    return StoreStatus.SUCCESS


def handle_echo(event: Event) -> int:
    """C-ECHO: always Success (0x0000)."""
    return 0x0000


def handle_association_end(event: Event) -> None:
    """Each association runs in its own thread; give its database connection back."""
    connection.close()


def handle_association_start(event: Event) -> None:
    close_old_connections()


def build_ae(config: ScpConfig) -> AE:
    """An Application Entity configured from ``config`` (contexts, timeouts, limits)."""
    ae = AE(ae_title=config.ae_title)
    ae.maximum_associations = config.max_associations
    ae.acse_timeout = config.acse_timeout
    ae.dimse_timeout = config.dimse_timeout
    ae.network_timeout = config.network_timeout
    ae.maximum_pdu_size = config.maximum_pdu_size
    if config.allowed_calling_ae_titles:
        ae.require_calling_aet = list(config.allowed_calling_ae_titles)
    # Every storage class is negotiated so that an unsupported one gets an explicit
    # 0x0122 status and a log line from the handler rather than a silent context rejection.
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(cast(str, context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    qr_contexts_add(ae)  # C-FIND, C-MOVE, C-GET (workstation.dicom.qr)
    return ae


def start_scp(config: ScpConfig, *, block: bool = False) -> ThreadedAssociationServer | None:
    """Start listening; with ``block=False`` return the server (call ``shutdown()`` on it)."""
    config.storage_dir.mkdir(parents=True, exist_ok=True)
    ae = build_ae(config)
    handlers = [
        (evt.EVT_C_STORE, handle_store, [config]),
        (evt.EVT_C_ECHO, handle_echo),
        *qr_handlers(),
        (evt.EVT_ESTABLISHED, handle_association_start),
        (evt.EVT_RELEASED, handle_association_end),
        (evt.EVT_ABORTED, handle_association_end),
        (evt.EVT_CONN_CLOSE, handle_association_end),
    ]
    server = hardened_server(
        ae,
        (config.host, config.port),
        evt_handlers=handlers,
        max_pdu=config.maximum_pdu_size,
        read_timeout=config.network_timeout,
        ssl_context=tls_context(config.tls_cert, config.tls_key, config.tls_ca),
    )
    logger.info(
        "DICOM SCP %s listening on %s:%s%s, storing under %s",
        config.ae_title,
        config.host,
        server.server_address[1],
        " (TLS)" if config.tls_cert else "",
        config.storage_dir,
    )
    if block:
        server.serve_forever()
        return None
    threading.Thread(target=server.serve_forever, name="dicom-scp", daemon=True).start()
    return server


class SettleSweeper(threading.Thread):
    """Completes settled studies every ``interval`` seconds until ``stop()``."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="study-settle-sweeper", daemon=True)
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                services.study_settle_sweep()
            except DatabaseError as exc:
                logger.warning("settle sweep skipped, database unavailable: %s", exc)
                connection.close()
        connection.close()

    def stop(self) -> None:
        self._stopped.set()
