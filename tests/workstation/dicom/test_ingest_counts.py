"""C-STORE refusals are counted per status for /metrics as the SCP answers them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveScp
from tests.factories import cr_dataset, write
from workstation.dicom.ingest import StoreStatus
from workstation.dicom.ingest_counts import ingest_failures, ingest_failures_key, redis_client
from workstation.dicom.scu import send_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counts() -> Iterator[None]:
    redis_client().delete(ingest_failures_key())
    yield
    redis_client().delete(ingest_failures_key())


def test_each_refused_c_store_is_counted_under_its_status_and_a_stored_one_is_not(
    counts: None, live_scp: LiveScp, tmp_path: Path
) -> None:
    bad = [write(cr_dataset(sop_uid=f"1.2.0{i}.4"), tmp_path / f"bad{i}.dcm") for i in range(2)]
    good = write(cr_dataset(), tmp_path / "good.dcm")

    results = send_files(
        [*bad, good], host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )

    assert [r.status for r in results] == [StoreStatus.INVALID_UID] * 2 + [0x0000]
    assert ingest_failures() == {f"0x{StoreStatus.INVALID_UID:04X}": 2}


def test_a_redis_outage_loses_only_the_count_not_the_answer(
    counts: None, live_scp: LiveScp, tmp_path: Path, settings: object
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]  # nothing listens
    bad = write(cr_dataset(sop_uid="1.2.03.4"), tmp_path / "bad.dcm")

    results = send_files(
        [bad], host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )

    assert [r.status for r in results] == [StoreStatus.INVALID_UID]
