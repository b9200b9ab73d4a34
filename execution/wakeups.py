"""Waking readers of the event log the moment something is appended.

Within a worker process, readers wait on a gevent Event registered per task (or for all tasks)
and the appender sets it after its commit. Readers in other worker processes or machines are
woken through PostgreSQL LISTEN/NOTIFY: each worker keeps one listening connection (not Django's)
and re-wakes everyone after every (re)connect, since NOTIFYs sent while it was down are lost.
On SQLite the Engine runs one worker, and the in-process path is all there is.
The same listener carries control messages (cancel a run) between workers, and tells the
worker's copies of the API keys when a key changed (engine.keys.KeyCopies): they are served
only while it listens.
"""

import json
import logging
import os
import socket
from collections import defaultdict, deque
from collections.abc import Callable

import gevent
import gevent.event
from django.conf import settings
from django.db import connection

from engine.keys import KEYS_CHANGED_CHANNEL, LISTENER_CHECK_SECONDS, key_copies

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "engine_events"
CONTROL_CHANNEL = "engine_control"
ALL_TASKS = "*"

_subscriptions: dict[str, set["Subscription"]] = defaultdict(set)
_control_handlers: list[Callable[[str], None]] = []
_listener: gevent.Greenlet | None = None
INBOX_LIMIT = 5000
MARK_END = "|"  # between the sending process's mark and the payload of a NOTIFY


class Subscription:
    """`with Subscription(task_id) as subscription:` — `subscription.signal` is set whenever
    that task (or, for None, any task) gets new events; clear it before reading the log, so no
    wake-up is lost. A task's subscription also receives the events appended in this process
    (`take()`), so a reader that is up to date needs no query; anything it cannot prove
    contiguous it reads from the log instead."""

    def __init__(self, task_id: str | None):
        self.key = task_id or ALL_TASKS
        self.signal = gevent.event.Event()
        self._inbox: deque = deque()
        self.overflowed = False
        self._nudged = False  # woken without the events (another worker appended): read the log

    def __enter__(self) -> "Subscription":
        _subscriptions[self.key].add(self)
        return self

    def __exit__(self, *exc) -> None:
        subscribed = _subscriptions.get(self.key)
        if subscribed is not None:
            subscribed.discard(self)
            if not subscribed:
                del _subscriptions[self.key]

    def deliver(self, events: list) -> None:
        if len(self._inbox) + len(events) > INBOX_LIMIT:  # a reader that fell far behind reads the log
            self._inbox.clear()
            self.overflowed = True
        else:
            self._inbox.extend(events)
        self.signal.set()

    def nudge(self) -> None:
        self._nudged = True
        self.signal.set()

    def take(self) -> tuple[list, bool]:
        """The events handed over since the last call, and whether it was also nudged."""
        events, nudged = list(self._inbox), self._nudged
        self._inbox.clear()
        self._nudged = False
        return events, nudged


def wake(task_id: str, events: list | None = None) -> None:
    """Wakes the readers of a task (handing them `events`, appended here, oldest first) and the
    readers of every task."""
    for subscription in tuple(_subscriptions.get(task_id, ())):
        if events:
            subscription.deliver(events)
        else:
            subscription.nudge()
    for subscription in tuple(_subscriptions.get(ALL_TASKS, ())):
        subscription.nudge()


def wake_everyone() -> None:
    for subscribed in tuple(_subscriptions.values()):
        for subscription in tuple(subscribed):
            subscription.nudge()


def notify_in_transaction(channel: str, *payloads: str) -> None:
    """Tells the other workers, at commit, in one statement. A no-op on SQLite (one worker).
    Each payload carries this process's mark, so its own listener can pass over it."""
    if settings.DATABASE_IS_POSTGRES and payloads:
        prefix = notice_prefix()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(['pg_notify(%s, %s)'] * len(payloads))}",
                           [value for payload in payloads for value in (channel, f"{prefix}{payload}")])


def notice_prefix() -> str:
    """What a NOTIFY payload from this process starts with (see `on_notice`)."""
    return f"{_process_mark()}{MARK_END}"


def _process_mark() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"  # read each time: gunicorn forks workers after import


def on_notice(channel: str, marked_payload: str) -> None:
    """A NOTIFY came in. Events appended by this very process were handed to its readers at
    commit already: waking them again would only make every stream read the log for nothing."""
    if channel == KEYS_CHANGED_CHANNEL:
        key_copies.forget()
        return
    origin, _, payload = marked_payload.partition(MARK_END)
    if channel == EVENTS_CHANNEL:
        if origin != _process_mark():
            for task_id in _tasks_named(payload):
                wake(task_id)
    else:
        dispatch_control(payload)


def _tasks_named(payload: str) -> list[str]:
    """The tasks of one write: a JSON list (eventlog's append), or a single task id as workers
    before it sent, so that a restart with both versions running loses no wake-up."""
    if payload.startswith("["):
        try:
            return json.loads(payload)
        except ValueError:
            pass
    return [payload]


def on_control(handler: Callable[[str], None]) -> None:
    _control_handlers.append(handler)


def dispatch_control(payload: str) -> None:
    for handler in _control_handlers:
        handler(payload)


def start_listener() -> None:
    """Starts this worker's LISTEN greenlet (PostgreSQL only). Call once, at worker start."""
    global _listener
    if not settings.DATABASE_IS_POSTGRES or (_listener is not None and not _listener.dead):
        return
    _listener = gevent.spawn(_listen_forever)


def _conninfo() -> str:
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES["default"]
    return make_conninfo(
        dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, application_name="engine-listener",
        # A connection that died without a word (a network cut) fails within seconds, not hours.
        keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=10_000,
    )


def _listen_forever() -> None:
    import psycopg

    backoff = 0.5
    while True:
        try:
            with psycopg.connect(_conninfo(), autocommit=True) as listening:
                listening.execute(f"LISTEN {EVENTS_CHANNEL}")
                listening.execute(f"LISTEN {CONTROL_CHANNEL}")
                listening.execute(f"LISTEN {KEYS_CHANGED_CHANNEL}")
                backoff = 0.5
                key_copies.trust()
                try:
                    wake_everyone()
                    while True:
                        for notice in listening.notifies(timeout=LISTENER_CHECK_SECONDS):
                            on_notice(notice.channel, notice.payload)
                        # The server still answers, so nothing sent to this connection was lost
                        # (psycopg keeps notices that come in meanwhile for the next round).
                        listening.execute("SELECT 1")
                        key_copies.heard()
                finally:
                    key_copies.distrust()  # key changes are no longer heard, however this ends
        except Exception:  # the listener must outlive any failure, or cross-worker wake-ups stop
            logger.warning("event listener failed; reconnecting in %.1fs", backoff, exc_info=True)
            gevent.sleep(backoff)
            backoff = min(backoff * 2, 10)
