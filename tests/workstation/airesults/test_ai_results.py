"""AI results as DICOM: the TID 1500 SR of a draft round-trips through highdicom with its
findings, boxes and AI marking; GSPS per heatmap; Basic Text SR of the signed report; all
stored through the ingest path, served by QIDO, sent to the results PACS on signing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.contrib.auth.models import AbstractUser
from pydicom.sr.codedict import codes
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from rest_framework.test import APIClient

from inference.labels import Label
from reports.models import AiDraft, Report, ReportVersion
from tests.conftest import PASSWORD, free_port, wait_for
from tests.factories import shared_dicom
from tests.reports.factories import draft_make
from tests.workstation.dicomweb.conftest import ingest
from workstation.airesults.codes import FINDING_CODES, label_for_code
from workstation.airesults.services import ResultsNotSent, ai_results_publish
from workstation.studies.models import Instance, Study
from workstation.studies.storage import resolve

UNCOMPRESSED_CHEST = "nema_RG1_chest_CR_UNCI.dcm"
BOX = [100, 1200, 800, 1800]


@pytest.fixture
def draft(storage_dir: Path, db: None) -> ReportVersion:
    """The real NEMA chest radiograph, stored, with an AI draft: a pleural effusion with a
    heatmap box and cardiomegaly without one."""
    (path,) = shared_dicom(UNCOMPRESSED_CHEST)
    registration = ingest(path)
    version = draft_make(study=Study.objects.get(study_uid=registration.study_uid))
    AiDraft.objects.create(
        version=version,
        backend="reference",
        model_name="reference-tiny",
        model_version="demo-1.0",
        demonstration=True,
        processing_time_ms=12.0,
        findings=[
            {
                "label": "Pleural Effusion",
                "confidence": 0.91,
                "bounding_box": BOX,
                "heatmap": "pleural_effusion.png",
            },
            {"label": "Cardiomegaly", "confidence": 0.55, "bounding_box": None, "heatmap": None},
        ],
    )
    return version


def _stored(storage_dir: Path, sop_class: str) -> list[pydicom.Dataset]:
    return [
        pydicom.dcmread(resolve(storage_dir, i.storage_path))
        for i in Instance.objects.filter(sop_class_uid=sop_class).order_by("pk")
    ]


def test_every_label_has_a_coded_concept() -> None:
    assert set(FINDING_CODES) == set(Label)
    assert FINDING_CODES[Label.PNEUMOTHORAX].value == "36118008"
    assert all(len(code.value) <= 16 for code in FINDING_CODES.values())
    assert label_for_code("60046008", "SCT") is Label.PLEURAL_EFFUSION


def test_the_draft_sr_round_trips_with_findings_boxes_and_ai_marking(
    draft: ReportVersion, storage_dir: Path
) -> None:
    published = ai_results_publish(report_id=draft.report_id, signed=False)
    assert len(published.stored) == 2  # the SR and one GSPS (one heatmap with a box)
    (stored,) = _stored(storage_dir, "1.2.840.10008.5.1.4.1.1.88.34")
    sr = hd.sr.Comprehensive3DSR.from_dataset(stored)
    source = Instance.objects.get(sop_class_uid="1.2.840.10008.5.1.4.1.1.1")

    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert sr.VerificationFlag == "UNVERIFIED"
    assert "demonstration model, not for clinical use" in sr.SeriesDescription
    (observer,) = sr.content.get_observer_contexts()
    assert observer.observer_type == codes.DCM.Device

    (boxed,) = sr.content.get_planar_roi_measurement_groups()
    assert boxed.finding_type == FINDING_CODES[Label.PLEURAL_EFFUSION]
    reference = boxed.roi.ContentSequence[0].ReferencedSOPSequence[0]  # type: ignore[union-attr]
    assert reference.ReferencedSOPInstanceUID == source.sop_uid
    x0, y0, x1, y1 = BOX
    corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    assert np.allclose(boxed.roi.value, corners)  # type: ignore[union-attr]
    (probability,) = boxed.get_measurements(name=codes.DCM.Probability)
    assert probability.value == pytest.approx(0.91)

    (image_level,) = sr.content.get_image_measurement_groups()
    assert image_level.finding_type == FINDING_CODES[Label.CARDIOMEGALY]
    assert image_level.get_measurements()[0].value == pytest.approx(0.55)

    for group in (boxed, image_level):
        items = group[0].ContentSequence
        by_code = {i.ConceptNameCodeSequence[0].CodeValue: i for i in items}
        assert by_code[codes.DCM.AlgorithmName.value].TextValue == "reference-tiny"
        family = by_code[codes.DCM.AlgorithmFamily.value].ConceptCodeSequence[0]
        assert (family.CodeValue, family.CodingSchemeDesignator) == ("123110", "DCM")
        parameters = [
            i.TextValue
            for i in items
            if i.ConceptNameCodeSequence[0].CodeValue == codes.DCM.AlgorithmParameters.value
        ]
        assert "AI generated" in parameters


def test_a_draft_without_findings_is_published_as_one_no_finding_group(
    storage_dir: Path, db: None
) -> None:
    (path,) = shared_dicom(UNCOMPRESSED_CHEST)
    draft = draft_make(study=Study.objects.get(study_uid=ingest(path).study_uid))
    AiDraft.objects.create(  # a normal study: the model found nothing
        version=draft,
        backend="reference",
        model_name="reference-tiny",
        model_version="demo-1.0",
        processing_time_ms=12.0,
        findings=[],
    )
    published = ai_results_publish(report_id=draft.report_id, signed=False)
    assert len(published.stored) == 1  # the SR; no heatmaps, so no GSPS
    (stored,) = _stored(storage_dir, "1.2.840.10008.5.1.4.1.1.88.34")
    sr = hd.sr.Comprehensive3DSR.from_dataset(stored)
    (group,) = sr.content.get_image_measurement_groups()
    assert group.finding_type == FINDING_CODES[Label.NO_FINDING]
    assert group.get_measurements() == []


def test_the_heatmap_box_becomes_a_presentation_state_on_the_source_image(
    draft: ReportVersion, storage_dir: Path
) -> None:
    ai_results_publish(report_id=draft.report_id, signed=False)
    (state,) = _stored(storage_dir, "1.2.840.10008.5.1.4.1.1.11.1")
    source = Instance.objects.get(sop_class_uid="1.2.840.10008.5.1.4.1.1.1")
    (annotation,) = state.GraphicAnnotationSequence
    assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == source.sop_uid
    assert annotation.GraphicObjectSequence[0].GraphicType == "POLYLINE"
    assert "Pleural Effusion 0.91 (AI)" in annotation.TextObjectSequence[0].UnformattedTextValue


def test_publishing_twice_stores_each_object_once_and_qido_finds_them(
    draft: ReportVersion, storage_dir: Path, reader: AbstractUser
) -> None:
    ai_results_publish(report_id=draft.report_id, signed=False)
    ai_results_publish(report_id=draft.report_id, signed=False)
    assert Instance.objects.count() == 3  # the radiograph, the SR, the GSPS
    client = APIClient()
    client.force_authenticate(reader)
    study_uid = Report.objects.get(pk=draft.report_id).study.study_uid
    (series,) = client.get(f"/dicomweb/studies/{study_uid}/series", {"Modality": "SR"}).json()
    assert "AI findings" in series["0008103E"]["Value"][0]
    series_uid = series["0020000E"]["Value"][0]
    (metadata,) = client.get(f"/dicomweb/studies/{study_uid}/series/{series_uid}/metadata").json()
    assert "0040A730" in metadata and "7FE00010" not in metadata  # content, no pixels


def _sign(draft: ReportVersion, user: AbstractUser) -> Report:
    """Sign, accepting the effusion and rejecting the cardiomegaly."""
    from reports.content import FindingVerdict
    from reports.models import Decision
    from reports.services import report_sign

    report = Report.objects.get(pk=draft.report_id)
    report_sign(
        report=report,
        user=user,  # type: ignore[arg-type]
        password=PASSWORD,
        based_on_version=0,
        decisions=[
            FindingVerdict(Label.PLEURAL_EFFUSION, Decision.ACCEPTED),
            FindingVerdict(Label.CARDIOMEGALY, Decision.REJECTED),
        ],
    )
    return report


def test_signing_adds_a_verified_sr_of_the_confirmed_findings_only(
    draft: ReportVersion, storage_dir: Path, reader: AbstractUser
) -> None:
    _sign(draft, reader)
    ai_results_publish(report_id=draft.report_id, signed=True)
    draft_sr, verified = _stored(storage_dir, "1.2.840.10008.5.1.4.1.1.88.34")
    assert draft_sr.VerificationFlag == "UNVERIFIED"
    sr = hd.sr.Comprehensive3DSR.from_dataset(verified)
    assert sr.VerificationFlag == "VERIFIED"
    assert sr.VerifyingObserverSequence[0].VerifyingObserverName.family_name == "reader"
    (confirmed,) = sr.content.get_planar_roi_measurement_groups()
    assert confirmed.finding_type == FINDING_CODES[Label.PLEURAL_EFFUSION]
    assert sr.content.get_image_measurement_groups() == []  # the rejected cardiomegaly
    person, device = sr.content.get_observer_contexts()
    assert person.observer_type == codes.DCM.Person and device.observer_type == codes.DCM.Device


def test_the_signed_report_becomes_a_verified_basic_text_sr(
    draft: ReportVersion, storage_dir: Path, reader: AbstractUser
) -> None:
    _sign(draft, reader)
    ai_results_publish(report_id=draft.report_id, signed=True)
    (text_sr,) = _stored(storage_dir, "1.2.840.10008.5.1.4.1.1.88.11")
    assert text_sr.VerificationFlag == "VERIFIED" and text_sr.CompletionFlag == "COMPLETE"
    assert text_sr.VerifyingObserverSequence[0].VerifyingObserverName.family_name == "reader"
    sections = {
        item.ConceptNameCodeSequence[0].CodeMeaning: item.ContentSequence[0].TextValue
        for item in text_sr.ContentSequence
        if item.ValueType == "CONTAINER"
    }
    assert sections["Findings"].startswith("Small right pleural effusion.")
    assert sections["Impressions"] == "Small right pleural effusion."


@pytest.fixture
def results_pacs() -> Iterator[tuple[int, list[str]]]:
    received: list[str] = []
    ae = AE(ae_title="PACS")
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)

    def on_store(event: evt.Event) -> int:
        received.append(str(event.dataset.SOPClassUID))
        return 0x0000

    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    yield port, received
    server.shutdown()


def test_signing_sends_the_results_to_the_configured_pacs(
    draft: ReportVersion,
    storage_dir: Path,
    reader: AbstractUser,
    results_pacs: tuple[int, list[str]],
    settings: object,
) -> None:
    port, received = results_pacs
    settings.RESULTS_PACS_PORT = port  # type: ignore[attr-defined]
    settings.RESULTS_PACS_AE_TITLE = "PACS"  # type: ignore[attr-defined]
    _sign(draft, reader)
    published = ai_results_publish(report_id=draft.report_id, signed=True)
    assert published.sent == 4
    assert sorted(received) == sorted(
        [
            "1.2.840.10008.5.1.4.1.1.88.34",  # the draft's findings, UNVERIFIED
            "1.2.840.10008.5.1.4.1.1.88.34",  # the confirmed findings, VERIFIED
            "1.2.840.10008.5.1.4.1.1.11.1",
            "1.2.840.10008.5.1.4.1.1.88.11",
        ]
    )


def test_an_unreachable_pacs_is_an_error_to_retry(
    draft: ReportVersion, storage_dir: Path, reader: AbstractUser, settings: object
) -> None:
    settings.RESULTS_PACS_PORT = free_port()  # type: ignore[attr-defined]
    settings.DICOM_NETWORK_TIMEOUT = 2.0  # type: ignore[attr-defined]
    _sign(draft, reader)
    with pytest.raises(ResultsNotSent):
        ai_results_publish(report_id=draft.report_id, signed=True)
    assert Instance.objects.filter(sop_class_uid="1.2.840.10008.5.1.4.1.1.88.11").exists()


@pytest.mark.slow
def test_a_saved_draft_is_published_by_the_worker(
    transactional_db: None, storage_dir: Path, celery_worker: object, settings: object
) -> None:
    settings.AI_RESULTS_DICOM = True  # type: ignore[attr-defined]
    (path,) = shared_dicom(UNCOMPRESSED_CHEST)
    registration = ingest(path)
    version = draft_make(study=Study.objects.get(study_uid=registration.study_uid))
    AiDraft.objects.create(
        version=version, backend="reference", model_name="reference-tiny",
        model_version="demo-1.0", processing_time_ms=1.0,
        findings=[{"label": "Pneumothorax", "confidence": 0.8, "bounding_box": [10, 10, 90, 90]}],
    )  # fmt: skip
    assert wait_for(
        lambda: Instance.objects.filter(sop_class_uid="1.2.840.10008.5.1.4.1.1.88.34").exists(),
        timeout=60,
    )
