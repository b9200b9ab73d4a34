"""A real gunicorn + gevent Engine in a subprocess, on a free loopback port.

pytest-django's `live_server` is a threaded server without gevent, so it would exercise none of
the serving path (notes: serving-under-gevent, fact 11). Tests that use this must use
`transactional_db`, so that what they write is committed and visible to the server.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_server() -> str:
    """The URL of the database pytest-django created, for the server to share."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"


class EngineServer:
    def __init__(self, *, database_url: str | None = None, workers: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="engine-server-"))
        self.log_path = self.data_dir / "server.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url or database_url_for_server(),
            "ENGINE_DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "ENGINE_WORKERS": str(workers),
            "SECRET_KEY": "test-only-secret-key-for-the-live-server",
            "LOG_LEVEL": "INFO",
            # A closed client connection still holds a gevent worker's shutdown for the keep-alive time.
            "ENGINE_KEEPALIVE_SECONDS": "1",
            # Quick heartbeats and watchdog beats, so tests see them without waiting long.
            "ENGINE_HEARTBEAT_SECONDS": "0.5",
            "ENGINE_RUN_HEARTBEAT_SECONDS": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, *, expect_healthy: bool = True, timeout: float = 30.0) -> "EngineServer":
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                response = requests.get(f"{self.url}/health", timeout=2)
                if response.status_code == 200 or not expect_healthy:
                    return self
            except requests.RequestException:
                pass  # not listening yet, or busy starting: both are normal during start-up
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "EngineServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
