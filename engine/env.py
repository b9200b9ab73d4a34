"""The one place that reads the process environment.

`engine/settings.py` (Django) and `gunicorn.conf.py` (the server) both read their configuration
from here, so every variable is declared once, with a default that works on a fresh machine.
This module must not import Django's settings or psycopg: gunicorn loads it before gevent has
patched the worker.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    env.read_env(str(_dotenv))

DATA_DIR = Path(env.str("ENGINE_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()


def server_settings() -> dict:
    """What gunicorn needs to know: where to listen and how many gevent workers to run."""
    return {
        "host": env.str("HOST", default="127.0.0.1"),
        "port": env.int("PORT", default=8000),
        "workers": env.int("ENGINE_WORKERS", default=1),
        "worker_connections": env.int("ENGINE_WORKER_CONNECTIONS", default=1000),
        "timeout": env.int("ENGINE_WORKER_TIMEOUT", default=30),
        "graceful_timeout": env.int("ENGINE_GRACEFUL_TIMEOUT", default=20),
        "keepalive": env.int("ENGINE_KEEPALIVE_SECONDS", default=5),
        "log_level": env.str("LOG_LEVEL", default="INFO").lower(),
        "access_log": env.bool("ENGINE_ACCESS_LOG", default=True),
    }
