"""Management commands of the execution app: chat, purge_events, and the watchdog's reaping."""

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from execution import watchdog
from execution.eventlog import now_ms
from execution.models import Event, Run, RunStatus, Task
from tests.live_server import ROOT


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_chat_streams_a_turn_to_the_terminal_through_the_api(engine_server, key):
    task_id = f"chat-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "manage.py", "chat", "--task", task_id, "--url", engine_server.url, "--key", key],
        input="what time is it /time\n/quit\n", cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[tool current_time {}]" in result.stdout
    assert "The tool current_time returned:" in result.stdout
    assert Run.objects.get(task__task_id=task_id).status == "completed"


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_chat_reports_a_refused_key_clearly(engine_server):
    result = subprocess.run(
        [sys.executable, "manage.py", "chat", "--task", "t", "--url", engine_server.url, "--key", "wrong", "--message", "hi"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "401 invalid_key" in result.stderr


def _run_with_events(status: str, ended_ago: timedelta | None, event_age: timedelta) -> Run:
    task = Task.objects.create(task_id=f"t-{uuid.uuid4().hex[:6]}", last_seq=1)
    run = Run.objects.create(task=task, status=status, ended_at=timezone.now() - ended_ago if ended_ago else None)
    Event.objects.create(task=task, run=run, seq=1, ts=now_ms() - int(event_age.total_seconds() * 1000), type="usage", data={})
    return run


@pytest.mark.django_db
def test_purge_events_keeps_events_within_their_ttl(settings):
    settings.CHANNEL_STATE_TTL_ACTIVE = 3 * 3600
    settings.CHANNEL_STATE_TTL_HITL = 72 * 3600
    old_done = _run_with_events(RunStatus.COMPLETED, timedelta(hours=4), timedelta(hours=4))
    recent_done = _run_with_events(RunStatus.ERRORED, timedelta(hours=2), timedelta(hours=2))
    long_wait = _run_with_events(RunStatus.WAITING, None, timedelta(hours=10))
    expired_wait = _run_with_events(RunStatus.WAITING, None, timedelta(hours=73))
    call_command("purge_events")
    assert set(Event.objects.values_list("run_id", flat=True)) == {recent_done.id, long_wait.id}
    assert Run.objects.filter(id__in=[old_done.id, expired_wait.id]).count() == 2  # runs and tasks stay


@pytest.mark.django_db(transaction=True)
def test_the_watchdog_closes_a_run_whose_heartbeat_stopped(settings):
    settings.ENGINE_RUN_HEARTBEAT_SECONDS = 1
    task = Task.objects.create(task_id="orphan", last_seq=3)
    stale = Run.objects.create(task=task, status=RunStatus.RUNNING, worker="elsewhere:1",
                               heartbeat_at=timezone.now() - timedelta(seconds=10))
    fresh_task = Task.objects.create(task_id="alive")
    fresh = Run.objects.create(task=fresh_task, status=RunStatus.RUNNING, worker="elsewhere:2", heartbeat_at=timezone.now())
    assert watchdog.reap_orphans() == [stale.id]
    stale.refresh_from_db()
    assert (stale.status, stale.error_code) == (RunStatus.ERRORED, "RUN_LOST")
    events = list(Event.objects.filter(run=stale).order_by("seq"))
    assert [(e.seq, e.type) for e in events] == [(4, "error"), (5, "thread_lifecycle")]
    assert events[1].data["phase"] == "errored"
    assert Run.objects.get(id=fresh.id).status == RunStatus.RUNNING
    assert watchdog.reap_orphans() == []
