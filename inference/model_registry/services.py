"""Writing the registry: register a model directory, promote a version to serve.

Promotion is explicit and audited. It refuses a version whose recorded evaluation misses the
release thresholds (``RELEASE_MIN_CRITICAL_SENSITIVITY``, ``RELEASE_MAX_HALLUCINATION_RATE``)
or has none, unless forced with a reason, which is kept on the row and in the audit trail.
The audit action is ``edit`` with object type ``model_version`` (the audit app's actions are
its own; a dedicated one needs a migration there).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from inference.model_registry.models import ModelStatus, ModelVersion
from inference.model_registry.weights import (
    RegistryError,
    evaluation_summary,
    identify,
    release_gaps,
    weights_checksum,
)
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record

PROMOTE_PERMISSION = "inference.promote_modelversion"
AUDIT_OBJECT = "model_version"


class PromotionRefused(Exception):
    """The promotion was refused; the message says why (measured vs required)."""


def model_version_register(
    *,
    model_dir: Path,
    evaluation: Path | None = None,
    name: str = "",
    version: str = "",
    replace: bool = False,
) -> tuple[ModelVersion, bool]:
    """Record the model in ``model_dir`` (checksum of its weights, its card, the evaluation's
    summary as metrics). Registering the same weights again updates path and metrics.

    Returns ``(row, created)``.

    Raises:
        RegistryError: unreadable directory or evaluation, or the version is registered with
            other weights (allowed with ``replace`` unless that version is promoted).
    """
    directory = Path(model_dir).resolve()
    identity = identify(directory, name=name, version=version)
    metrics = (
        evaluation_summary(evaluation, name=identity.name, version=identity.version)
        if evaluation is not None
        else None
    )
    with transaction.atomic():
        row = (
            ModelVersion.objects.select_for_update()
            .filter(name=identity.name, version=identity.version)
            .first()
        )
        created = row is None
        if row is None:
            row = ModelVersion(name=identity.name, version=identity.version)
        elif row.sha256 != identity.sha256:
            if row.status == ModelStatus.PROMOTED or not replace:
                raise RegistryError(
                    f"{row.key} is already registered with other weights "
                    f"(sha256 {row.sha256[:12]}..., now {identity.sha256[:12]}...); give the "
                    "new model its own version"
                    + ("" if row.status == ModelStatus.PROMOTED else " or pass --replace")
                )
            row.metrics, row.evaluation_path = {}, ""  # measured on the old weights
        row.backend, row.path, row.sha256 = identity.backend, str(directory), identity.sha256
        row.card = identity.card
        if metrics is not None and evaluation is not None:
            row.metrics, row.evaluation_path = metrics, str(Path(evaluation).resolve())
        row.save()
    return row, created


def _refuse(user: AbstractUser, key: str, message: str) -> PromotionRefused:
    audit_record(
        action=AuditAction.EDIT,
        user=user,
        outcome=AuditOutcome.DENIED,
        object_type=AUDIT_OBJECT,
        object_id=key,
        detail=f"promotion refused: {message}",
    )
    return PromotionRefused(message)


def model_version_promote(
    *, name: str, version: str, user: AbstractUser, force: bool = False, reason: str = ""
) -> ModelVersion:
    """Make ``name``:``version`` the version that serves ``name``; the previously promoted
    one becomes ``retired``. Audited, refusals included.

    Raises:
        PromotionRefused: no such version, ``user`` lacks the permission, the weights on disk
            no longer match the registered checksum, or the evaluation misses the release
            thresholds (or is missing) and ``force`` with a ``reason`` was not given.
    """
    key = f"{name}:{version}"
    if not user.has_perm(PROMOTE_PERMISSION):
        raise _refuse(user, key, f"{user.get_username()} may not promote models")
    row = ModelVersion.objects.filter(name=name, version=version).first()
    if row is None:
        raise _refuse(user, key, f"{key} is not registered (manage.py register_model)")
    try:
        on_disk = weights_checksum(Path(row.path))
    except (OSError, RegistryError) as error:
        raise _refuse(user, key, f"{row.path}: weights unreadable ({error})") from error
    if on_disk != row.sha256:
        raise _refuse(user, key, f"{row.path}: weights changed since registration (sha256)")
    gaps = release_gaps(
        row.metrics,
        min_critical_sensitivity=settings.RELEASE_MIN_CRITICAL_SENSITIVITY,
        max_hallucination_rate=settings.RELEASE_MAX_HALLUCINATION_RATE,
    )
    if gaps and not force:
        raise _refuse(user, key, f"{key} misses the release thresholds: {'; '.join(gaps)}")
    if force and not reason.strip():
        raise _refuse(user, key, "a forced promotion needs a reason")
    return _promote(row, user, gaps, reason.strip())


def _promote(row: ModelVersion, user: AbstractUser, gaps: list[str], reason: str) -> ModelVersion:
    with transaction.atomic():
        rows = ModelVersion.objects.select_for_update().filter(name=row.name)
        previous = [r.version for r in rows if r.status == ModelStatus.PROMOTED and r.pk != row.pk]
        rows.filter(status=ModelStatus.PROMOTED).exclude(pk=row.pk).update(
            status=ModelStatus.RETIRED
        )
        row.status = ModelStatus.PROMOTED
        row.promoted_at = timezone.now()
        row.promoted_by_id = user.pk
        row.promotion_reason = reason
        row.forced = bool(gaps)
        row.save(
            update_fields=["status", "promoted_at", "promoted_by", "promotion_reason", "forced"]
        )
        detail = f"promoted {row.key}"
        if previous:
            detail += f" (replacing {', '.join(previous)})"
        if gaps:
            detail += f"; FORCED despite: {'; '.join(gaps)}"
        if reason:
            detail += f"; reason: {reason}"
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type=AUDIT_OBJECT,
            object_id=row.key,
            detail=detail,
        )
    return row
