"""Test settings: only speed-ups on top of ``base`` (same real PostgreSQL, Redis and Celery)."""

from workstation.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STUDY_SETTLE_SECONDS = 0.5
STUDY_SWEEP_INTERVAL_SECONDS = 0.1
DICOM_PORT = 0  # tests start their listeners on free ports
