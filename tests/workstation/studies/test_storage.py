"""Content-addressed storage never takes a path from DICOM values."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.studies.storage import dataset_sha256, relative_path_for, resolve, store_part10


def test_it_names_files_by_content_hash(tmp_path: Path) -> None:
    stored = store_part10(tmp_path, preamble_and_meta=b"M" * 132, dataset_bytes=b"dataset")

    assert stored.relative_path == relative_path_for(dataset_sha256(b"dataset"))
    assert (tmp_path / stored.relative_path).read_bytes() == b"M" * 132 + b"dataset"
    assert not list(tmp_path.rglob(".incoming-*"))


def test_storing_the_same_content_twice_is_a_no_op(tmp_path: Path) -> None:
    first = store_part10(tmp_path, preamble_and_meta=b"M", dataset_bytes=b"x")
    second = store_part10(tmp_path, preamble_and_meta=b"M", dataset_bytes=b"x")

    assert first == second
    assert len(list(tmp_path.rglob("*.dcm"))) == 1


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "abc"])
def test_it_refuses_anything_but_a_hex_digest(bad: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        relative_path_for(bad)


def test_resolve_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        resolve(tmp_path, "../x.dcm")
