"""Settings for the Deep Learning Playground.

Every environment variable the project reads is read here, through the typed helpers below.
Without REDIS_URL/DATABASE_URL the playground runs embedded: SQLite, in-process channel layer,
in-memory Celery broker and a worker thread inside the web process.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env_str("DATABASE_URL"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL points at a shared database")
    # Embedded single-user default only; any shared deployment sets DJANGO_SECRET_KEY.
    SECRET_KEY = "embedded-playground-not-secret"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# Served over HTTPS (TLS ends at a proxy in front of uvicorn that sets X-Forwarded-Proto): http is
# redirected, HSTS is sent, cookies are secure-only. Off for the embedded playground on plain http.
PLAYGROUND_HTTPS = env_bool("PLAYGROUND_HTTPS", False)
if PLAYGROUND_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("PLAYGROUND_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PLAYGROUND_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("PLAYGROUND_HSTS_PRELOAD", True)

REDIS_URL = env_str("REDIS_URL")
# The embedded worker is a Celery worker thread inside the web process; on by default only
# when there is no broker to hand jobs to a separate worker.
EMBEDDED_WORKER = env_bool("PLAYGROUND_EMBEDDED_WORKER", not REDIS_URL)

# Logical CPU devices each worker process splits its CPU into, so a "mirrored" job can run on
# a machine without GPUs (tests, CPU benchmarks); 0 keeps TensorFlow's single CPU device.
PLAYGROUND_CPU_REPLICAS = env_int("PLAYGROUND_CPU_REPLICAS", 0)
# The exact queues a worker consumes (comma-separated). Unset: its -Q queues plus gpu-1 … gpu-k
# for the k GPUs it finds, so jobs asking for n GPUs reach only workers with n or more
# (playground/ops/registry.py).
PLAYGROUND_WORKER_QUEUES = env_list("PLAYGROUND_WORKER_QUEUES", [])

PLAYGROUND_DATA_DIR = Path(env_str("PLAYGROUND_DATA_DIR", str(BASE_DIR / "var" / "data")))
MEDIA_ROOT = Path(env_str("PLAYGROUND_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by the app, not from a CDN
    "channels",
    "playground.jobs",
    "playground.ops",
    "playground.demos",
    "playground.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # 413 for oversized bodies before anything reads them; 503 when Redis is down (playground/errors.py).
    "playground.errors.FaultsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "playground.urls"
ASGI_APPLICATION = "playground.asgi.application"

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

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded worker thread writes while requests read: WAL + IMMEDIATE transactions
    # avoid "database is locked" on lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request runs its sync code in a thread of its own, and a persistent
    # connection belongs to its thread: every request opened one and left it behind, until
    # PostgreSQL refused clients under load (benchmarks/submit_rate.py). A pool (psycopg_pool)
    # is shared by all threads of the process; Celery's prefork children reopen their own.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": env_int("PLAYGROUND_DB_POOL_SIZE", 10), "timeout": 10,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Larger bodies are refused with 413 before a view reads them (playground/errors.py). The
# largest legitimate one is a predict batch of 256 MNIST images as JSON floats: ~4.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that an unauthenticated request gets 401 with WWW-Authenticate.
        # Named, revocable tokens (playground/accounts); drf_create_token keys keep working too.
        "playground.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "playground.openapi.AutoSchema",
    # DRF's JSON parser answers a too-deeply nested body with a 500; this one with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "playground.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Deep Learning Playground API",
    "DESCRIPTION": "Submit training jobs, follow their events, download their TF.js models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Submission limits (playground/accounts): jobs queued + running per user, epochs × training
# samples per job (0 = no limit; staff are exempt from both), and the DRF rate on job and race
# submissions per user ("" = not throttled), counted in the cache below.
PLAYGROUND_QUOTA_CONCURRENT_JOBS = env_int("PLAYGROUND_QUOTA_CONCURRENT_JOBS", 5)
PLAYGROUND_QUOTA_SAMPLE_EPOCHS = env_int("PLAYGROUND_QUOTA_SAMPLE_EPOCHS", 10_000_000)
PLAYGROUND_SUBMIT_RATE = env_str("PLAYGROUND_SUBMIT_RATE", "30/min")

# Shared by every web process when there is a Redis, so throttling counts across all of them.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis' core layer, with one reader per process for all its consumers.
            "BACKEND": "playground.jobs.channel_layer.FanOutRedisChannelLayer",
            # redis-py's default 5 s socket timeout equals channels_redis's 5 s BZPOPMIN, so an
            # idle consumer's read timed out and dropped its WebSocket every few seconds
            # (measured in tests/integration/test_redis_restart.py); a dead Redis still fails
            # at once (connection reset or refused), an unreachable one within the 1 s connect.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 1}],
                       "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if not REDIS_URL:
    # kombu's in-memory transport polls; the default 1 s would delay every job start.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.1}
CELERY_TASK_ROUTES = {"playground.jobs.tasks.*": {"queue": "training"}}
CELERY_TASK_ACKS_LATE = True
# A task whose worker process dies (kill -9, OOM) goes back to the queue instead of being acked
# as failed; with Redis, a message left unacked by a whole worker that died is redelivered after
# visibility_timeout. A job running longer than that is redelivered while alive too: the lease
# (playground/jobs/leases.py) turns that copy into a no-op, so the timeout only bounds recovery.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("PLAYGROUND_VISIBILITY_TIMEOUT_S", 600),
        # A Redis that does not answer (host gone, not just the port closed) fails a submission
        # in seconds instead of the OS's TCP timeout (minutes).
        "socket_connect_timeout": 1,
    }
# With the broker down a submission answers 503 within ~2 s: one quick retry for a blip, no more.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.5, "interval_step": 0, "interval_max": 0.5}
# A worker that loses Redis keeps training (the job's lease lives in the database) and
# reconnects; cancelling would throw away a running job for a broker blip.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# How often a running job looks for a cancel request, in seconds (one DB read per interval).
PLAYGROUND_CANCEL_POLL_S = 0.25
# Leases on running jobs (playground/jobs/leases.py): a worker refreshes its job's heartbeat
# every HEARTBEAT_S while training; one silent for LEASE_TIMEOUT_S is presumed dead and its job
# resumed elsewhere from the last checkpoint, at most MAX_ATTEMPTS claims in all.
PLAYGROUND_HEARTBEAT_S = env_int("PLAYGROUND_HEARTBEAT_S", 5)
PLAYGROUND_LEASE_TIMEOUT_S = env_int("PLAYGROUND_LEASE_TIMEOUT_S", 120)
PLAYGROUND_MAX_ATTEMPTS = env_int("PLAYGROUND_MAX_ATTEMPTS", 3)
# multi_worker:<n> jobs (playground/jobs/gang.py): how long the first worker to join waits for
# the other n-1 before failing the job, and the address other workers reach this one's
# TensorFlow gRPC server on (a port is picked per job).
PLAYGROUND_GANG_TIMEOUT_S = env_int("PLAYGROUND_GANG_TIMEOUT_S", 300)
PLAYGROUND_GANG_HOST = env_str("PLAYGROUND_GANG_HOST", socket.gethostname())
# Per-epoch checkpoints a job keeps for forks (trainer.checkpoint.Retention): every KEEP_EVERY-th
# epoch and the last KEEP_LAST, besides best and latest; KEEP_EVERY=1 keeps them all.
PLAYGROUND_CHECKPOINT_KEEP_EVERY = env_int("PLAYGROUND_CHECKPOINT_KEEP_EVERY", 5)
PLAYGROUND_CHECKPOINT_KEEP_LAST = env_int("PLAYGROUND_CHECKPOINT_KEEP_LAST", 3)
if PLAYGROUND_CHECKPOINT_KEEP_EVERY < 0 or PLAYGROUND_CHECKPOINT_KEEP_LAST < 0:
    raise ImproperlyConfigured("PLAYGROUND_CHECKPOINT_KEEP_EVERY and PLAYGROUND_CHECKPOINT_KEEP_LAST "
                               "must be 0 or more.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
