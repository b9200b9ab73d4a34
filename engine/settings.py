"""Django settings. Every environment variable is read here, once (see `.env.example`)."""

import hashlib
import os
import secrets
from pathlib import Path

from engine.env import BASE_DIR, DATA_DIR, env

DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persistent_secret_key() -> str:
    """Generated on the first run and kept in the data directory, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _persistent_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "engine",
    "assets",
    "memory",
    "skills",
    "execution",
    "hitl",
    "adminops",
]

MIDDLEWARE = [
    "engine.middleware.RequestIdMiddleware",
    "engine.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "engine.urls"
WSGI_APPLICATION = "engine.wsgi.application"
APPEND_SLASH = False

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

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'engine.sqlite3'}"),
}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Connections go back after every request; PostgreSQL reuses them through psycopg's pool, which
# is also what bounds the connections that many greenlets can open (notes: serving-under-gevent).
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASE_IS_POSTGRES:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("ENGINE_DB_POOL_SIZE", default=10),
        "timeout": env.float("ENGINE_DB_POOL_TIMEOUT", default=10.0),
    }
    # Django's cursors bind on the client and never prepare, whatever this says; the statements
    # of engine.db.fetch_prepared bind on the server and are prepared on their first run.
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 0)
    # ...and planned once: by default PostgreSQL plans a prepared statement again at each run
    # while such custom plans look cheaper, which for the turn's start statement took 0.55 ms,
    # longer than running it. Only prepared statements (those) are affected.
    options = DATABASES["default"]["OPTIONS"]
    options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
    # One test database per test process, so that two suites can run side by side.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
else:
    # Django's SQLite backend, with closed connections kept for reuse (see the module).
    DATABASES["default"]["ENGINE"] = "engine.backends.sqlite3"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests that start a real server share the test database through a file, never ":memory:".
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-engine-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Static files, i18n -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# WhiteNoise serves the admin's and the offline docs' assets straight from the apps: no collectstatic.
WHITENOISE_USE_FINDERS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- API --------------------------------------------------------------------------------------
ENGINE_MAX_BODY_BYTES = env.int("ENGINE_MAX_BODY_BYTES", default=20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ENGINE_MAX_BODY_BYTES
ENGINE_THROTTLE_RATE = env.str("ENGINE_THROTTLE_RATE", default="6000/min")
ENGINE_KEY_ROTATION_GRACE_SECONDS = env.int("ENGINE_KEY_ROTATION_GRACE_SECONDS", default=86400)
# The bootstrap key is hashed here and the raw value is never kept in settings.
_bootstrap_key = env.str("ENGINE_API_KEY", default="")
ENGINE_API_KEY_SHA256 = hashlib.sha256(_bootstrap_key.encode()).hexdigest() if _bootstrap_key else ""
del _bootstrap_key

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["engine.auth.EngineKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["engine.auth.HasUserScope"],
    "DEFAULT_THROTTLE_CLASSES": ["engine.throttling.KeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "engine.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Engine API",
    "DESCRIPTION": "A self-hosted agentic runtime behind one HTTP API. Send `X-Engine-Key` on "
    "every request except `GET /health`, `/openapi.json` and `/docs`.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "engine.schema.add_error_responses",
    ],
}

# --- Memory -----------------------------------------------------------------------------------
# The catalog directory holds the soul template (soul.yaml); agents, skills and tools live there too.
ENGINE_CATALOG_DIR = Path(env.str("ENGINE_CATALOG_DIR", default=str(BASE_DIR / "catalog"))).resolve()
# Vector search needs the optional `embeddings` extra (a local sentence-embedding model, no network).
ENGINE_EMBEDDINGS = env.bool("ENGINE_EMBEDDINGS", default=False)

# --- Execution ----------------------------------------------------------------------------
ENGINE_MODEL = env.str("ENGINE_MODEL", default="offline")
# Model providers (ENGINE_MODEL=anthropic:<model> or openai:<model>). Empty base URL: the vendor's own.
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
# Seconds to connect and to wait for each piece of a model's answer; then a whole call's cap.
ENGINE_MODEL_TIMEOUT = env.float("ENGINE_MODEL_TIMEOUT", default=60.0)
ENGINE_MODEL_MAX_SECONDS = env.float("ENGINE_MODEL_MAX_SECONDS", default=600.0)
# Extended thinking tokens per Anthropic call (0: off; otherwise at least 1024).
ENGINE_THINKING_BUDGET = env.int("ENGINE_THINKING_BUDGET", default=0)
ENGINE_MAX_STEPS = env.int("ENGINE_MAX_STEPS", default=20)
ENGINE_HEARTBEAT_SECONDS = env.float("ENGINE_HEARTBEAT_SECONDS", default=15.0)
# PostgreSQL: false lets event writes that change no run commit without waiting for their WAL
# flush (execution/eventlog.py; see the README for what a crash of PostgreSQL can then do).
ENGINE_EVENTS_SYNC_COMMIT = env.bool("ENGINE_EVENTS_SYNC_COMMIT", default=True)
ENGINE_RUN_HEARTBEAT_SECONDS = env.float("ENGINE_RUN_HEARTBEAT_SECONDS", default=10.0)
CHANNEL_STATE_TTL_ACTIVE = env.int("CHANNEL_STATE_TTL_ACTIVE", default=3 * 3600)
CHANNEL_STATE_TTL_HITL = env.int("CHANNEL_STATE_TTL_HITL", default=72 * 3600)
ENGINE_MAX_MESSAGE_CHARS = env.int("ENGINE_MAX_MESSAGE_CHARS", default=100_000)
ENGINE_MAX_MEDIA_BYTES = env.int("ENGINE_MAX_MEDIA_BYTES", default=5 * 1024 * 1024)
ENGINE_CHAT_KEY = env.str("ENGINE_CHAT_KEY", default="")
ENGINE_WORKSPACES_DIR = env.str("ENGINE_WORKSPACES_DIR", default=str(DATA_DIR / "workspaces"))
ENGINE_SANDBOX_TIMEOUT_SECONDS = env.float("ENGINE_SANDBOX_TIMEOUT_SECONDS", default=60.0)
ENGINE_SANDBOX_OUTPUT_BYTES = env.int("ENGINE_SANDBOX_OUTPUT_BYTES", default=64 * 1024)
ENGINE_SANDBOX_CPU_SECONDS = env.int("ENGINE_SANDBOX_CPU_SECONDS", default=60)
ENGINE_SANDBOX_MEMORY_MB = env.int("ENGINE_SANDBOX_MEMORY_MB", default=1024)
ENGINE_SANDBOX_FILE_MB = env.int("ENGINE_SANDBOX_FILE_MB", default=100)
ENGINE_FILE_READ_BYTES = env.int("ENGINE_FILE_READ_BYTES", default=256 * 1024)
ENGINE_LIST_FILES_LIMIT = env.int("ENGINE_LIST_FILES_LIMIT", default=1000)
# Tool permission rules, a JSON list of {"tool", "pattern"?, "decision"} (see the README); the
# catalog's permissions.yaml adds more.
ENGINE_PERMISSION_RULES = env.json("ENGINE_PERMISSION_RULES", default=[])
ENGINE_WORKING_MEMORY_CHARS = env.int("ENGINE_WORKING_MEMORY_CHARS", default=8000)
ENGINE_CONTEXT_BUDGET = env.int("ENGINE_CONTEXT_BUDGET", default=100_000)
ENGINE_MEMORY_CONTEXT_TOKENS = env.int("ENGINE_MEMORY_CONTEXT_TOKENS", default=2000)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "engine.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "engine.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our own handler logs unexpected errors once, with the request id; Django's would repeat it.
        "django.request": {"level": "CRITICAL", "propagate": True},
    },
}

# --- Learning Centre -------------------------------------------------------------------------
# Episodes, feedback items and user messages one batch reads at most (each, newest kept).
ENGINE_LC_MAX_ITEMS = env.int("ENGINE_LC_MAX_ITEMS", default=200)
# A queued or running batch older than this is taken as abandoned (its worker died) and failed.
ENGINE_LC_MAX_SECONDS = env.int("ENGINE_LC_MAX_SECONDS", default=1800)

# --- Asset Directory (MCP connectors) ---------------------------------------------------------
# MCP servers come from ENGINE_CATALOG_DIR/mcp_servers (see ENGINE_CATALOG_DIR above).


def _persistent_secrets_key() -> str:
    """A Fernet key generated on the first run and kept in the data directory, like SECRET_KEY."""
    from cryptography.fernet import Fernet

    path = DATA_DIR / "secrets_key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


# Fernet keys for credentials at rest, newest first: prepend a new key to rotate, then run
# `manage.py rotate_asset_secrets`, then drop the old one.
ENGINE_SECRETS_KEYS = env.list("ENGINE_SECRETS_KEYS", default=[]) or [_persistent_secrets_key()]
# Where OAuth providers send the browser back; empty: derived from the request that started the flow.
ENGINE_PUBLIC_URL = env.str("ENGINE_PUBLIC_URL", default="").rstrip("/")
ENGINE_OAUTH_STATE_TTL_SECONDS = env.int("ENGINE_OAUTH_STATE_TTL_SECONDS", default=600)
ENGINE_OAUTH_REFRESH_MARGIN_SECONDS = env.int("ENGINE_OAUTH_REFRESH_MARGIN_SECONDS", default=60)
ENGINE_OAUTH_HTTP_TIMEOUT = env.float("ENGINE_OAUTH_HTTP_TIMEOUT", default=10.0)
# Plain-http OAuth endpoints, for a provider on the loopback in development and tests only.
ENGINE_OAUTH_INSECURE_HTTP = env.bool("ENGINE_OAUTH_INSECURE_HTTP", default=False)
if ENGINE_OAUTH_INSECURE_HTTP:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # oauthlib reads this flag itself
ENGINE_MCP_CONNECT_TIMEOUT = env.float("ENGINE_MCP_CONNECT_TIMEOUT", default=15.0)
ENGINE_MCP_CALL_TIMEOUT = env.float("ENGINE_MCP_CALL_TIMEOUT", default=60.0)
ENGINE_MCP_TOOLS_TTL_SECONDS = env.int("ENGINE_MCP_TOOLS_TTL_SECONDS", default=300)
ENGINE_MCP_MAX_SESSIONS = env.int("ENGINE_MCP_MAX_SESSIONS", default=32)
# requests-oauthlib logs token request and response bodies at DEBUG; the MCP SDK's HTTP client
# logs every request at INFO; the model SDKs log request options at DEBUG. None goes below
# WARNING, whatever LOG_LEVEL says.
for _noisy in ("requests_oauthlib", "oauthlib", "httpx2", "httpcore2", "anthropic", "openai"):
    LOGGING["loggers"][_noisy] = {"level": "WARNING", "propagate": True}
