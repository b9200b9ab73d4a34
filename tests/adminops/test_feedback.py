import pytest

from adminops.models import Feedback

pytestmark = pytest.mark.django_db


def test_a_rating_is_stored_with_the_key_that_sent_it(alice, alice_key):
    response = alice.post("/feedback", {"kind": "rating", "rating": 4, "task_id": "demo-1"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["feedback_id"].startswith("fb-")
    assert body["kind"] == "rating" and body["rating"] == 4 and body["task_id"] == "demo-1"
    stored = Feedback.objects.get(id=body["feedback_id"])
    assert stored.key_prefix == alice_key[3:11]


def test_a_correction_keeps_its_text_and_details(alice):
    payload = {"kind": "correction", "text": "My name is Ana, not Anna.", "message_id": "msg-1", "details": {"was": "Anna"}}
    response = alice.post("/feedback", payload, format="json")
    assert response.status_code == 201
    stored = Feedback.objects.get()
    assert (stored.text, stored.message_id, stored.details) == ("My name is Ana, not Anna.", "msg-1", {"was": "Anna"})


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"kind": "rating"}, "rating"),
        ({"kind": "rating", "rating": 0}, "rating"),
        ({"kind": "rating", "rating": 6}, "rating"),
        ({"kind": "rating", "rating": "five"}, "rating"),
        ({"kind": "correction"}, "text"),
        ({"kind": "error_report", "text": "   "}, "text"),
        ({"kind": "correction", "text": "x", "rating": 3}, "rating"),
        ({"kind": "praise", "text": "x"}, "kind"),
        ({"text": "x"}, "kind"),
        ({"kind": "rating", "rating": 3, "details": "not an object"}, "details"),
    ],
)
def test_invalid_feedback_is_refused_and_nothing_is_stored(alice, payload, field):
    response = alice.post("/feedback", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    assert not Feedback.objects.exists()


def test_feedback_needs_a_key(api):
    assert api.post("/feedback", {"kind": "rating", "rating": 4}, format="json").status_code == 401
    assert not Feedback.objects.exists()
