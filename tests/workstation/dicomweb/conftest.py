"""DICOMweb fixtures: files ingested through the C-STORE path, an API client, a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from tests.browser.conftest import AsgiServer, asgi_server  # noqa: F401 - a fixture
from workstation.dicom.part10 import encode_preamble_and_meta, split_part10
from workstation.studies import services
from workstation.studies.services import InstanceRegistration


def ingest(path: Path) -> InstanceRegistration:
    """Store a Part 10 file exactly as the SCP would."""
    data = path.read_bytes()
    part10 = split_part10(data)
    return services.instance_ingest(
        dataset=pydicom.dcmread(path),
        dataset_bytes=part10.dataset_bytes,
        preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
        transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
        affected_sop_class_uid=str(part10.file_meta.MediaStorageSOPClassUID),
        affected_sop_uid=str(part10.file_meta.MediaStorageSOPInstanceUID),
        source="TEST",
    )


@pytest.fixture
def api(reader: AbstractUser, storage_dir: Path) -> APIClient:
    """A radiologist's API client (token auth, as DICOMweb clients use)."""
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")
    return client


@pytest.fixture
def dicomweb_client(
    asgi_server: AsgiServer,  # noqa: F811
    reader: AbstractUser,
    storage_dir: Path,
) -> Iterator[object]:
    """``dicomweb_client.DICOMwebClient`` pointed at the live server's /dicomweb, as a reader."""
    import requests
    from dicomweb_client import DICOMwebClient
    from rest_framework.authtoken.models import Token

    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=reader).key}"
    yield DICOMwebClient(url=f"{asgi_server.url}/dicomweb", session=session)
    session.close()
