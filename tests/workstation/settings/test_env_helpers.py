"""The typed environment helpers fail loudly on bad values."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from workstation.settings.base import env_bool, env_float, env_int, env_list, env_url


def test_it_reads_an_integer_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_PORT", " 11112 ")
    assert env_int("X_PORT", 1, minimum=1, maximum=65535) == 11112


@pytest.mark.parametrize("raw", ["eleven", "1.5", "", "70000", "0"])
def test_it_refuses_a_bad_port(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("X_PORT", raw)
    with pytest.raises(ImproperlyConfigured, match="X_PORT"):
        env_int("X_PORT", 1, minimum=1, maximum=65535)


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("OFF", False), ("1", True), ("no", False)]
)
def test_it_reads_booleans(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not value) is value


def test_it_refuses_a_boolean_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("X_FLAG", False)


def test_it_refuses_a_negative_float_below_its_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_SECONDS", "-1")
    with pytest.raises(ImproperlyConfigured):
        env_float("X_SECONDS", 3.0, minimum=0.0)


def test_it_splits_lists_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_LIST", "A, B,,C ")
    assert env_list("X_LIST", []) == ["A", "B", "C"]


@pytest.mark.parametrize("raw", ["mysql://h/db", "postgres:///nohost", "sqlite:///x.db"])
def test_it_refuses_database_urls_that_are_not_postgresql_servers(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("X_DB", raw)
    with pytest.raises(ImproperlyConfigured, match="X_DB"):
        env_url("X_DB", schemes={"postgres", "postgresql"})


def test_it_accepts_a_socket_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_DB", "postgresql://postgres:@/radws?host=/run/pg")
    assert env_url("X_DB", schemes={"postgresql"}) == "postgresql://postgres:@/radws?host=/run/pg"


def test_settings_refuse_a_bad_ae_title(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "workstation.settings.base",
            "DICOM_AE_TITLE": "A-TITLE-LONGER-THAN-16",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DICOM_AE_TITLE" in result.stderr
