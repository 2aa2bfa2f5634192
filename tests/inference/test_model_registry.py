"""inference.model_registry: versions with their weights' checksum and evaluation; promotion
is explicit, gated on the release thresholds unless forced with a reason, and audited; the
serving path resolves the promoted version and names unregistered models."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.core.management.base import CommandError

from inference import services
from inference.backends.base import ModelNotLoaded
from inference.model_registry.models import ModelStatus, ModelVersion
from inference.model_registry.selectors import model_version_for_draft
from inference.model_registry.services import (
    PromotionRefused,
    model_version_promote,
    model_version_register,
)
from inference.model_registry.weights import RegistryError, weights_checksum
from inference.models.checkpoint import WEIGHTS
from workstation.audit.models import AuditEvent, AuditOutcome

pytestmark = pytest.mark.django_db


def _model(tmp_path: Path, source: Path, version: str = "test-1") -> Path:
    """A copy of the tiny model directory whose card says ``version``."""
    directory = tmp_path / f"model-{version}"
    shutil.copytree(source, directory)
    card = json.loads((directory / "model_card.json").read_text())
    (directory / "model_card.json").write_text(json.dumps({**card, "version": version}))
    return directory


def _evaluation(
    tmp_path: Path, *, sensitivity: float, hallucination: float, version: str = "test-1"
) -> Path:
    path = tmp_path / f"evaluation-{version}-{sensitivity}-{hallucination}.json"
    path.write_text(
        json.dumps(
            {
                "model": {"name": "reference-tiny", "version": version, "demonstration": True},
                "summary": {
                    "critical_sensitivity": sensitivity,
                    "hallucination_rate": hallucination,
                    "macro_auc": 0.7,
                    "box_iou": float("nan"),  # written as NaN by json.dumps
                },
            }
        )
    )
    return path


def _audit_rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type="model_version").order_by("id"))


def test_it_records_the_sha256_of_the_weights_and_the_evaluation(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    directory = _model(tmp_path, tiny_model_dir)
    evaluation = _evaluation(tmp_path, sensitivity=0.99, hallucination=0.01)
    row, created = model_version_register(model_dir=directory, evaluation=evaluation)
    expected = hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()
    assert created and (row.name, row.version, row.backend) == (
        "reference-tiny",
        "test-1",
        "reference",
    )
    assert row.sha256 == expected == weights_checksum(directory)
    assert row.metrics["critical_sensitivity"] == 0.99 and row.metrics["box_iou"] is None
    assert row.status == ModelStatus.REGISTERED and row.path == str(directory.resolve())
    again, created_again = model_version_register(model_dir=directory)
    assert not created_again and again.pk == row.pk and again.metrics == row.metrics


def test_it_refuses_other_weights_under_a_registered_version(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    directory = _model(tmp_path, tiny_model_dir)
    model_version_register(model_dir=directory)
    (directory / WEIGHTS).write_bytes((directory / WEIGHTS).read_bytes() + b" ")
    with pytest.raises(RegistryError, match="already registered with other weights"):
        model_version_register(model_dir=directory)
    row, _ = model_version_register(model_dir=directory, replace=True)
    assert row.sha256 == weights_checksum(directory)


def test_it_refuses_an_evaluation_of_another_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    directory = _model(tmp_path, tiny_model_dir)
    other = _evaluation(tmp_path, sensitivity=0.99, hallucination=0.0, version="test-9")
    with pytest.raises(RegistryError, match=re.escape(f"{other}: evaluates reference-tiny:test-9")):
        model_version_register(model_dir=directory, evaluation=other)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    with pytest.raises(RegistryError, match=r"garbage\.json: no 'summary'"):
        model_version_register(model_dir=directory, evaluation=garbage)


def test_it_refuses_promotion_below_the_thresholds_showing_measured_and_required(
    tmp_path: Path, tiny_model_dir: Path, administrator: AbstractUser
) -> None:
    evaluation = _evaluation(tmp_path, sensitivity=0.91, hallucination=0.05)
    model_version_register(model_dir=_model(tmp_path, tiny_model_dir), evaluation=evaluation)
    with pytest.raises(PromotionRefused) as refused:
        model_version_promote(name="reference-tiny", version="test-1", user=administrator)
    message = str(refused.value)
    assert "critical_sensitivity 0.910 is below the required 0.980" in message
    assert "hallucination_rate 0.050 is above the allowed 0.030" in message
    row = ModelVersion.objects.get(name="reference-tiny", version="test-1")
    assert row.status == ModelStatus.REGISTERED and row.promoted_at is None
    [audit] = _audit_rows()
    assert audit.outcome == AuditOutcome.DENIED and audit.username == "administrator"
    assert audit.object_id == "reference-tiny:test-1" and "0.910" in audit.detail


def test_it_promotes_when_forced_with_a_reason_and_audits_it(
    tmp_path: Path, tiny_model_dir: Path, administrator: AbstractUser
) -> None:
    evaluation = _evaluation(tmp_path, sensitivity=0.91, hallucination=0.01)
    model_version_register(model_dir=_model(tmp_path, tiny_model_dir), evaluation=evaluation)
    with pytest.raises(PromotionRefused, match="needs a reason"):
        model_version_promote(
            name="reference-tiny", version="test-1", user=administrator, force=True
        )
    row = model_version_promote(
        name="reference-tiny",
        version="test-1",
        user=administrator,
        force=True,
        reason="phantom demo; no clinical use",
    )
    row.refresh_from_db()
    assert row.status == ModelStatus.PROMOTED and row.forced and row.promoted_by == administrator
    assert row.promotion_reason == "phantom demo; no clinical use"
    success = _audit_rows()[-1]
    assert success.outcome == AuditOutcome.SUCCESS
    assert "FORCED" in success.detail and "phantom demo; no clinical use" in success.detail


def test_it_keeps_one_promoted_version_per_name(
    tmp_path: Path, tiny_model_dir: Path, administrator: AbstractUser
) -> None:
    for version in ("test-1", "test-2"):
        evaluation = _evaluation(tmp_path, sensitivity=0.99, hallucination=0.0, version=version)
        directory = _model(tmp_path, tiny_model_dir, version)
        model_version_register(model_dir=directory, evaluation=evaluation, replace=True)
        promoted = model_version_promote(name="reference-tiny", version=version, user=administrator)
        assert not promoted.forced
    statuses = dict(ModelVersion.objects.values_list("version", "status"))
    assert statuses == {"test-1": ModelStatus.RETIRED, "test-2": ModelStatus.PROMOTED}
    assert "replacing test-1" in _audit_rows()[-1].detail


def test_it_refuses_a_missing_evaluation_unless_forced(
    tmp_path: Path, tiny_model_dir: Path, administrator: AbstractUser
) -> None:
    model_version_register(model_dir=_model(tmp_path, tiny_model_dir))
    with pytest.raises(PromotionRefused, match="no evaluation recorded"):
        model_version_promote(name="reference-tiny", version="test-1", user=administrator)
    row = model_version_promote(
        name="reference-tiny", version="test-1", user=administrator, force=True, reason="r"
    )
    assert row.forced


def test_it_refuses_promotion_by_a_radiologist_and_of_changed_weights(
    tmp_path: Path, tiny_model_dir: Path, reader: AbstractUser, administrator: AbstractUser
) -> None:
    directory = _model(tmp_path, tiny_model_dir)
    evaluation = _evaluation(tmp_path, sensitivity=0.99, hallucination=0.0)
    model_version_register(model_dir=directory, evaluation=evaluation)
    with pytest.raises(PromotionRefused, match="reader may not promote"):
        model_version_promote(name="reference-tiny", version="test-1", user=reader)
    (directory / WEIGHTS).write_bytes(b"tampered")
    with pytest.raises(PromotionRefused, match="weights changed since registration"):
        model_version_promote(name="reference-tiny", version="test-1", user=administrator)
    assert [row.outcome for row in _audit_rows()] == [AuditOutcome.DENIED] * 2


def test_the_commands_register_refuse_and_promote(
    tmp_path: Path, tiny_model_dir: Path, administrator: AbstractUser, capsys: object
) -> None:
    directory = _model(tmp_path, tiny_model_dir)
    evaluation = _evaluation(tmp_path, sensitivity=0.5, hallucination=0.2)
    call_command("register_model", model_dir=directory, evaluation=evaluation)
    with pytest.raises(CommandError, match=r"promotion refused: .*0\.500 is below the required"):
        call_command("promote_model", "reference-tiny", "test-1", by="administrator")
    with pytest.raises(CommandError, match="no such active user"):
        call_command("promote_model", "reference-tiny", "test-1", by="nobody")
    call_command(
        "promote_model",
        "reference-tiny",
        "test-1",
        by="administrator",
        force=True,
        reason="demonstration only",
    )
    row = ModelVersion.objects.get()
    assert row.status == ModelStatus.PROMOTED and row.promotion_reason == "demonstration only"


def test_drafting_serves_the_promoted_version_of_the_configured_name(
    tmp_path: Path,
    tiny_model_dir: Path,
    administrator: AbstractUser,
    settings: Any,
) -> None:
    settings.DRAFT_MODEL_NAME = "reference-tiny"
    with pytest.raises(ModelNotLoaded, match="no promoted version of 'reference-tiny'"):
        services.serving_model_dir()
    assert services.draft_model_version() == "no-model"
    directory = _model(tmp_path, tiny_model_dir, "test-7")
    model_version_register(model_dir=directory)
    model_version_promote(
        name="reference-tiny", version="test-7", user=administrator, force=True, reason="test"
    )
    assert services.serving_model_dir() == directory.resolve()
    assert services.draft_model_version() == "reference-tiny:test-7"


def test_drafts_find_their_registered_version_through_the_backend_suffix(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    row, _ = model_version_register(model_dir=_model(tmp_path, tiny_model_dir))
    found = model_version_for_draft(model_name="reference-tiny", model_version="test-1+retrieval")
    assert found == row
    assert model_version_for_draft(model_name="reference-tiny", model_version="test-2") is None


def test_it_warns_when_the_served_model_is_not_registered(
    tmp_path: Path,
    tiny_model_dir: Path,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = _model(tmp_path, tiny_model_dir, "test-unregistered")
    settings.DRAFT_MODEL_DIR = directory
    settings.DRAFT_BACKEND = "reference"
    services._backend.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="inference.services"):
            backend = services.backend_get()
        assert backend.version == "test-unregistered"
        assert "not in the model registry" in caplog.text
        caplog.clear()
        model_version_register(model_dir=directory)
        services._backend.cache_clear()
        with caplog.at_level(logging.WARNING, logger="inference.services"):
            services.backend_get()
        assert "not in the model registry" not in caplog.text
    finally:
        services._backend.cache_clear()
