"""Where the agent's tools touch the machine: a per-task workspace directory and a shell.

What the sandbox does: every command runs in the task's workspace, in a new session and
process group, with an environment built from scratch (no Engine secrets, no inherited
variables), with CPU, address-space, file-size and open-file limits, a wall-clock timeout and an
output cap; on timeout or cancel the whole process group is killed. What it does not do: it is
no container. Commands run as the Engine's user, can read whatever that user can read, can
reach the network, and a process that starts its own session escapes the group kill. Run the
Engine as an unprivileged user (or inside a container) when the model is not trusted.
"""

import hashlib
import os
import resource
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
READ_CHUNK = 65536


class PathOutsideWorkspace(Exception):
    """A path that leaves the workspace (absolute, `..`, or through a symlink)."""


def workspace_for(task_id: str) -> Path:
    """The task's workspace, created on first use. Named by a hash: task ids are any string."""
    path = Path(settings.ENGINE_WORKSPACES_DIR) / hashlib.sha256(task_id.encode()).hexdigest()[:32]
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_in_workspace(workspace: Path, relative: str) -> Path:
    """The real path of `relative` inside `workspace`; raises PathOutsideWorkspace otherwise.
    Symlinks are followed before the check, so a link pointing out of the workspace is refused."""
    if not relative or relative.startswith(("/", "~")) or "\x00" in relative:
        raise PathOutsideWorkspace(f"{relative!r}: give a path relative to the workspace.")
    root = workspace.resolve()
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise PathOutsideWorkspace(f"{relative!r} is outside the workspace.")
    return candidate


@dataclass
class CommandResult:
    exit_code: int | None
    output: str
    timed_out: bool
    truncated: bool


def _scrubbed_environment(workspace: Path) -> dict[str, str]:
    return {"PATH": SAFE_PATH, "HOME": str(workspace), "TMPDIR": str(workspace), "LANG": "C.UTF-8", "TERM": "dumb"}


def _limit_resources() -> None:  # runs in the child, between fork and exec
    megabyte = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (settings.ENGINE_SANDBOX_CPU_SECONDS,) * 2)
    resource.setrlimit(resource.RLIMIT_AS, (settings.ENGINE_SANDBOX_MEMORY_MB * megabyte,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings.ENGINE_SANDBOX_FILE_MB * megabyte,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def run_command(command: str, *, workspace: Path, timeout: float | None = None) -> CommandResult:
    """Runs `command` with bash in the workspace under the sandbox's limits. Cooperative under
    gevent; killing the calling greenlet (a cancelled run) kills the command's process group."""
    timeout = settings.ENGINE_SANDBOX_TIMEOUT_SECONDS if timeout is None else timeout
    limit = settings.ENGINE_SANDBOX_OUTPUT_BYTES
    process = subprocess.Popen(
        ["/bin/bash", "-c", command], cwd=workspace, env=_scrubbed_environment(workspace),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_limit_resources,
    )
    kept, seen, timed_out = bytearray(), 0, False
    deadline = time.monotonic() + timeout
    try:
        # select() rather than blocking reads: gevent makes it cooperative in a worker, and it
        # honours the deadline in a plain process too.
        stream = process.stdout.fileno()
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([stream], [], [], remaining)[0]:
                continue
            chunk = os.read(stream, READ_CHUNK)
            if not chunk:
                break
            seen += len(chunk)
            kept += chunk[: max(0, limit - len(kept))]  # keep draining past the cap, so it never blocks
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if process.poll() is None:
            timed_out = timed_out or time.monotonic() >= deadline
            _kill_group(process)
        process.stdout.close()
    return CommandResult(
        exit_code=None if timed_out else process.returncode,
        output=kept.decode("utf-8", errors="replace"),
        timed_out=timed_out,
        truncated=seen > limit,
    )


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
