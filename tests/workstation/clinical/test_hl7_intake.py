"""HL7 v2 over MLLP: ORU^R01 and ORM^O01 stored and ACKed (AA); malformed content NACKed
(AE) and unsupported messages rejected (AR) with the reason in MSA-3 / ERR-8, nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import hl7
import pytest
from django.core.management import CommandError, call_command

from tests.conftest import free_port
from tests.workstation.clinical.fixtures import ADT, ISSUER, ORM, ORU, ORU_BAD_UNIT, PATIENT_ID
from workstation.clinical.hl7v2 import hl7_message_handle
from workstation.clinical.mllp import MllpServer, send_message, serve_in_thread
from workstation.clinical.models import ClinicalValue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mllp() -> Iterator[tuple[str, int]]:
    server = MllpServer(("127.0.0.1", free_port()), hl7_message_handle, timeout_seconds=5)
    serve_in_thread(server)
    yield server.server_address[0], server.server_address[1]
    server.shutdown()
    server.server_close()


def _msa(ack: str) -> tuple[str, str, str]:
    parsed = hl7.parse(ack)
    msa = parsed.segment("MSA")
    text = parsed.unescape(str(msa(3))) if len(msa) > 3 else ""  # MSA-3 arrives HL7-escaped
    return str(msa(1)), str(msa(2)), text


def test_an_oru_over_mllp_is_stored_and_acknowledged(mllp: tuple[str, int]) -> None:
    ack = send_message(*mllp, ORU)

    code, control, note = _msa(ack)
    assert (code, control) == ("AA", "LAB0001")
    assert "3 value(s) stored" in note and "OBX[4]: result status X" in note
    values = {
        v.code: v
        for v in ClinicalValue.objects.filter(
            patient__patient_id=PATIENT_ID, patient__issuer=ISSUER
        )
    }
    assert set(values) == {"crp", "wbc", "temperature"}
    assert (values["crp"].value_number, values["crp"].unit, values["crp"].abnormal_flag) == (
        160.0,
        "mg/L",
        "H",
    )
    assert (values["wbc"].unit, values["wbc"].reference_low, values["wbc"].reference_high) == (
        "10*9/L",
        4.0,
        11.0,
    )
    assert values["temperature"].abnormal_flag == "H"  # computed from the catalogue's range
    assert values["crp"].source == "hl7" and values["crp"].accession_number == "LAB-9"
    assert values["temperature"].observed_at.isoformat().startswith("2024-03-01T08:45:00")


def test_an_orm_gives_the_indication_history_procedure_and_diagnosis(mllp: tuple[str, int]) -> None:
    code, _, _ = _msa(send_message(*mllp, ORM))

    assert code == "AA"
    values = {v.code: v.value_text for v in ClinicalValue.objects.all()}
    assert values == {
        "indication": "fever and cough",
        "history": "Crackles right base, febrile Known COPD, ex-smoker",
        "requested_procedure": "XR chest PA",
        "condition": "Chronic obstructive pulmonary disease",
    }
    assert set(ClinicalValue.objects.values_list("accession_number", flat=True)) == {"ACC-77"}


def test_a_resent_message_is_not_stored_twice(mllp: tuple[str, int]) -> None:
    send_message(*mllp, ORU)
    send_message(*mllp, ORU)
    assert ClinicalValue.objects.count() == 3


def test_a_unit_that_cannot_be_converted_is_nacked_with_the_reason_and_nothing_is_stored(
    mllp: tuple[str, int],
) -> None:
    ack = send_message(*mllp, ORU_BAD_UNIT)

    code, control, note = _msa(ack)
    assert (code, control) == ("AE", "LAB0002")
    assert note.startswith("OBX[2]-6: unit 'mmol/L' for C-reactive protein cannot be converted")
    err = hl7.parse(ack).segment("ERR")
    assert "102" in str(err(3)) and "OBX[2]-6" in str(err(8))  # data type error
    assert ClinicalValue.objects.count() == 0  # the good OBX[1] was not kept either


@pytest.mark.parametrize(
    ("message", "reason", "error"),
    [
        (ADT, "MSH-9 ADT^A01 is not accepted (accepted: ORM^O01, ORU^R01)", "200"),
        ("this is not hl7\r", "not an HL7 v2 message", "100"),
        (ORU.replace("|LAB0001|", "||"), "MSH-10 (message control id) is missing", "101"),
    ],
)
def test_messages_this_listener_does_not_take_are_rejected(
    mllp: tuple[str, int], message: str, reason: str, error: str
) -> None:
    ack = send_message(*mllp, message)
    code, _, note = _msa(ack)
    assert code == "AR"
    assert note.startswith(reason)
    assert str(hl7.parse(ack).segment("ERR")(3)).startswith(error)
    assert ClinicalValue.objects.count() == 0


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (ORU.replace(f"{PATIENT_ID}^^^{ISSUER}^MR", ""), "PID-3: missing patient identifier"),
        (ORU.replace("||160|", "||high|"), "OBX[1]-5: 'high' is not a number"),
        (ORU.replace("|0-5|", "|five|"), "OBX[1]-7: 'five' is not a range"),
        (ORU.replace("20240301083000", "yesterday"), "is not an HL7 date/time"),
    ],
)
def test_content_errors_are_nacked_naming_the_field(
    mllp: tuple[str, int], message: str, reason: str
) -> None:
    code, _, note = _msa(send_message(*mllp, message))
    assert code == "AE"
    assert reason in note
    assert ClinicalValue.objects.count() == 0


def test_the_listener_survives_garbage_and_keeps_answering(mllp: tuple[str, int]) -> None:
    import socket

    with socket.create_connection(mllp, timeout=5) as sock:
        sock.sendall(b"\x00\xff" * 100 + b"\x1c\x0d")
        assert sock.recv(4096).startswith(b"\x0b")
    assert _msa(send_message(*mllp, ORU))[0] == "AA"


def test_runmllp_answers_a_bad_port_with_a_cli_message() -> None:
    with pytest.raises(CommandError, match="argument --port: invalid int value"):
        call_command("runmllp", "--port", "not-a-number")
