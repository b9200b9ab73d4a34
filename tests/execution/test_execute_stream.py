"""POST /execute through the real gunicorn+gevent server."""

import base64
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection

from execution.models import Message, Run
from tests.sse import execute, without_heartbeats

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def task() -> str:
    return f"task-{uuid.uuid4().hex[:8]}"


def types(events) -> list[str]:
    return [event.event for event in without_heartbeats(events)]


def collapse_deltas(names: list[str]) -> list[str]:
    collapsed = []
    for name in names:
        if not (collapsed and name.endswith("_delta") and collapsed[-1] == name):
            collapsed.append(name)
    return collapsed


def test_a_turn_with_a_tool_call_streams_every_step_in_order(engine_server, key):
    task_id = task()
    response = requests.post(
        f"{engine_server.url}/execute", json={"message": "what time is it? /time", "task_id": task_id, "direct": True},
        headers={"X-Engine-Key": key, "Accept": "text/event-stream"}, stream=True, timeout=30,
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    response.close()
    events = execute(engine_server, key, {"message": "what time is it? /time", "task_id": task(), "direct": True})
    assert collapse_deltas(types(events)) == [
        "thread_lifecycle",
        "content_block_start", "text_delta", "content_block_stop",
        "content_block_start", "tool_call", "content_block_stop",
        "usage",
        "tool_result",
        "content_block_start", "text_delta", "content_block_stop",
        "usage",
        "thread_lifecycle",
    ]
    ids = [event.id for event in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    run_id = events[0].data["run_id"]
    assert [event.data["seq"] for event in events] == list(range(events[0].data["seq"], events[0].data["seq"] + len(events)))
    for event in events:
        assert event.data["run_id"] == run_id
        assert isinstance(event.data["ts"], int) and event.data["ts"] > 1_700_000_000_000
    started, finished = events[0].data, events[-1].data
    assert started["phase"] == "started" and started["turn_id"] == run_id and started["timestamp"].endswith("Z")
    assert finished["phase"] == "completed"
    call = next(e for e in events if e.event == "tool_call").data
    result = next(e for e in events if e.event == "tool_result").data
    assert call["tool"] == "current_time" and call["input"] == {}
    assert result["tool_call_id"] == call["tool_call_id"] and "utc" in result["output"]
    reply = "".join(e.data["text"] for e in events if e.event == "text_delta")
    assert "The tool current_time returned" in reply
    usage = [e.data for e in events if e.event == "usage"]
    assert all(u["input_tokens"] > 0 and u["output_tokens"] > 0 for u in usage)
    run = Run.objects.get(id=run_id)
    assert run.status == "completed"
    assert run.usage["output_tokens"] == sum(u["output_tokens"] for u in usage)


def test_the_stream_opens_with_the_reconnect_delay_before_the_model_answers(engine_server, key):
    started = time.monotonic()
    response = requests.post(
        f"{engine_server.url}/execute", json={"message": "hello /sleep 1", "task_id": task(), "direct": True},
        headers={"X-Engine-Key": key}, stream=True, timeout=30,
    )
    chunks = response.raw.stream(65536, decode_content=False)  # chunks as the server wrote them
    first_chunk, opened = next(chunks), time.monotonic() - started
    second_chunk = next(chunks)
    response.close()
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert first_chunk == b"retry: 2000\n\n" and opened < 0.8  # the model sleeps a second
    assert second_chunk.startswith(b"id: ") and b"event: thread_lifecycle" in second_chunk


def test_the_offline_model_says_what_it_is_and_how_to_configure_a_real_one(engine_server, key):
    events = execute(engine_server, key, {"message": "hello there", "task_id": task(), "direct": True})
    reply = "".join(e.data["text"] for e in events if e.event == "text_delta")
    assert "You said: hello there" in reply
    assert "offline model" in reply and "ENGINE_MODEL" in reply


def test_without_direct_a_planning_step_streams_as_thinking_first(engine_server, key):
    events = execute(engine_server, key, {"message": "plan please", "task_id": task()})
    names = collapse_deltas(types(events))
    assert names[:4] == ["thread_lifecycle", "content_block_start", "thinking_delta", "content_block_stop"]
    assert "text_delta" in names[4:]
    thinking = "".join(e.data["text"] for e in events if e.event == "thinking_delta")
    assert thinking.startswith("Plan:")


def test_heartbeats_flow_while_the_turn_is_quiet(engine_server, key):
    events = execute(engine_server, key, {"message": "/sleep 1.6", "task_id": task(), "direct": True})
    beats = [e for e in events if e.event == "heartbeat"]
    assert len(beats) >= 2
    assert all(e.id is None and e.data["task_id"] for e in beats)
    assert events[-1].data["phase"] == "completed"


def test_a_provider_failure_ends_the_turn_with_an_error_event(engine_server, key):
    events = execute(engine_server, key, {"message": "/fail LLM_AUTH_ERROR", "task_id": task(), "direct": True})
    assert types(events)[-2:] == ["error", "thread_lifecycle"]
    assert events[-2].data["error"] == "LLM_AUTH_ERROR" and events[-2].data["message"]
    assert events[-1].data["phase"] == "errored"
    run = Run.objects.get(id=events[0].data["run_id"])
    assert (run.status, run.error_code) == ("errored", "LLM_AUTH_ERROR")


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="on SQLite a turn never yields before its first token")
def test_a_turns_started_event_is_written_with_its_first_token(engine_server, key):
    """While the memory searches run, `started` waits for the first token to share its write:
    rows one transaction wrote share their xmin."""
    execute(engine_server, key, {"message": "hello", "task_id": task(), "direct": True})  # the worker warms up
    shared = 0
    for _ in range(6):
        events = execute(engine_server, key, {"message": "hello", "task_id": task(), "direct": True})
        with connection.cursor() as cursor:
            cursor.execute("SELECT type, xmin::text FROM execution_event WHERE run_id = %s ORDER BY id",
                           [events[0].data["run_id"]])
            written = cursor.fetchall()
        assert written[0][0] == "thread_lifecycle"
        first_token = next(write for type, write in written if type == "text_delta")
        shared += written[0][1] == first_token
    assert shared >= 4  # a turn slower than the hold's few milliseconds (a busy machine) writes twice


def test_reusing_a_task_id_continues_the_thread(engine_server, key):
    task_id = task()
    execute(engine_server, key, {"message": "my name is Ana", "task_id": task_id, "direct": True})
    events = execute(engine_server, key, {"message": "/history", "task_id": task_id, "direct": True})
    reply = "".join(e.data["text"] for e in events if e.event == "text_delta")
    assert "my name is Ana | /history" in reply
    assert Message.objects.filter(task__task_id=task_id).count() == 4


def test_the_turn_that_opens_a_task_sees_its_message_and_media_without_reading_them_back(engine_server, key):
    task_id = task()
    dot = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    png = base64.b64encode(base64.b64decode(dot) + bytes(3000)).decode()
    first = execute(engine_server, key, {
        "message": "hi /history", "task_id": task_id, "direct": True,
        "media": [{"type": "image", "media_type": "image/png", "data": png}],
    })
    reply = "".join(e.data["text"] for e in first if e.event == "text_delta")
    assert reply.startswith("I can see these user messages: hi /history") and "|" not in reply
    usage = next(e.data for e in first if e.event == "usage")
    assert usage["input_tokens"] >= len(png) // 4  # the model was given the image block
    second = execute(engine_server, key, {"message": "/history", "task_id": task_id, "direct": True})
    assert "hi /history | /history" in "".join(e.data["text"] for e in second if e.event == "text_delta")
    runs = Run.objects.filter(task__task_id=task_id).order_by("created_at")
    assert [run.options["opens_task"] for run in runs] == [True, False]
    assert list(Message.objects.filter(task__task_id=task_id).values_list("position", flat=True)) == [0, 1, 2, 3]


def test_an_edit_replaces_the_message_and_drops_what_came_after(engine_server, key):
    task_id = task()
    first = execute(engine_server, key, {"message": "I like tea", "task_id": task_id, "direct": True})
    execute(engine_server, key, {"message": "and biscuits", "task_id": task_id, "direct": True})
    edited = execute(engine_server, key, {
        "message": "I like coffee /history", "task_id": task_id, "direct": True,
        "edit_message_id": first[0].data["message_id"],
    })
    reply = "".join(e.data["text"] for e in edited if e.event == "text_delta")
    assert "I can see these user messages: I like coffee /history" in reply
    assert "tea" not in reply and "biscuits" not in reply
    superseded = Message.objects.filter(task__task_id=task_id, superseded=True)
    assert superseded.count() == 4  # both earlier turns, user and assistant, kept but superseded


def test_a_retry_reruns_from_that_message_with_the_state_up_to_it(engine_server, key):
    task_id = task()
    execute(engine_server, key, {"message": "one /history", "task_id": task_id, "direct": True})
    second = execute(engine_server, key, {"message": "two /history", "task_id": task_id, "direct": True})
    execute(engine_server, key, {"message": "three", "task_id": task_id, "direct": True})
    retried = execute(engine_server, key, {
        "message": "", "task_id": task_id, "direct": True, "retry_message_id": second[0].data["message_id"],
    })
    reply = "".join(e.data["text"] for e in retried if e.event == "text_delta")
    assert reply.startswith("I can see these user messages: one /history | two /history")
    assert "three" not in reply
    assert retried[0].data["message_id"] == second[0].data["message_id"]
    live_user_messages = Message.objects.filter(task__task_id=task_id, role="user", superseded=False)
    assert [m.content[0]["text"] for m in live_user_messages] == ["one /history", "two /history"]


def test_media_is_validated_and_stored_with_the_message(engine_server, key):
    task_id = task()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    execute(engine_server, key, {
        "message": "look", "task_id": task_id, "direct": True,
        "media": [{"type": "image", "data": f"data:image/png;base64,{png}", "name": "dot.png"}],
    })
    message = Message.objects.get(task__task_id=task_id, role="user")
    assert message.content[1] == {"type": "image", "media_type": "image/png", "data": png, "size": 70, "name": "dot.png"}
