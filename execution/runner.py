"""Running a turn: each run executes in its own greenlet, independent of the request that
started it, and reports every step to the event log (model → tools → model, until done).

This module owns the greenlets of the runs in this worker process: launching, cancelling,
and draining them at shutdown.
"""

import logging
import os
import socket

import gevent
from django.db import connection

from execution import wakeups
from execution.context import MemorySearch
from execution.errors import RunCancelled, WorkerStopping
from execution.models import Run

logger = logging.getLogger(__name__)

_local_runs: dict[str, gevent.Greenlet] = {}


def worker_id() -> str:
    """host:pid of this process (read each time: gunicorn forks workers after import)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def local_run_ids() -> list[str]:
    return list(_local_runs)


def launch(run: Run, *, resume: bool = False, stamps: dict[str, int] | None = None,
           searched: MemorySearch | None = None) -> gevent.Greenlet:
    """Runs the turn in its own greenlet, independent of the request that started it
    (`resume`: a turn that waited on the user, from its stored step; `stamps`: the worker
    cache's, read as the run started, see engine.worker_cache; read by the turn when None;
    `searched`: its long-term memory searches, started ahead, see execution.context)."""
    from execution.turn import execute_turn

    greenlet = gevent.spawn(_run_and_release, execute_turn, run, resume, stamps, searched)
    _local_runs[run.id] = greenlet
    greenlet.link(lambda ended: _local_runs.get(run.id) is ended and _local_runs.pop(run.id, None))
    return greenlet


def _run_and_release(execute, run: Run, resume: bool, stamps: dict[str, int] | None, searched) -> None:
    try:
        execute(run, resume=resume, stamps=stamps, searched=searched)
        start_next_after(run)
    finally:
        connection.close()  # a spawned greenlet must give its connection back (pool slot)


def start_next_after(run: Run) -> None:
    """Starts the task's next queued turn, now that `run` has ended."""
    from execution.services import promote_next_queued

    try:
        promote_next_queued(run.task)
    except Exception:
        logger.exception("could not start the next queued turn after %s", run.id)


def cancel_local(run_id: str) -> bool:
    """Kills the run's greenlet if it lives in this process; False when it does not."""
    greenlet = _local_runs.get(run_id)
    if greenlet is None or greenlet.dead:
        return False
    greenlet.kill(RunCancelled, block=False)
    return True


def _on_control(payload: str) -> None:
    action, _, run_id = payload.partition(":")
    if action == "cancel":
        cancel_local(run_id)


wakeups.on_control(_on_control)


def drain(timeout: float) -> None:
    """At shutdown: lets running turns finish for `timeout` seconds, then stops the rest
    (they close as errored with WORKER_SHUTDOWN, visible through replay)."""
    running = list(_local_runs.values())
    if not running:
        return
    logger.info("waiting up to %.0fs for %d running turn(s)", timeout, len(running))
    gevent.joinall(running, timeout=timeout)
    for greenlet in running:
        if not greenlet.dead:
            greenlet.kill(WorkerStopping, block=False)
    gevent.joinall(running, timeout=5)
