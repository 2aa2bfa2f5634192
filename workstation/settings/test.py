"""Test settings: only speed-ups on top of ``base`` (same real PostgreSQL, Redis and Celery)."""

import os

from workstation.settings.base import *  # noqa: F403
from workstation.settings.base import DATABASES, REDIS_URL, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STUDY_SETTLE_SECONDS = 0.5
STUDY_SWEEP_INTERVAL_SECONDS = 0.1
DICOM_PORT = 0  # tests start their listeners on free ports
# No model unless a test trains one and points here (drafting then fails, clearly, as
# "model not loaded").
DRAFT_MODEL_DIR = VAR_DIR / "models" / "absent-in-tests"
# The reference backend needs no sentence bank (building the full one takes minutes).
DRAFT_BACKEND = "reference"
# AI results as DICOM objects are built by tests that ask for them (tests/workstation/airesults).
AI_RESULTS_DICOM = False

# Each test run gets its own database, queues and channel prefix, so runs sharing one
# PostgreSQL/Redis (developers, helpers, CI) never take each other's rows or tasks.
RUN_ID = str(os.getpid())
DATABASES["default"]["TEST"] = {"NAME": f"test_radws_{RUN_ID}"}
CELERY_TASK_DEFAULT_QUEUE = f"celery-test-{RUN_ID}"
DRAFT_QUEUE = f"gpu-test-{RUN_ID}"
CELERY_TASK_ROUTES = {"inference.tasks.draft_study": {"queue": DRAFT_QUEUE}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"asgi-test-{RUN_ID}"},
    }
}
