"""Shared by the benchmarks: a real Engine server on a scratch database, and latency summaries.

Loopback only. Every loop is bounded in time and count.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_postgres(url: str) -> tuple[str, callable]:
    """A new, empty database on the PostgreSQL server of `url`, and the function that drops it:
    a bench must not read what earlier runs left (episodes, events) in a shared database."""
    import psycopg

    name = f"engine_bench_{os.getpid()}_{free_port()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}")), drop


class BenchServer:
    """gunicorn + gevent on a fresh database: SQLite in a temp dir, or a scratch database on the
    PostgreSQL server of DATABASE_URL (unless `env` names the database, to share another's).
    `root`: the checkout it serves (default: this one), so that two versions can run side by side."""

    def __init__(self, *, workers: int = 1, env: dict | None = None, root: Path = ROOT):
        self.root = Path(root)
        self.data_dir = Path(tempfile.mkdtemp(prefix="engine-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ENGINE_DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "ENGINE_WORKERS": str(workers),
            "ENGINE_ACCESS_LOG": "false",
            "LOG_LEVEL": "WARNING",
            "ENGINE_THROTTLE_RATE": "1000000/min",
            **(env or {}),
        }
        self.drop_database = lambda: None
        if self.env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) and "DATABASE_URL" not in (env or {}):
            self.env["DATABASE_URL"], self.drop_database = scratch_postgres(self.env["DATABASE_URL"])
        self.process = None

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=self.root, env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def __enter__(self, migrate: bool = True) -> "BenchServer":
        if migrate:
            self.manage("migrate", "--noinput")
            self.admin_key = self.manage("engine_key", "create", "--name", "bench", "--scope", "admin")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=self.root, env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.drop_database()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe_ms(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 0.5) * 1000:.2f} ms  p95 {percentile(samples, 0.95) * 1000:.2f} ms  p99 {percentile(samples, 0.99) * 1000:.2f} ms"
