"""Settings for both modes, read from the environment (see .env.example).

Embedded (no variables set): SQLite, media and the Celery broker under DATA_DIR, an in-process
channel layer. Production: DATABASE_URL (PostgreSQL) and REDIS_URL (channels + Celery broker).
A malformed variable stops start-up with ImproperlyConfigured naming the variable.
"""

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from celery.schedules import crontab
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file() and "PYTEST_VERSION" not in os.environ:
    env.read_env(BASE_DIR / ".env")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """A strict boolean: 'maybe' is an error, not False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, schemes: set[str]) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ImproperlyConfigured(
            f"{name}={_redact_url(raw)!r} is not a valid URL; expected one of: "
            f"{', '.join(sorted(schemes))}://host/..."
        )
    return raw


def _redact_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var").resolve()
DATABASE_URL = env_url("DATABASE_URL", {"postgres", "postgresql", "sqlite"})
REDIS_URL = env_url("REDIS_URL", {"redis", "rediss"})
EMBEDDED = not DATABASE_URL.startswith(("postgres", "postgresql"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else the one the embedded run stored in DATA_DIR."""
    configured = os.environ.get("SECRET_KEY", "").strip()
    if configured:
        return configured
    stored = DATA_DIR / "secret_key"
    if stored.is_file():
        return stored.read_text().strip()
    if EMBEDDED:
        # The embedded quick start makes its own key once and keeps it beside its database.
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        stored.write_text(key)
        stored.chmod(0o600)
        return key
    if DEBUG:
        return "insecure-debug-only-" + "x" * 40
    raise ImproperlyConfigured(
        f"SECRET_KEY is not set and {stored} does not exist. Set SECRET_KEY in the environment "
        "(production refuses to start without one)."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # First: its runserver (daphne's, with request bodies limited) takes the place of daphne's.
    "anpr",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "django_prometheus",
    "cameras",
    "events",
    "exporters",
    "watchlists",
    # Development-only (the benchmark commands): in a checkout and CI, not in the image.
    *(["devtools"] if (BASE_DIR / "devtools").is_dir() else []),
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# Cameras posting plate reads are not browsers: under gunicorn (anpr/wsgi.py) these paths skip
# sessions, CSRF, CORS, static files, gzip, messages and framing headers (anpr/handlers.py).
# They keep the HTTPS redirect (a camera set to http:// must fail loudly, not send its key in
# clear) and the ALLOWED_HOSTS check. They are counted by status in anpr_device_requests_total
# rather than django-prometheus's many per-request metrics.
DEVICE_PATH_PREFIXES = ("/api/events/ingest/", "/api/ingest/")
DEVICE_MIDDLEWARE = [
    "core.middleware.DeviceRequestsMetricsMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.DeviceCommonMiddleware",
]

ROOT_URLCONF = "anpr.urls"
WSGI_APPLICATION = "anpr.wsgi.application"
ASGI_APPLICATION = "anpr.asgi.application"

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
                "core.pages.operator_navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# How connections are kept depends on the entry point: gunicorn's sync workers (wsgi.py, the
# Celery worker) keep one persistent connection per process; ASGI servers (asgi.py) run each
# sync view in a fresh thread, where persistent connections would pile up, so they use
# psycopg's pool. asgi.py sets DB_CONNECTIONS=pool before settings load.
DB_CONNECTIONS = os.environ.get("DB_CONNECTIONS", "persistent")
if DB_CONNECTIONS not in {"persistent", "pool"}:
    raise ImproperlyConfigured(f"DB_CONNECTIONS={DB_CONNECTIONS!r} must be 'persistent' or 'pool'.")
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 600, minimum=0)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=1)

if not EMBEDDED:
    _db = env.db_url_config(DATABASE_URL)
    _db["ENGINE"] = "anpr.postgresql"  # Django's, with a cheaper health check
    # Beside the URL's own options (sslmode, connect_timeout, ...): Django connects psycopg
    # with prepare_threshold=None, which makes psycopg ignore even an explicit
    # execute(prepare=True). A threshold lets the one statement that asks be prepared, the
    # single-read ingest INSERT (events.services.storage._prepared); Django's own cursors bind
    # client-side and never prepare. (Sessions are kept by any supported pooler: see
    # docs/production.md.)
    _db.setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
    # A server that does not answer (a host gone, a firewall dropping packets) fails a
    # request after this many seconds, as a 503 (core.outage), not after psycopg's two
    # minutes; ?connect_timeout= in the URL sets another.
    _db["OPTIONS"].setdefault("connect_timeout", 5)
    if DB_CONNECTIONS == "pool":
        _db["CONN_MAX_AGE"] = 0
        _db["OPTIONS"]["pool"] = {"min_size": 1, "max_size": DB_POOL_MAX_SIZE, "timeout": 10}
    else:
        _db["CONN_MAX_AGE"] = DB_CONN_MAX_AGE
        _db["CONN_HEALTH_CHECKS"] = True
else:
    import sqlite3

    if sqlite3.sqlite_version_info < (3, 35):  # UPDATE … RETURNING (export delivery claims)
        raise ImproperlyConfigured(
            f"The embedded mode needs SQLite 3.35 or newer; this Python has "
            f"{sqlite3.sqlite_version}. Use a newer Python build, or set DATABASE_URL."
        )
    _sqlite_path = DATABASE_URL.removeprefix("sqlite:///") if DATABASE_URL else ""
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(_sqlite_path) if _sqlite_path else DATA_DIR / "anpr.sqlite3",
        # WAL + IMMEDIATE transactions let the web process and the worker write side by side
        # (a writer waits for the lock up to `timeout` instead of failing on upgrade).
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
# Ingest must never wait for the live stream: a full channel drops its messages (capacity) and
# undelivered ones expire, rather than making group_send wait. Each web process holds one
# channel for the stream, shared by its websocket clients (events.consumers.ProcessFanOut).
CHANNEL_CAPACITY = env_int("CHANNEL_CAPACITY", 200, minimum=1)
CHANNEL_EXPIRY = env_int("CHANNEL_EXPIRY", 30, minimum=1)
CHANNEL_PREFIX = os.environ.get("CHANNEL_PREFIX", "anpr")
# Each web process sends to the layer at most once per interval, with what arrived meanwhile
# (events.broadcast): a send costs the same for one frame or a hundred.
LIVE_SEND_INTERVAL = env_int("LIVE_SEND_INTERVAL_MS", 20, minimum=0) / 1000
# How the channel layer talks to Redis (beside its address). redis-py 8 gives every read a 5 s
# timeout, the same as channels-redis's blocking pop: a stream quiet for 5 s lost its
# consumers (channels_redis issue 422), so reads wait longer than the pop; a hung Redis still
# fails. channels-redis's pools retry nothing: after a Redis restart every pooled connection
# failed its next command (a send of live frames, lost); one retry on a fresh connection.
CHANNEL_REDIS_OPTIONS = {"socket_timeout": 15, "retry_on_error": [RedisConnectionError]}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, **CHANNEL_REDIS_OPTIONS}],
                "capacity": CHANNEL_CAPACITY,
                "expiry": CHANNEL_EXPIRY,
                "prefix": CHANNEL_PREFIX,
                # A web process renews its membership of the live group every minute
                # (events.consumers.ProcessFanOut); one that died without leaving (a restart,
                # a crash) is out after three, not after channels-redis's default day, so
                # senders soon see that nobody listens and stop building frames.
                "group_expiry": 180,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": CHANNEL_EXPIRY},
        }
    }

# --- Live map -------------------------------------------------------------------------------
# Map tiles are the only thing the live map and the admin maps fetch from outside; an empty
# MAP_TILE_URL draws cameras and zones on a blank background (offline sites).
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = os.environ.get(
    "MAP_TILE_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)
# A camera not heard from for this many heartbeat intervals (its sensor settings' shortest,
# else 60 s) shows as offline on the live map.
CAMERA_OFFLINE_AFTER_HEARTBEATS = env_int("CAMERA_OFFLINE_AFTER_HEARTBEATS", 3, minimum=1)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # kombu's filesystem transport: the web process and the worker share a folder, no server.
    CELERY_BROKER_URL = "filesystem://"
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # The exchange table too, else kombu writes ./control in the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "anpr")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection after every task unless this is set;
# anpr/celery.py checks connections before and after each task like Django does per request
# (CONN_MAX_AGE, health checks), so they live on: opening a PostgreSQL connection costs more
# than a whole export delivery.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Seconds between sweeps that queue due and stuck export deliveries (a lost message only
# delays a delivery by about this much).
EXPORTER_SWEEP_INTERVAL = env_float("EXPORTER_SWEEP_INTERVAL", 15.0)
CELERY_BEAT_SCHEDULE = {
    "exporters-sweep": {
        "task": "exporters.tasks.exporter_deliveries_sweep",
        "schedule": EXPORTER_SWEEP_INTERVAL,
    },
}
CELERY_TIMEZONE = "UTC"

# --- Auth, i18n -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The live map's sign-in page: viewers are not staff, so they cannot use the admin's.
LOGIN_URL = "/login/"
# Where signing in lands without a ?next=: the live map (Django's default is a profile page
# this project does not have).
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone.") from None
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or DATA_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class names the scheme in 401 answers (WWW-Authenticate: Bearer).
        "cameras.authentication.UserTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Devices are recognised everywhere so that a device key on a user endpoint gets a
        # clear 403, not a misleading 401.
        "cameras.authentication.DeviceKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api_defaults.ModelRolePermission"],
    # DRF's parsers, with a JSON parser that refuses bodies nested too deep (core/json_bounds.py).
    "DEFAULT_PARSER_CLASSES": [
        "core.api_defaults.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api_defaults.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Every operation's error answers, added by what the operation is (core/schema.py).
    "DEFAULT_SCHEMA_CLASS": "core.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api_defaults.ContentNegotiation",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "ANPR cloud backend API",
    "DESCRIPTION": (
        "Plate reads from edge cameras, their configuration, live streaming and exports. "
        "Users authenticate by session or `Authorization: Bearer <token>`; edge devices by "
        "`Authorization: Token <key>` or `X-API-Key: <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name get their own component names.
    "ENUM_NAME_OVERRIDES": {
        "CameraStatusEnum": "cameras.models.Camera.Status",
        "ZoneKindEnum": "cameras.models.Zone.Kind",
        "IngestResultStatusEnum": "events.services.results.STATUSES",
        "ImportModeEnum": "watchlists.models.IMPORT_MODES",
    },
    # No badge fetched from validator.swagger.io: the docs make no request off this machine.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Product settings -----------------------------------------------------------------------
# A device's last_seen_at is written at most this often, so busy devices don't queue on a row.
DEVICE_LAST_SEEN_INTERVAL = env_int("DEVICE_LAST_SEEN_INTERVAL", 60, minimum=1)
# Each process caches the device behind a key and its cameras (cameras/directory.py; on
# PostgreSQL with persistent connections), dropped at once when PostgreSQL notifies a change
# and at the latest after this many seconds. 0: look them up on every request.
DEVICE_CACHE_SECONDS = env_int("DEVICE_CACHE_SECONDS", 300, minimum=0)

# Events ingest: an image (plate crop or frame) may have at most this many bytes and pixels;
# a read may be at most this many seconds in the future (device clock drift); a batch holds at
# most EVENT_BATCH_MAX_ITEMS reads. A request body to any URL larger than
# EVENT_UPLOAD_MAX_BYTES is refused with 413 before it is read, even before authentication
# (anpr/body_limit.py; the largest body we take is an ingest with two images).
EVENT_IMAGE_MAX_BYTES = env_int("EVENT_IMAGE_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# Pixels: a 4096x2160 (4K) frame is the largest an ANPR camera sends; more is refused from the
# image's header, before it is decoded (a small PNG can declare a huge picture).
EVENT_IMAGE_MAX_PIXELS = env_int("EVENT_IMAGE_MAX_PIXELS", 4096 * 2160, minimum=1)
EVENT_FUTURE_TOLERANCE_SECONDS = env_int("EVENT_FUTURE_TOLERANCE_SECONDS", 300, minimum=0)
EVENT_BATCH_MAX_ITEMS = env_int("EVENT_BATCH_MAX_ITEMS", 1000, minimum=1)
EVENT_UPLOAD_MAX_BYTES = env_int(
    "EVENT_UPLOAD_MAX_BYTES", 2 * EVENT_IMAGE_MAX_BYTES + 1024 * 1024, minimum=1024
)
# Django's own limit on non-file request data (a batch of 1,000 JSON reads is about 1 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024, minimum=1024)
# Seconds between runs of the statistics rollup (Celery beat; also `manage.py rollup_stats`).
STATS_ROLLUP_INTERVAL = env_float("STATS_ROLLUP_INTERVAL", 60.0)
# Seconds a statistics answer is cached at most (it is dropped anyway when the rollup runs);
# 0 computes every answer afresh.
STATS_CACHE_SECONDS = env_int("STATS_CACHE_SECONDS", 60, minimum=0)
# Most events in one CSV export (GET /api/events/?format=csv, the search page's Export CSV);
# a query matching more is refused with a 400 naming the limit, never cut silently. An export
# holds a web worker while it streams, and gunicorn ends a worker busy for GUNICORN_TIMEOUT
# (30 s): the default fits in that with room on a loaded machine; raise both together.
CSV_EXPORT_MAX_ROWS = env_int("CSV_EXPORT_MAX_ROWS", 20_000, minimum=1)
CELERY_BEAT_SCHEDULE["events-stats-rollup"] = {
    "task": "events.tasks.event_statistics_rollup",
    "schedule": STATS_ROLLUP_INTERVAL,
}


def env_networks(name: str) -> list:
    """Comma-separated CIDRs (10.0.0.0/8,fd00::/8) as ip_network objects."""
    import ipaddress

    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a CIDR network.") from None
    return networks


# Exporters refuse destinations on loopback, private, link-local and metadata addresses unless
# they fall in one of these networks (barrier controllers on a LAN).
EXPORTER_ALLOWED_NETWORKS = env_networks("EXPORTER_ALLOWED_NETWORKS")
# Retry schedule: base * 2**(attempt-1), capped, plus up to JITTER of it at random. With the
# defaults and 16 attempts the schedule spans about 29 hours.
EXPORTER_RETRY_BASE = env_float("EXPORTER_RETRY_BASE", 10.0)
EXPORTER_RETRY_MAX_DELAY = env_float("EXPORTER_RETRY_MAX_DELAY", 6 * 3600.0)
EXPORTER_RETRY_JITTER = env_float("EXPORTER_RETRY_JITTER", 0.25)
# Retries due within this many seconds go back on the queue with a countdown; later ones wait
# for the sweep (a countdown beyond the broker's visibility timeout would be redelivered).
EXPORTER_COUNTDOWN_MAX = env_float("EXPORTER_COUNTDOWN_MAX", 60.0)
# A delivery "delivering" longer than this is presumed lost with its worker and sent again.
EXPORTER_CLAIM_TIMEOUT = env_float("EXPORTER_CLAIM_TIMEOUT", 300.0)
# Deliveries the sweep queues per run.
EXPORTER_SWEEP_BATCH = env_int("EXPORTER_SWEEP_BATCH", 1000, minimum=1)
# Bytes of a receiver's response body that are read (the rest is dropped).
EXPORTER_RESPONSE_MAX_BYTES = env_int("EXPORTER_RESPONSE_MAX_BYTES", 65536, minimum=0)

# --- Operations: cache, HTTP hygiene, throttling, metrics, retention -------------------------
# The cache holds throttle counts and failed sign-ins: shared through Redis in production.
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", CHANNEL_PREFIX)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    *cors_default_headers,
    "x-api-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]

# HTTPS=true: served over TLS (at our nginx or a load balancer in front of it). Then cookies
# are Secure, HSTS is sent and plain HTTP is redirected; each can be overridden on its own.
HTTPS = env_bool("HTTPS", False)
_TLS = HTTPS and not DEBUG
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _TLS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _TLS)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^liveness$", r"^ready$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _TLS else 0, minimum=0)
# Off by default: they bind every subdomain (and, once preloaded, browsers for months) to HTTPS,
# which only the owner of the domain can promise. On, they clear check --deploy's W005/W021.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The header our proxy sets to say the client used HTTPS, e.g. X-Forwarded-Proto.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
X_FRAME_OPTIONS = "DENY"
# A header our own proxy sets to the client's address (X-Real-IP); empty: REMOTE_ADDR.
CLIENT_IP_HEADER = os.environ.get("CLIENT_IP_HEADER", "").strip()


def env_rate(name: str, default: str) -> str:
    """A rate like "1200/min" (empty: unlimited)."""
    value = os.environ.get(name, default).strip()
    if value and not re.fullmatch(r"\d+/(s|sec|m|min|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r}: use <count>/<s|min|hour|day>.")
    return value


# Ingest requests per edge device ("1200/min"; empty: unlimited).
INGEST_THROTTLE_RATE = env_rate("INGEST_THROTTLE_RATE", "1200/min")
# CSV exports per user (each holds a web worker for seconds; empty: unlimited).
CSV_EXPORT_THROTTLE_RATE = env_rate("CSV_EXPORT_THROTTLE_RATE", "10/min")
# Refused sign-ins (admin and /login/, a post without a password too) for one user name from
# one address before it is locked out, and for how long.
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5, minimum=1)
ADMIN_LOGIN_LOCKOUT_SECONDS = env_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

# /metrics answers these networks, or anyone sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_ALLOWED_NETWORKS = (
    env_networks("METRICS_ALLOWED_NETWORKS")
    if "METRICS_ALLOWED_NETWORKS" in os.environ
    else [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# Several processes (gunicorn workers) add up their metrics through files in this folder.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# Retention (manage.py purge_events and the nightly beat task): events older than this many
# days go (a camera's retention_days overrides it), images sooner; 0 keeps them for ever.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 90, minimum=0)
IMAGE_RETENTION_DAYS = env_int("IMAGE_RETENTION_DAYS", 30, minimum=0)
# Devices' refused reads (plates too) go with their camera's retention; this many days when
# that keeps events for ever (0), so a diagnostic never outlives its use.
REFUSED_READS_KEEP_DAYS = env_int("REFUSED_READS_KEEP_DAYS", 30, minimum=1)
PURGE_BATCH_SIZE = env_int("PURGE_BATCH_SIZE", 1000, minimum=1)
# When beat runs the purge: a crontab line (minute hour day-of-month month day-of-week), UTC.
PURGE_SCHEDULE = os.environ.get("PURGE_SCHEDULE", "30 3 * * *").strip()
try:
    CELERY_BEAT_SCHEDULE["events-purge"] = {
        "task": "events.tasks.events_purge_scheduled",
        "schedule": crontab(*PURGE_SCHEDULE.split()),
    }
except (TypeError, ValueError):
    raise ImproperlyConfigured(
        f"PURGE_SCHEDULE={PURGE_SCHEDULE!r} is not a crontab line like '30 3 * * *'."
    ) from None
# Non-empty: image views answer with X-Accel-Redirect to this internal nginx location
# (e.g. /protected-media/) instead of streaming the file through Django.
MEDIA_ACCEL_REDIRECT = os.environ.get("MEDIA_ACCEL_REDIRECT", "").strip()
# This site's root URL as receivers outside reach it (e.g. https://anpr.example.com, or
# https://example.com/anpr behind a path prefix): links sent out, such as exporters' image
# links, are made on it. Empty: exporters get no image links.
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", {"http", "https"}).rstrip("/")
if urlparse(PUBLIC_BASE_URL).query or urlparse(PUBLIC_BASE_URL).fragment:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must not have a query or a fragment.")
# Seconds an exporter's image link opens the image without an account (each delivery attempt
# sends fresh links).
EXPORTER_IMAGE_LINK_SECONDS = env_int("EXPORTER_IMAGE_LINK_SECONDS", 86400, minimum=1)
# Seconds within which reads of the same watchlist entry at the same camera are one vehicle
# passage: a repeat, a retry or a refinement inside them raises no second hit.
HIT_REPEAT_SECONDS = env_int("HIT_REPEAT_SECONDS", 120, minimum=0)
# Mail (watchlists' hit e-mails, sent by the Celery worker): Django's SMTP backend on
# EMAIL_HOST:EMAIL_PORT; EMAIL_BACKEND may name another (e.g. the console's, to try it out).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "anpr@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
# Largest watchlist CSV upload through the API in bytes, refused before it is read (also
# bounded by EVENT_UPLOAD_MAX_BYTES; larger files: `manage.py watchlist_import`).
WATCHLIST_IMPORT_MAX_BYTES = env_int("WATCHLIST_IMPORT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Imports of more lines than this run as a task (the API answers 202 and a job to follow).
WATCHLIST_IMPORT_ASYNC_LINES = env_int("WATCHLIST_IMPORT_ASYNC_LINES", 10_000, minimum=1)
# Lists fetched from a URL (source_url): the fetch refuses loopback, private, link-local and
# metadata addresses unless in these networks (as EXPORTER_ALLOWED_NETWORKS for exporters),
# reads at most WATCHLIST_SOURCE_MAX_BYTES and gives up after WATCHLIST_SOURCE_TIMEOUT seconds
# without data. Beat looks for lists due every WATCHLIST_SOURCE_SWEEP_INTERVAL seconds.
WATCHLIST_SOURCE_ALLOWED_NETWORKS = env_networks("WATCHLIST_SOURCE_ALLOWED_NETWORKS")
WATCHLIST_SOURCE_MAX_BYTES = env_int("WATCHLIST_SOURCE_MAX_BYTES", 64 * 1024 * 1024, minimum=1024)
WATCHLIST_SOURCE_TIMEOUT = env_float("WATCHLIST_SOURCE_TIMEOUT", 30.0)
WATCHLIST_SOURCE_SWEEP_INTERVAL = env_float("WATCHLIST_SOURCE_SWEEP_INTERVAL", 60.0)
CELERY_BEAT_SCHEDULE["watchlists-sources"] = {
    "task": "watchlists.tasks.watchlist_sources_sweep",
    "schedule": WATCHLIST_SOURCE_SWEEP_INTERVAL,
}

# json (one object per line, for log collectors) or plain (for a terminal).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if EMBEDDED else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'json' or 'plain'.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "plain": {"()": "core.logging.PlainFormatter"},
    },
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        "outage_answered": {"()": "core.outage.OutageAnsweredFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Its line per 503 (with the traceback of an unreachable database): an outage is
        # logged once by core.outage; each request is in the request log.
        "django.request": {"filters": ["outage_answered"]},
    },
}
