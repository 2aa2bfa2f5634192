"""Drift of the serving model's inputs and outputs, recorded as :class:`DriftRun` rows.

Image drift: embeddings (the reference model's vision encoder, average-pooled: the image's
pooled token the detection head reads) of recent studies against the reference set stored
with the model version, by MMD with an RBF kernel (median-heuristic bandwidth fixed with
the reference) and a permutation-calibrated threshold (:mod:`.drift_math`). Label drift:
chi-square of the drafts' detected findings in the window against the 30 days before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.db import connection
from django.utils import timezone

from inference.backends.base import ModelNotLoaded
from inference.models.checkpoint import load_reference_model
from inference.models.reference import ReferenceModel
from inference.preprocess import normalise, resize_prepared
from inference.types import PreparedImage
from reports.models import AiDraft, ReportVersion
from workstation.dashboards.drift_math import label_drift, median_bandwidth, mmd_test
from workstation.dashboards.models import DriftReference, DriftRun
from workstation.studies.models import Study

logger = logging.getLogger(__name__)

LABEL_BASELINE_DAYS = 30
LABEL_ALARM_P = 0.01  # label drift alarms when the chi-square p-value is below this
EMBED_BATCH = 16
NONE_DETECTED = "(none detected)"


class DriftError(Exception):
    """Drift cannot be computed (no model, no reference); the message says why."""


@cache
def _encoder(model_dir: str) -> ReferenceModel:
    model, _ = load_reference_model(Path(model_dir), torch.device("cpu"))
    return model


def image_embeddings(model_dir: Path, images: Sequence[PreparedImage]) -> np.ndarray:
    """(len(images), channels) float32: the encoder's feature map averaged over space.

    Raises ``DriftError`` when the model directory does not hold a reference model."""
    model = _model_or_error(model_dir)
    size = int(model.config.image_size)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), EMBED_BATCH):
            chunk = images[start : start + EMBED_BATCH]
            pixels = np.stack([normalise(resize_prepared(i, size).pixels) for i in chunk])
            features = model.encode(torch.from_numpy(pixels[:, None]))
            out.append(features.mean(dim=(2, 3)).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def study_embeddings(model_dir: Path, studies: Sequence[Study]) -> np.ndarray:
    """Embeddings of each study's frontal image (studies without one are skipped, logged)."""
    from inference.services import DraftFailed, study_input_load

    size = int(_model_or_error(model_dir).config.image_size)
    images = []
    for study in studies:
        try:
            study_input, _ = study_input_load(study, image_size=size)
        except DraftFailed as exc:
            logger.info("drift: study %s skipped: %s", study.pk, exc)
            continue
        images.append(study_input.images[0])
    return image_embeddings(model_dir, images)


def _slug(model_version: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_version)[:100] or "model"


def drift_reference_store(
    *, model_version: str, embeddings: np.ndarray, source: str
) -> DriftReference:
    """Save ``embeddings`` (n, dim) as the model version's reference (replacing any earlier
    one) under ``DRIFT_DIR/<version>/reference.npy``. Raises ``DriftError`` below 10 points."""
    if embeddings.ndim != 2 or len(embeddings) < 10:
        raise DriftError(f"a drift reference needs at least 10 embeddings, got {len(embeddings)}")
    directory = Path(settings.DRIFT_DIR) / _slug(model_version)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "reference.npy"
    data = np.ascontiguousarray(embeddings, dtype=np.float32)
    np.save(path, data)
    reference, _ = DriftReference.objects.update_or_create(
        model_version=model_version,
        defaults={
            "embeddings_path": str(path),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
            "count": data.shape[0],
            "dim": data.shape[1],
            "bandwidth": median_bandwidth(data),
            "source": source[:200],
            "created_at": timezone.now(),
        },
    )
    return reference


def reference_embeddings(reference: DriftReference) -> np.ndarray:
    """The stored embeddings, checked against their recorded hash. Raises ``DriftError``."""
    try:
        data = np.load(reference.embeddings_path)
    except (OSError, ValueError) as exc:
        raise DriftError(f"drift reference {reference.embeddings_path} unreadable: {exc}") from exc
    if hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() != reference.sha256:
        raise DriftError(f"drift reference {reference.embeddings_path} changed since it was made")
    return np.asarray(data, dtype=np.float32)


def drafted_studies(*, model_version: str, since: dt.datetime, until: dt.datetime) -> list[Study]:
    """Studies whose AI draft by ``model_version`` was made in ``[since, until)``, newest
    first, at most ``DRIFT_MAX_RECENT``."""
    return list(
        Study.objects.filter(
            report__versions__number=0,
            report__versions__model_version=model_version,
            report__versions__created_at__gte=since,
            report__versions__created_at__lt=until,
        ).order_by("-report__versions__created_at")[: settings.DRIFT_MAX_RECENT]
    )


def finding_counts(
    *, model_version: str, since: dt.datetime, until: dt.datetime
) -> tuple[int, dict[str, int]]:
    """Drafts by ``model_version`` made in ``[since, until)`` and, per detected label, how
    many of them detected it, with drafts that detected nothing under ``NONE_DETECTED``
    (SQL over the drafts' findings)."""
    sql = f"""
        SELECT count(*) AS drafts, NULL AS label FROM {AiDraft._meta.db_table} ad
          JOIN {ReportVersion._meta.db_table} v ON v.id = ad.version_id
         WHERE v.model_version = %(version)s AND v.created_at >= %(since)s
           AND v.created_at < %(until)s
        UNION ALL
        SELECT count(DISTINCT ad.id), f->>'label' FROM {AiDraft._meta.db_table} ad
          JOIN {ReportVersion._meta.db_table} v ON v.id = ad.version_id
         CROSS JOIN jsonb_array_elements(ad.findings) f
         WHERE v.model_version = %(version)s AND v.created_at >= %(since)s
           AND v.created_at < %(until)s
         GROUP BY f->>'label'
        UNION ALL
        SELECT count(*), %(none)s FROM {AiDraft._meta.db_table} ad
          JOIN {ReportVersion._meta.db_table} v ON v.id = ad.version_id
         WHERE v.model_version = %(version)s AND v.created_at >= %(since)s
           AND v.created_at < %(until)s AND jsonb_array_length(ad.findings) = 0"""
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"version": model_version, "since": since, "until": until, "none": NONE_DETECTED}
        )
        rows = cursor.fetchall()
    drafts = next(int(count) for count, label in rows if label is None)
    return drafts, {str(label): int(count) for count, label in rows if label is not None and count}


def drift_compute(
    *,
    model_version: str,
    model_dir: Path,
    now: dt.datetime | None = None,
    seed: int = 0,
) -> DriftRun:
    """Compute and record image and label drift for ``model_version`` over the last
    ``DRIFT_WINDOW_DAYS``. Parts that cannot be computed are recorded with the reason in
    ``note`` (never silently skipped)."""
    now = now or timezone.now()
    start = now - dt.timedelta(days=settings.DRIFT_WINDOW_DAYS)
    notes = []
    run = DriftRun(
        model_version=model_version,
        window_start=start,
        window_end=now,
        false_alarm_rate=settings.DRIFT_FALSE_ALARM_RATE,
    )
    reference = DriftReference.objects.filter(model_version=model_version).first()
    if reference is None:
        notes.append(f"no drift reference for {model_version} (manage.py compute_drift --help)")
    else:
        run.reference = reference
        try:
            recent = study_embeddings(
                model_dir, drafted_studies(model_version=model_version, since=start, until=now)
            )
            run.recent_count = len(recent)
            test = mmd_test(
                recent,
                reference_embeddings(reference),
                bandwidth=reference.bandwidth,
                false_alarm_rate=settings.DRIFT_FALSE_ALARM_RATE,
                permutations=settings.DRIFT_PERMUTATIONS,
                seed=seed,
            )
            run.mmd2, run.mmd_threshold, run.mmd_p_value = test.mmd2, test.threshold, test.p_value
            run.permutations, run.embedding_alarm = test.permutations, test.alarm
        except (DriftError, ValueError) as exc:
            notes.append(f"image drift not computed: {exc}")
    drafts, counts = finding_counts(model_version=model_version, since=start, until=now)
    baseline_start = start - dt.timedelta(days=LABEL_BASELINE_DAYS)
    base_drafts, base_counts = finding_counts(
        model_version=model_version, since=baseline_start, until=start
    )
    run.label_counts = {
        "recent": {"drafts": drafts, "labels": counts},
        "baseline": {"drafts": base_drafts, "labels": base_counts},
    }
    labels = label_drift(counts, base_counts)
    if labels is None:
        notes.append("label drift not computed: a period has no drafts or no findings")
    else:
        run.label_chi2, run.label_dof, run.label_p_value = labels.chi2, labels.dof, labels.p_value
        run.label_alarm = labels.p_value < LABEL_ALARM_P
    run.note = "; ".join(notes)
    run.save()
    for name, alarm in (
        ("image embedding drift", run.embedding_alarm),
        ("label drift", run.label_alarm),
    ):
        if alarm:
            logger.warning("ALERT %s for %s (drift run %s)", name, model_version, run.pk)
    return run


def phantom_images(count: int, image_size: int) -> list[PreparedImage]:
    """Phantoms ``0 .. count-1`` as the serving path sees them (DICOM, then prepare_image):
    the demonstration model's training distribution."""
    from inference.datasets.phantom import render_phantom, sample_spec, to_dicom
    from inference.preprocess import prepare_image

    side = max(256, image_size)
    return [
        prepare_image(
            to_dicom(render_phantom(sample_spec(seed, size=(side, side)))), size=image_size
        )
        for seed in range(count)
    ]


def serving_model_version() -> str:
    from inference.services import draft_model_version

    return draft_model_version()


def drift_reference_make(
    *, model_dir: Path, phantoms: int | None = None, days: int | None = None
) -> DriftReference:
    """Make the serving model version's reference from ``phantoms`` generated phantoms or
    from the studies it drafted in the ``days`` before the drift window. Raises
    ``DriftError``."""
    version = serving_model_version()
    if phantoms:
        size = int(_model_or_error(model_dir).config.image_size)
        embeddings = image_embeddings(model_dir, phantom_images(phantoms, size))
        source = f"{phantoms} generated phantoms (seeds 0..{phantoms - 1})"
    elif days:
        end = timezone.now() - dt.timedelta(days=settings.DRIFT_WINDOW_DAYS)
        start = end - dt.timedelta(days=days)
        studies = drafted_studies(model_version=version, since=start, until=end)
        embeddings = study_embeddings(model_dir, studies)
        source = f"studies drafted {start:%Y-%m-%d}..{end:%Y-%m-%d}"
    else:
        raise DriftError("say where the reference comes from: phantoms or days")
    return drift_reference_store(model_version=version, embeddings=embeddings, source=source)


def _model_or_error(model_dir: Path) -> ReferenceModel:
    try:
        return _encoder(str(model_dir))
    except ModelNotLoaded as exc:
        raise DriftError(str(exc)) from exc


def serving_dir() -> Path:
    """The serving model's directory (the registry's promoted version when drafts are served
    by name). Raises ``DriftError`` when none is promoted."""
    from inference.services import serving_model_dir

    try:
        return serving_model_dir()
    except ModelNotLoaded as exc:
        raise DriftError(str(exc)) from exc


def drift_reference_ensure(*, phantoms: int) -> DriftReference | str:
    """The serving model version's reference, made from ``phantoms`` generated phantoms when
    it has none and its model card says it was trained on phantoms (the demonstration model:
    they are its training distribution). Otherwise, the reason none was made: a model
    trained on patient images needs a reference of the hospital's own studies
    (``compute_drift --reference-days``)."""
    version = serving_model_version()
    existing = DriftReference.objects.filter(model_version=version).first()
    if existing is not None:
        return existing
    try:
        model_dir = serving_dir()
        card = json.loads((model_dir / "model_card.json").read_text())
    except (OSError, ValueError, DriftError) as exc:
        return f"no drift reference for {version}: {exc}"
    if "phantom" not in str(card.get("training_data", "")).lower():
        return (
            f"no drift reference for {version}: make one from a validation period of your "
            "own studies (manage.py compute_drift --reference-days D)"
        )
    try:
        return drift_reference_make(model_dir=model_dir, phantoms=phantoms)
    except DriftError as exc:
        return f"no drift reference for {version}: {exc}"


def drift_run(*, model_dir: Path | None = None) -> DriftRun:
    """Drift of the serving model (its directory unless ``model_dir``), recorded."""
    return drift_compute(
        model_version=serving_model_version(), model_dir=model_dir or serving_dir()
    )
