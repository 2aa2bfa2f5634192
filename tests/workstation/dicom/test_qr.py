"""Query/retrieve SCP (C-FIND, C-MOVE, C-GET) driven by pynetdicom as the SCU."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tests.conftest import LiveScp, free_port
from tests.factories import cr_dataset, shared_dicom, write
from tests.workstation.dicomweb.conftest import ingest
from workstation.audit.models import AuditEvent

SIIM = "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


@dataclass
class Receiver:
    """A storage SCP standing in for a PACS or workstation that takes C-MOVE sub-operations."""

    ae_title: str
    port: int
    received: list[Dataset] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver("DEST", free_port())
    ae = AE(ae_title=target.ae_title)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)

    def on_store(event: evt.Event) -> int:
        target.received.append(event.dataset)
        return 0x0000

    server = ae.start_server(
        ("127.0.0.1", target.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    yield target
    server.shutdown()


@pytest.fixture
def studies(live_scp: LiveScp, tmp_path: Path) -> list[Dataset]:
    """Three patients' studies, and the real SIIM chest radiograph (JPEG baseline)."""
    datasets = [
        cr_dataset(rows=8, columns=8, patient_id=f"QR-{n}", PatientName=f"Doe^{name}", seed=n)
        for n, name in enumerate(("Alice", "Adam", "Zoe"))
    ]
    for ds in datasets:
        ingest(write(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm"))
    (siim,) = shared_dicom(SIIM)
    ingest(siim)
    return [*datasets, pydicom.dcmread(siim)]


def _associate(live_scp: LiveScp, *contexts: str) -> object:
    ae = AE(ae_title="QR-SCU")
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate(live_scp.host, live_scp.port, ae_title=live_scp.ae_title)
    assert assoc.is_established
    return assoc


def _find(assoc: object, query: Dataset, model: str) -> tuple[list[Dataset], Dataset]:
    matches, final = [], Dataset()
    for status, identifier in assoc.send_c_find(query, model):  # type: ignore[attr-defined]
        if status.Status in (0xFF00, 0xFF01):
            matches.append(identifier)
        else:
            final = status
    return matches, final


def test_it_finds_studies_by_patient_id_and_name_wildcard(
    live_scp: LiveScp, studies: list[Dataset]
) -> None:
    assoc = _associate(live_scp, StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "doe^a*"
    query.PatientID = ""
    query.StudyInstanceUID = ""
    query.NumberOfStudyRelatedInstances = ""
    query.ModalitiesInStudy = ""
    matches, final = _find(assoc, query, StudyRootQueryRetrieveInformationModelFind)
    assoc.release()  # type: ignore[attr-defined]
    assert final.Status == 0x0000
    assert sorted(m.PatientID for m in matches) == ["QR-0", "QR-1"]
    assert {m.StudyInstanceUID for m in matches} == {s.StudyInstanceUID for s in studies[:2]}
    assert all(
        m.NumberOfStudyRelatedInstances == 1 and m.ModalitiesInStudy == "CR" for m in matches
    )
    assert all(m.RetrieveAETitle == live_scp.ae_title for m in matches)
    assert AuditEvent.objects.filter(object_type="c-find", username="dicom:QR-SCU").count() == 1


def test_it_finds_patients_and_series_in_the_patient_root_model(
    live_scp: LiveScp, studies: list[Dataset]
) -> None:
    assoc = _associate(live_scp, PatientRootQueryRetrieveInformationModelFind)
    patients = Dataset()
    patients.QueryRetrieveLevel = "PATIENT"
    patients.PatientID = "QR-2"
    patients.PatientName = ""
    (patient,), _ = _find(assoc, patients, PatientRootQueryRetrieveInformationModelFind)
    assert str(patient.PatientName) == "Doe^Zoe"
    series = Dataset()
    series.QueryRetrieveLevel = "SERIES"
    series.StudyInstanceUID = studies[2].StudyInstanceUID
    series.SeriesInstanceUID = ""
    series.Modality = ""
    series.NumberOfSeriesRelatedInstances = ""
    (found,), final = _find(assoc, series, PatientRootQueryRetrieveInformationModelFind)
    assoc.release()  # type: ignore[attr-defined]
    assert found.SeriesInstanceUID == studies[2].SeriesInstanceUID
    assert found.Modality == "CR" and final.Status == 0x0000


def test_it_bounds_a_wildcard_only_query_and_says_so(
    live_scp: LiveScp, studies: list[Dataset], settings: object
) -> None:
    settings.DICOM_QR_MAX_MATCHES = 2  # type: ignore[attr-defined]
    assoc = _associate(live_scp, StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.PatientName = "*"
    matches, final = _find(assoc, query, StudyRootQueryRetrieveInformationModelFind)
    assert len(matches) == 2
    assert final.Status == 0xA700  # refused: out of resources, after the first matches
    assert "narrow the query" in final.ErrorComment
    # The association stays in step: the next query gets its own answer.
    narrow = Dataset()
    narrow.QueryRetrieveLevel = "STUDY"
    narrow.StudyInstanceUID = ""
    narrow.PatientID = "QR-2"
    (match,), final = _find(assoc, narrow, StudyRootQueryRetrieveInformationModelFind)
    assoc.release()  # type: ignore[attr-defined]
    assert match.StudyInstanceUID == studies[2].StudyInstanceUID and final.Status == 0x0000


@pytest.mark.parametrize(
    ("level", "keys"),
    [
        ("PATIENT", {"PatientID": ""}),  # no PATIENT level in the Study Root model
        ("WARD", {"PatientID": ""}),
        ("STUDY", {"StudyDate": "20240301-20240101"}),
    ],
)
def test_it_refuses_identifiers_it_cannot_match(
    live_scp: LiveScp, studies: list[Dataset], level: str, keys: dict[str, str]
) -> None:
    assoc = _associate(live_scp, StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    matches, final = _find(assoc, query, StudyRootQueryRetrieveInformationModelFind)
    assoc.release()  # type: ignore[attr-defined]
    assert matches == [] and final.Status == 0xA900


def _move(live_scp: LiveScp, identifier: Dataset, destination: str) -> list[Dataset]:
    assoc = _associate(live_scp, StudyRootQueryRetrieveInformationModelMove)
    statuses = [
        status
        for status, _ in assoc.send_c_move(  # type: ignore[attr-defined]
            identifier, destination, StudyRootQueryRetrieveInformationModelMove
        )
    ]
    assoc.release()  # type: ignore[attr-defined]
    return statuses


def test_it_moves_a_real_chest_study_to_a_configured_destination(
    live_scp: LiveScp, studies: list[Dataset], receiver: Receiver, settings: object
) -> None:
    settings.DICOM_MOVE_DESTINATIONS = {receiver.ae_title: ("127.0.0.1", receiver.port)}  # type: ignore[attr-defined]
    siim = studies[3]
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = siim.StudyInstanceUID
    statuses = _move(live_scp, identifier, receiver.ae_title)
    assert statuses[-1].Status == 0x0000
    assert statuses[-1].NumberOfCompletedSuboperations == 1
    (received,) = receiver.received
    assert received.SOPInstanceUID == siim.SOPInstanceUID
    assert received.PixelData == siim.PixelData  # JPEG stream sent as stored
    audit = AuditEvent.objects.get(object_type=f"c-move to {receiver.ae_title}")
    assert audit.username == "dicom:QR-SCU" and audit.study_uid == siim.StudyInstanceUID


def test_it_refuses_a_move_to_an_unknown_destination(
    live_scp: LiveScp, studies: list[Dataset], receiver: Receiver
) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = studies[0].StudyInstanceUID
    statuses = _move(live_scp, identifier, "NOBODY")
    assert statuses[-1].Status == 0xA801
    assert receiver.received == []


def test_it_refuses_a_move_without_a_unique_key(
    live_scp: LiveScp, studies: list[Dataset], receiver: Receiver, settings: object
) -> None:
    settings.DICOM_MOVE_DESTINATIONS = {receiver.ae_title: ("127.0.0.1", receiver.port)}  # type: ignore[attr-defined]
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "*"
    statuses = _move(live_scp, identifier, receiver.ae_title)
    assert statuses[-1].Status == 0xA900
    assert receiver.received == []


def test_it_sends_a_series_back_over_c_get(live_scp: LiveScp, studies: list[Dataset]) -> None:
    ds = studies[1]
    received: list[str] = []
    lock = threading.Lock()

    def on_store(event: evt.Event) -> int:
        with lock:
            received.append(event.dataset.SOPInstanceUID)
        return 0x0000

    ae = AE(ae_title="QR-SCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    role = build_role(ds.SOPClassUID, scp_role=True)
    assoc = ae.associate(
        live_scp.host,
        live_scp.port,
        ae_title=live_scp.ae_title,
        ext_neg=[role],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = ds.StudyInstanceUID
    identifier.SeriesInstanceUID = ds.SeriesInstanceUID
    statuses = [
        s for s, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
    ]
    assoc.release()
    assert statuses[-1].Status == 0x0000
    assert received == [ds.SOPInstanceUID]
