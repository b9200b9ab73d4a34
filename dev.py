#!/usr/bin/env python3
"""The two set-up commands, on a machine with nothing but Python 3.11+:

    python3 dev.py start   install into .venv, migrate, print a dev key if none exists, serve on :8000
    python3 dev.py test    install into .venv (with test tools) and run the whole test suite

Anything after `test` is passed to pytest. Only the standard library is used here.
"""

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
PYTEST_NO_TESTS = 5


def _run(*args: str) -> int:
    return subprocess.call(args, cwd=ROOT)


def ensure_installed(extra: str) -> None:
    """Creates .venv and installs the project, again only when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit("The Engine needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    stamp = VENV / ".engine-installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"Installing the Engine{f' [{extra}]' if extra else ''} into .venv ...", flush=True)
    target = f".[{extra}]" if extra else "."
    if _run(str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target):
        sys.exit("pip install failed.")
    stamp.write_text(wanted)


def start() -> int:
    ensure_installed("")
    if _run(str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"):
        return 1
    if _run(str(PYTHON), "manage.py", "engine_key", "create", "--name", "dev", "--scope", "admin", "--if-none"):
        return 1
    return _run(str(VENV / "bin" / "gunicorn"), "--config", "gunicorn.conf.py")


def test(pytest_args: list[str]) -> int:
    ensure_installed("dev")
    code = _run(str(PYTHON), "-m", "pytest", *pytest_args)
    if code == PYTEST_NO_TESTS:
        print("pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "start":
        sys.exit(start())
    if command == "test":
        sys.exit(test(sys.argv[2:]))
    sys.exit(__doc__)
