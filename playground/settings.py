"""Settings for the Deep Learning Playground.

Every environment variable the project reads is read here, through the typed helpers below.
Without REDIS_URL/DATABASE_URL the playground runs embedded: SQLite, in-process channel layer,
in-memory Celery broker and a worker thread inside the web process.
"""
from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
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

# Content Security Policy (django-csp): scripts only from this site, none inline — pages pass
# their data with json_script (application/json, which is not run), and a test scans every
# template for inline scripts, handlers and style attributes. 'wasm-unsafe-eval' is for TF.js'
# wasm backend; no 'unsafe-eval': the pages load TF.js' es2017 build, since tf.min.js 4.22 calls
# Function() once at load (regenerator-runtime's strict-mode fallback) and failed. 'self' covers this
# site's ws:/wss: in connect-src (CSP Level 3). The Swagger UI at /api/docs/ adds one inline
# <style> (playground/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, "'wasm-unsafe-eval'"],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],  # as X-Frame-Options: DENY
    },
}

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

# Where job files (checkpoints, exports, TensorBoard logs, snapshots) and uploaded datasets
# live. "filesystem": MEDIA_ROOT, one machine's disk (or a shared one). "s3": an S3-compatible
# bucket through django-storages, so web and workers share no disk; MEDIA_ROOT is then each
# process's own working and cache folder (playground/jobs/files.py).
PLAYGROUND_STORAGE = env_str("PLAYGROUND_STORAGE", "filesystem")
if PLAYGROUND_STORAGE not in ("filesystem", "s3"):
    raise ImproperlyConfigured(f"PLAYGROUND_STORAGE is {PLAYGROUND_STORAGE!r}; use filesystem or s3.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if PLAYGROUND_STORAGE == "s3":
    # django-storages reads these standard names itself; the bucket must exist (docker-compose
    # creates it with a one-shot service).
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
    AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
    AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("PLAYGROUND_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    # Private objects; nothing is served from the bucket directly: the web streams a file after
    # the same access checks as on a disk.
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = True  # job files are rewritten in place (latest checkpoint)
    from botocore.config import Config

    # Path-style for MinIO and other self-hosted endpoints; a storage that is down fails a
    # request within seconds (playground/jobs/files.py retries around it, then says so).
    AWS_S3_CLIENT_CONFIG = Config(
        s3={"addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "path" if AWS_S3_ENDPOINT_URL else "auto")},
        signature_version="s3v4", retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
        read_timeout=60)
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

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
    "axes",  # log-in lockouts, below
    "playground.jobs",
    "playground.ops",
    "playground.demos",
    "playground.accounts",
    "playground.datasets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # 503 when Redis is down (playground/errors.py).
    "playground.errors.FaultsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
# Applied by the sign-up and password forms; `ensure_demo_user` sets its password directly, so the
# embedded demo/demo login keeps working.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out log-ins before checking the password
    "django.contrib.auth.backends.ModelBackend",
]
# Log-in lockouts (django-axes, on the site's and the admin's log-in pages): after LIMIT failed
# log-ins for one username, or from one client address, each within COOLOFF_S of the previous,
# that username or address is refused for COOLOFF_S (a failure meanwhile starts it again); the
# page says so with a 429 and Retry-After. 150 wrong passwords in 43 s were all answered before.
# LIMIT 0 turns lockouts off. Attempts are rows in the database (admin: Axes), shared by all web
# processes; `manage.py axes_reset` lifts every lockout.
PLAYGROUND_LOGIN_FAILURE_LIMIT = env_int("PLAYGROUND_LOGIN_FAILURE_LIMIT", 10)
PLAYGROUND_LOGIN_COOLOFF_S = env_int("PLAYGROUND_LOGIN_COOLOFF_S", 15 * 60)
if PLAYGROUND_LOGIN_FAILURE_LIMIT < 0 or PLAYGROUND_LOGIN_COOLOFF_S < 1:
    raise ImproperlyConfigured("PLAYGROUND_LOGIN_FAILURE_LIMIT must be 0 or more and PLAYGROUND_LOGIN_COOLOFF_S "
                               "1 or more (a lockout without a cool-off would last until an admin lifts it).")
AXES_ENABLED = PLAYGROUND_LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = PLAYGROUND_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=PLAYGROUND_LOGIN_COOLOFF_S)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_LOCKOUT_CALLABLE = "playground.accounts.lockout.lockout_response"
# Not AXES_RESET_ON_SUCCESS: logging into one's own account between guesses would wipe the
# address's failures on other accounts too.
AXES_DISABLE_ACCESS_LOG = True  # a row per successful log-in is not something we read
# The client is REMOTE_ADDR, which uvicorn takes from X-Forwarded-For only from trusted proxies;
# reading the header here would let a client pick a fresh address per guess.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Larger bodies are refused with 413 as their bytes arrive, before Django reads them
# (playground/body_limit.py). The largest legitimate one is a predict batch of 256 MNIST images
# as JSON floats: ~4.5 MB. A route that takes more (an upload) gets its own limit in
# PLAYGROUND_BODY_LIMITS, path prefix → bytes, the longest matching prefix winning; Django still
# applies DATA_UPLOAD_MAX_MEMORY_SIZE to non-file form fields there.
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
PLAYGROUND_BODY_LIMITS: dict[str, int] = {
    # A browser's weights: the largest model a browser is given (PLAYGROUND_MAX_TFJS_BYTES,
    # below) plus its bundle header.
    "/api/v1/jobs/*/browser/checkpoint/": env_int("PLAYGROUND_MAX_TFJS_BYTES", 100_000_000) + (1 << 20),
    "/api/v1/jobs/*/browser/finish/": env_int("PLAYGROUND_MAX_TFJS_BYTES", 100_000_000) + (1 << 20),
    # Events are small and frequent: a batch of 50 is a few KiB. A probe sample (trainer.probe)
    # of the largest 2-D network, 50 neurons × 441 points, is about 130 KiB.
    "/api/v1/jobs/*/browser/events/": 256 * 1024,
}

# Uploaded datasets (playground/datasets): the largest file one upload may be (the API and the
# /datasets/ page; the body limit adds 1 MiB for the multipart framing), what a zip may hold
# (entries, bytes once decompressed, decompressed/compressed ratio: a zip bomb of 1 GB of zeros
# is ~1 MB, ratio ~1000, while zips of PNG/JPEG photos stay near 1), and how many stored bytes
# all of a user's datasets may keep (staff exempt). 0 turns a cap off.
PLAYGROUND_DATASET_MAX_UPLOAD_BYTES = env_int("PLAYGROUND_DATASET_MAX_UPLOAD_BYTES", 50_000_000)
PLAYGROUND_DATASET_MAX_ENTRIES = env_int("PLAYGROUND_DATASET_MAX_ENTRIES", 20_000)
PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES = env_int("PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES", 500_000_000)
PLAYGROUND_DATASET_MAX_RATIO = env_int("PLAYGROUND_DATASET_MAX_RATIO", 100)
PLAYGROUND_USER_DATASET_QUOTA_BYTES = env_int("PLAYGROUND_USER_DATASET_QUOTA_BYTES", 1_000_000_000)
if min(PLAYGROUND_DATASET_MAX_UPLOAD_BYTES, PLAYGROUND_DATASET_MAX_ENTRIES, PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES,
       PLAYGROUND_DATASET_MAX_RATIO, PLAYGROUND_USER_DATASET_QUOTA_BYTES) < 0:
    raise ImproperlyConfigured("The PLAYGROUND_DATASET_* limits and PLAYGROUND_USER_DATASET_QUOTA_BYTES must be "
                               "0 (no limit) or more.")
if PLAYGROUND_DATASET_MAX_UPLOAD_BYTES:
    PLAYGROUND_BODY_LIMITS.update(dict.fromkeys(("/api/v1/datasets/", "/datasets/"),
                                                PLAYGROUND_DATASET_MAX_UPLOAD_BYTES + (1 << 20)))

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
# Network diagrams (POST /api/v1/architecture/) per user or visitor's IP; each builds a model.
PLAYGROUND_ARCHITECTURE_RATE = env_str("PLAYGROUND_ARCHITECTURE_RATE", "120/min")
# How big one job's model may be (trainer/sizing.py estimates it from the spec; 0 = no limit,
# staff exempt), checked at submission. Recipe defaults peak at 3.4 M parameters (the
# translator), 285 MB of activations per batch (the GAN on MNIST) and 321 MB of disk (the
# translator); the perceptron of [4096]*8 at batch 4096 that took 4.5 GB of worker memory and
# 6.1 GB of disk in one epoch has 117.8 M parameters. 20 M parameters (80 MB of float32, 320 MB with Adam's slots and the
# gradients) + 2 GB of activations keep a job near 3 GB of worker memory, TensorFlow's own
# 0.7 GB included (RSS after one step of a tiny model on CPU: 717 MB).
PLAYGROUND_MAX_PARAMS = env_int("PLAYGROUND_MAX_PARAMS", 20_000_000)
PLAYGROUND_MAX_ACTIVATION_BYTES = env_int("PLAYGROUND_MAX_ACTIVATION_BYTES", 2_000_000_000)
# Checkpoints at their peak (what the retention below keeps) plus .h5 and TF.js exports.
PLAYGROUND_MAX_JOB_DISK_BYTES = env_int("PLAYGROUND_MAX_JOB_DISK_BYTES", 2_000_000_000)
# Across all of a user's jobs: finished ones as measured, queued and running ones as estimated.
PLAYGROUND_USER_DISK_QUOTA_BYTES = env_int("PLAYGROUND_USER_DISK_QUOTA_BYTES", 10_000_000_000)
# Float32 TF.js weights a browser is asked to download; a bigger model is refused at submission
# and, for jobs exempt from that, exported without TF.js.
PLAYGROUND_MAX_TFJS_BYTES = env_int("PLAYGROUND_MAX_TFJS_BYTES", 100_000_000)
# Weight bytes of the models the web process keeps loaded for predict/translate (LRU); a model
# bigger than this is refused rather than loaded (trainer/inference.py).
PLAYGROUND_PREDICT_CACHE_BYTES = env_int("PLAYGROUND_PREDICT_CACHE_BYTES", 256_000_000)
# Wrong or revoked API tokens per client address (REMOTE_ADDR): after LIMIT of them within
# WINDOW_S, token requests from that address answer 429 with Retry-After until the oldest one
# is WINDOW_S old (playground/accounts/token_throttle.py; counted in the cache below). 0 = off.
PLAYGROUND_TOKEN_FAILURE_LIMIT = env_int("PLAYGROUND_TOKEN_FAILURE_LIMIT", 20)
PLAYGROUND_TOKEN_FAILURE_WINDOW_S = env_int("PLAYGROUND_TOKEN_FAILURE_WINDOW_S", 60)
# WebSockets (playground/jobs/consumers.py): open sockets per user (per client address for share
# links), counted in the cache across processes — 2,000 sockets on one token were accepted, 977 MB
# RSS — and "resume" frames per connection per minute (each one replays events from the database).
PLAYGROUND_WS_PER_USER = env_int("PLAYGROUND_WS_PER_USER", 50)
PLAYGROUND_WS_RESUMES_PER_MINUTE = env_int("PLAYGROUND_WS_RESUMES_PER_MINUTE", 10)
if min(PLAYGROUND_TOKEN_FAILURE_LIMIT, PLAYGROUND_WS_PER_USER, PLAYGROUND_WS_RESUMES_PER_MINUTE) < 0 \
        or PLAYGROUND_TOKEN_FAILURE_WINDOW_S < 1:
    raise ImproperlyConfigured("PLAYGROUND_TOKEN_FAILURE_LIMIT, PLAYGROUND_WS_PER_USER and "
                               "PLAYGROUND_WS_RESUMES_PER_MINUTE must be 0 (no limit) or more, "
                               "PLAYGROUND_TOKEN_FAILURE_WINDOW_S 1 or more.")

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
# requeued by the next watchdog check (every WATCHDOG_S, in every worker), to resume elsewhere
# from the last checkpoint: 30-40 s after the worker died with these defaults (120 s and a
# 120 s watchdog made it 137-148 s). A job is given up after MAX_ATTEMPTS attempts in a row
# that lost their worker without adding an epoch.
PLAYGROUND_HEARTBEAT_S = env_int("PLAYGROUND_HEARTBEAT_S", 5)
PLAYGROUND_LEASE_TIMEOUT_S = env_int("PLAYGROUND_LEASE_TIMEOUT_S", 30)
PLAYGROUND_WATCHDOG_S = env_int("PLAYGROUND_WATCHDOG_S", max(1, PLAYGROUND_LEASE_TIMEOUT_S // 3))
if PLAYGROUND_HEARTBEAT_S * 2 > PLAYGROUND_LEASE_TIMEOUT_S:
    raise ImproperlyConfigured("PLAYGROUND_LEASE_TIMEOUT_S must be at least twice PLAYGROUND_HEARTBEAT_S, or a "
                               "live worker that misses one beat looks dead.")
PLAYGROUND_MAX_ATTEMPTS = env_int("PLAYGROUND_MAX_ATTEMPTS", 3)
# Browser jobs (playground/jobs/browser.py): every events call is the tab's heartbeat, sent at
# least every BROWSER_HEARTBEAT_S; a tab silent for BROWSER_TIMEOUT_S has stopped (closed,
# offline) and its job offers "Continue on a server worker". A tab may send at most
# BROWSER_EVENTS_RATE events calls (it batches its events; a worker sends ≤ 4 batch events/s).
PLAYGROUND_BROWSER_HEARTBEAT_S = env_int("PLAYGROUND_BROWSER_HEARTBEAT_S", 5)
# Try it while it trains: a worker keeps a float32 TF.js snapshot of the latest epoch at most
# every SNAPSHOT_INTERVAL_S seconds (and within 3 % of the training time; trainer/snapshot.py).
# 0 = no snapshots.
PLAYGROUND_SNAPSHOT_INTERVAL_S = env_int("PLAYGROUND_SNAPSHOT_INTERVAL_S", 2)
PLAYGROUND_BROWSER_TIMEOUT_S = env_int("PLAYGROUND_BROWSER_TIMEOUT_S", 30)
PLAYGROUND_BROWSER_EVENTS_RATE = env_str("PLAYGROUND_BROWSER_EVENTS_RATE", "600/min")
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
