"""Fetching prior studies from a configured PACS: C-FIND then C-MOVE (the project as SCU),
the priors arriving through the project's own C-STORE SCP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

from tests.conftest import LiveScp, free_port
from tests.factories import cr_dataset, shared_dicom, write
from tests.workstation.dicomweb.conftest import ingest
from workstation.dicom.priors import study_priors_fetch
from workstation.studies.models import ClinicalContext, Study

SIIM = "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


@pytest.fixture
def pacs(live_scp: LiveScp, settings: object) -> Iterator[list[Dataset]]:
    """A PACS (pynetdicom) holding the real SIIM chest radiograph as the patient's prior; it
    moves studies to the project's SCP, the one destination it knows."""
    (path,) = shared_dicom(SIIM)
    held = [pydicom.dcmread(path)]
    ae = AE(ae_title="PACS")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    ae.add_requested_context(held[0].SOPClassUID, held[0].file_meta.TransferSyntaxUID)

    def on_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        wanted = event.identifier.PatientID
        for ds in held:
            if ds.PatientID == wanted:
                answer = Dataset()
                answer.QueryRetrieveLevel = "STUDY"
                answer.StudyInstanceUID = ds.StudyInstanceUID
                answer.StudyDate = ds.StudyDate
                yield 0xFF00, answer

    def on_move(event: evt.Event) -> Iterator[object]:
        assert str(event.move_destination).strip() == live_scp.ae_title
        matches = [ds for ds in held if ds.StudyInstanceUID == event.identifier.StudyInstanceUID]
        yield live_scp.host, live_scp.port
        yield len(matches)
        for ds in matches:
            yield 0xFF00, ds

    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port),
        block=False,
        evt_handlers=[(evt.EVT_C_FIND, on_find), (evt.EVT_C_MOVE, on_move)],
    )
    settings.PRIORS_PACS_HOST = "127.0.0.1"  # type: ignore[attr-defined]
    settings.PRIORS_PACS_PORT = port  # type: ignore[attr-defined]
    settings.PRIORS_PACS_AE_TITLE = "PACS"  # type: ignore[attr-defined]
    yield held
    server.shutdown()


def _new_study(tmp_path: Path, patient_id: str) -> str:
    ds = cr_dataset(rows=8, columns=8, patient_id=patient_id)
    ingest(write(ds, tmp_path / "new.dcm"))
    return str(ds.StudyInstanceUID)


def test_it_fetches_the_patients_prior_and_links_it(pacs: list[Dataset], tmp_path: Path) -> None:
    prior = pacs[0]
    current = _new_study(tmp_path, patient_id=prior.PatientID)

    result = study_priors_fetch(study_uid=current)

    assert result is not None
    assert result.requested == [prior.StudyInstanceUID] and result.failed == []
    fetched = Study.objects.get(study_uid=prior.StudyInstanceUID)
    context = ClinicalContext.objects.get(study__study_uid=current)
    assert list(context.prior_studies.all()) == [fetched]
    # A second run finds the prior already here and moves nothing.
    assert study_priors_fetch(study_uid=current).requested == []  # type: ignore[union-attr]


def test_it_asks_nothing_for_a_study_without_patient_id(
    pacs: list[Dataset], tmp_path: Path
) -> None:
    assert study_priors_fetch(study_uid=_new_study(tmp_path, patient_id="")) is None


def test_an_unreachable_pacs_is_a_connection_error(
    live_scp: LiveScp, tmp_path: Path, settings: object
) -> None:
    settings.PRIORS_PACS_PORT = free_port()  # type: ignore[attr-defined]
    settings.DICOM_ACSE_TIMEOUT = 2.0  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        study_priors_fetch(study_uid=_new_study(tmp_path, patient_id="P-9"))


@pytest.mark.slow
def test_a_new_study_has_its_priors_fetched_by_the_worker(
    pacs: list[Dataset], tmp_path: Path, celery_worker: object
) -> None:
    from tests.conftest import wait_for

    prior = pacs[0]
    current = _new_study(tmp_path, patient_id=prior.PatientID)

    def linked() -> bool:
        context = ClinicalContext.objects.filter(study__study_uid=current).first()
        return context is not None and context.prior_studies.exists()

    assert wait_for(linked, timeout=60)
    assert ClinicalContext.objects.get(study__study_uid=current).prior_studies.get().study_uid == (
        prior.StudyInstanceUID
    )
