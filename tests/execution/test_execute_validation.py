"""Bad input to /execute, /execute/replay and /execute/cancel: the JSON error shape, nothing written."""

import pytest

from execution.models import Event, Message, Run, Task

pytestmark = pytest.mark.django_db

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def nothing_written() -> bool:
    return not (Task.objects.exists() or Run.objects.exists() or Message.objects.exists() or Event.objects.exists())


@pytest.mark.parametrize(
    "body, field",
    [
        ({"task_id": "t"}, "message"),
        ({"message": "hi"}, "task_id"),
        ({"message": "   ", "task_id": "t"}, "message"),
        ({"message": 42, "task_id": "t"}, "message"),
        ({"message": "hi", "task_id": ""}, "task_id"),
        ({"message": "hi", "task_id": "x" * 201}, "task_id"),
        ({"message": "hi", "task_id": "t", "direct": "perhaps"}, "direct"),
        ({"message": "hi", "task_id": "t", "queue": [1]}, "queue"),
        ({"message": "hi", "task_id": "t", "media": "not a list"}, "media"),
        ({"message": "hi", "task_id": "t", "media": [{"type": "video", "media_type": "video/mp4", "data": PNG}]}, "media"),
        ({"message": "hi", "task_id": "t", "media": [{"type": "image", "media_type": "image/tiff", "data": PNG}]}, "media"),
        ({"message": "hi", "task_id": "t", "media": [{"type": "image", "data": PNG}]}, "media"),
        ({"message": "hi", "task_id": "t", "media": [{"type": "image", "media_type": "image/png", "data": "%%%not base64"}]}, "media"),
        ({"message": "hi", "task_id": "t", "media": [{"type": "image", "media_type": "image/jpeg", "data": f"data:image/png;base64,{PNG}"}]}, "media"),
        ({"message": "hi", "task_id": "t", "edit_message_id": "msg-1", "retry_message_id": "msg-2"}, "retry_message_id"),
    ],
)
def test_invalid_execute_bodies_are_refused_field_by_field(alice, body, field):
    response = alice.post("/execute", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    assert nothing_written()


def test_an_oversized_attachment_is_refused(alice, settings):
    settings.ENGINE_MAX_MEDIA_BYTES = 10
    body = {"message": "hi", "task_id": "t", "media": [{"type": "image", "media_type": "image/png", "data": PNG}]}
    response = alice.post("/execute", body, format="json")
    assert response.status_code == 400
    assert "limit" in str(response.json()["details"]["media"])
    assert nothing_written()


def test_a_too_long_message_is_refused(alice, settings):
    settings.ENGINE_MAX_MESSAGE_CHARS = 5
    response = alice.post("/execute", {"message": "too long", "task_id": "t"}, format="json")
    assert response.json()["error"] == "validation_error"
    assert nothing_written()


@pytest.mark.parametrize("field", ["edit_message_id", "retry_message_id"])
def test_editing_or_retrying_an_unknown_message_is_a_404(alice, field):
    response = alice.post("/execute", {"message": "hi", "task_id": "t", field: "msg-nope"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "message_not_found"
    assert not Run.objects.exists() and not Message.objects.exists()


def test_execute_needs_a_key_and_json(alice):
    from rest_framework.test import APIClient

    assert APIClient().post("/execute", {"message": "hi", "task_id": "t"}, format="json").json()["error"] == "missing_key"
    malformed = alice.generic("POST", "/execute", "{nope", content_type="application/json")
    assert malformed.json()["error"] == "malformed_json"
    assert nothing_written()


def test_replay_refuses_bad_parameters(alice):
    assert alice.get("/execute/replay", {"after": "-1"}).json()["error"] == "validation_error"
    assert alice.get("/execute/replay", {"after": "soon"}).json()["error"] == "validation_error"
    unknown = alice.get("/execute/replay", {"task_id": "nope"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "task_not_found")
    bad_cursor = alice.get("/execute/replay", HTTP_LAST_EVENT_ID="abc")
    assert (bad_cursor.status_code, bad_cursor.json()["error"]) == (400, "invalid_cursor")


def test_cancel_needs_a_task_id(alice):
    response = alice.post("/execute/cancel", {}, format="json")
    assert response.status_code == 400 and "task_id" in response.json()["details"]


def test_an_event_stream_client_still_gets_json_errors(alice):
    response = alice.post("/execute", {"task_id": "t"}, format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
