"""A C-STORE client (pynetdicom) that sends Part 10 files as they are, over N associations.

Used by ``send_demo_studies``, the tests and the benchmarks. Files are sent without decoding
and re-encoding (pynetdicom's chunked send), so the receiver gets the dataset bytes of the
file exactly. Django-free.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset

logger = logging.getLogger(__name__)

# Send the bytes after the File Meta as they are in the file (no decode/re-encode).
_config.STORE_SEND_CHUNKED_DATASET = True


@dataclass(frozen=True)
class SendResult:
    path: Path
    status: int | None  # DIMSE status; None when the association failed before an answer
    error: str = ""


def _contexts(paths: Sequence[Path]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for path in paths:
        meta, _ = split_dataset(path)
        pair = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
        if pair not in pairs:
            pairs.append(pair)
    if len(pairs) > 128:
        raise ValueError("more than 128 SOP class/transfer syntax pairs in one batch")
    return pairs


def _send_batch(
    paths: Sequence[Path], host: str, port: int, called: str, calling: str, timeout: float
) -> list[SendResult]:
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for sop_class, transfer_syntax in _contexts(paths):
        ae.add_requested_context(sop_class, transfer_syntax)
    assoc = ae.associate(host, port, ae_title=called)
    if not assoc.is_established:
        return [SendResult(p, None, "association not established") for p in paths]
    results = []
    try:
        for path in paths:
            try:
                answer = assoc.send_c_store(path)
            except (ValueError, TypeError, AttributeError, RuntimeError) as exc:
                results.append(SendResult(path, None, str(exc)))
                continue
            status = answer.get("Status") if answer else None
            results.append(SendResult(path, status, "" if status is not None else "no answer"))
            if not assoc.is_established:
                break
    finally:
        if assoc.is_established:
            assoc.release()
    results.extend(SendResult(p, None, "association ended") for p in paths[len(results) :])
    return results


def send_files(
    paths: Sequence[Path],
    *,
    host: str,
    port: int,
    called_ae_title: str = "RADWS",
    calling_ae_title: str = "RADWS-SCU",
    associations: int = 1,
    timeout: float = 30.0,
) -> list[SendResult]:
    """Send ``paths`` round-robin over ``associations`` parallel associations.

    Returns one result per path, in the order given.
    """
    paths = [Path(p) for p in paths]
    lanes = [paths[i::associations] for i in range(associations)]
    with ThreadPoolExecutor(max_workers=associations) as pool:
        futures = [
            pool.submit(_send_batch, lane, host, port, called_ae_title, calling_ae_title, timeout)
            for lane in lanes
            if lane
        ]
        by_path = {r.path: r for f in futures for r in f.result()}
    return [by_path[p] for p in paths]
