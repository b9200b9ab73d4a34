"""No turn stays "thinking" forever.

Each worker beats for its own runs every ENGINE_RUN_HEARTBEAT_SECONDS. A running run is an
orphan when its heartbeat is three beats old, or at once when its worker ran on this host and
that process is gone (a restarted worker finds its predecessor's runs on start-up). Orphans are
closed as errored with a `RUN_LOST` error event, visible through replay. The same loop purges
events past their TTL now and then.
"""

import logging
import math
import os
import time
from datetime import timedelta

import gevent
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from execution import runner
from execution.eventlog import append_now, iso_now, now_ms
from execution.models import Event, Run, RunStatus

logger = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 600
_watchdog: gevent.Greenlet | None = None


def start() -> None:
    """Starts this worker's watchdog greenlet (at worker start); it reaps at once."""
    global _watchdog
    if _watchdog is None or _watchdog.dead:
        _watchdog = gevent.spawn(_watch_forever)


def _watch_forever() -> None:
    last_purge = 0.0
    while True:
        try:
            beat()
            reap_orphans()
            expire_requests()
            if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                purge_expired_events()
                last_purge = time.monotonic()
        except Exception:
            logger.exception("watchdog pass failed")
        finally:
            connection.close()
        gevent.sleep(settings.ENGINE_RUN_HEARTBEAT_SECONDS)


def expire_requests() -> None:
    from hitl.services import expire_due_requests

    expire_due_requests()


def beat() -> None:
    local = runner.local_run_ids()
    if local:
        Run.objects.filter(id__in=local, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())


def _process_is_gone(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != runner.worker_id().rpartition(":")[0] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def reap_orphans() -> list[str]:
    """Closes the running runs whose worker is gone; returns their ids."""
    stale_before = timezone.now() - timedelta(seconds=3 * settings.ENGINE_RUN_HEARTBEAT_SECONDS)
    local = set(runner.local_run_ids())
    reaped = []
    for run in Run.objects.filter(status=RunStatus.RUNNING).select_related("task"):
        if run.id in local:
            continue
        stale = run.heartbeat_at is None or run.heartbeat_at < stale_before
        if stale or _process_is_gone(run.worker):
            if close_lost_run(run):
                reaped.append(run.id)
    return reaped


def close_lost_run(run: Run) -> bool:
    """Marks one orphan errored with its closing events, unless another worker did first."""
    message = "The worker running this turn stopped before it finished; the turn was lost."
    with transaction.atomic():
        claimed = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.ERRORED, ended_at=timezone.now(), error_code="RUN_LOST", error_message=message
        )
        if not claimed:
            return False
        append_now(task=run.task, run_id=run.id, events=[
            ("error", {"error": "RUN_LOST", "message": message}),
            ("thread_lifecycle", {"phase": "errored", "turn_id": run.id, "timestamp": iso_now()}),
        ])
    logger.warning("run %s was lost with its worker %s; marked errored", run.id, run.worker)
    runner.start_next_after(run)
    return True


def purge_expired_events() -> int:
    """Deletes events past their TTL: CHANNEL_STATE_TTL_ACTIVE after a run ended,
    CHANNEL_STATE_TTL_HITL for a run waiting on a human. Returns how many were deleted."""
    now = timezone.now()
    ended_before = now - timedelta(seconds=settings.CHANNEL_STATE_TTL_ACTIVE)
    waiting_since_ms = now_ms() - settings.CHANNEL_STATE_TTL_HITL * 1000
    # Every expired event is older than the later of the two cut-offs: that bound lets the `ts`
    # index find the candidates (events have no index by run).
    latest_cutoff_ms = max(math.ceil(ended_before.timestamp() * 1000), waiting_since_ms)
    expired = Event.objects.filter(ts__lte=latest_cutoff_ms).filter(
        Q(run__status__in=[RunStatus.COMPLETED, RunStatus.ERRORED, RunStatus.CANCELLED], run__ended_at__lt=ended_before)
        | Q(run__status=RunStatus.WAITING, ts__lt=waiting_since_ms)
    )
    deleted, _ = expired.delete()
    return deleted
