"""Every non-2xx answer is JSON `{"error", "message"}`, through the real URL conf."""

import logging

import pytest

from adminops import services as adminops_services
from engine.errors import ERROR_CODES

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.content.decode()
    return body


def test_an_unknown_route_is_a_json_404(alice):
    assert_error(alice.get("/no/such/thing"), 404, "not_found")


def test_an_unknown_route_is_a_json_404_even_without_a_key(api):
    assert_error(api.get("/no/such/thing"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(alice):
    body = assert_error(alice.get("/feedback"), 405, "method_not_allowed")
    assert "GET" in body["message"]


def test_validation_errors_carry_per_field_details(alice):
    body = assert_error(alice.post("/feedback", {"rating": 9}, format="json"), 400, "validation_error")
    assert set(body["details"]) == {"kind", "rating"}


def test_malformed_json_is_a_400(alice):
    response = alice.generic("POST", "/feedback", '{"kind": "rating",', content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_a_body_that_is_not_json_is_a_415(alice):
    response = alice.generic("POST", "/feedback", "kind=rating", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_a_response_format_we_do_not_have_is_a_406(alice):
    response = alice.post("/feedback", {"kind": "rating", "rating": 3}, format="json", HTTP_ACCEPT="application/xml")
    assert_error(response, 406, "not_acceptable")


def test_a_body_over_the_limit_is_a_413_and_is_not_stored(alice, settings):
    from adminops.models import Feedback

    settings.ENGINE_MAX_BODY_BYTES = 100
    response = alice.post("/feedback", {"kind": "correction", "text": "x" * 200}, format="json")
    assert_error(response, 413, "payload_too_large")
    assert not Feedback.objects.exists()


def test_too_many_requests_is_a_429_with_retry_after(alice, settings):
    settings.ENGINE_THROTTLE_RATE = "2/min"
    for _ in range(2):
        assert alice.post("/feedback", {"kind": "rating", "rating": 5}, format="json").status_code == 201
    response = alice.post("/feedback", {"kind": "rating", "rating": 5}, format="json")
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_an_unexpected_exception_is_a_500_without_details_and_is_logged_with_the_request_id(
    alice, monkeypatch, caplog
):
    def broken(**_):
        raise RuntimeError("database exploded: secret internals")

    monkeypatch.setattr(adminops_services, "record_feedback", broken)
    with caplog.at_level(logging.ERROR, logger="engine.errors"):
        response = alice.post("/feedback", {"kind": "rating", "rating": 1}, format="json", HTTP_X_REQUEST_ID="req-12345678")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.content.decode()
    assert response["X-Request-ID"] == "req-12345678"
    assert body["message"]
    record = next(r for r in caplog.records if r.name == "engine.errors")
    assert record.request_id == "req-12345678"
    assert "secret internals" in str(record.exc_info[1])


def test_every_response_gets_a_request_id(api):
    assert len(api.get("/health")["X-Request-ID"]) == 32
    assert api.get("/health", HTTP_X_REQUEST_ID="not valid!")["X-Request-ID"] != "not valid!"


def test_the_error_codes_are_all_listed_once_with_their_status():
    assert ERROR_CODES["missing_key"][0] == 401
    assert ERROR_CODES["payload_too_large"][0] == 413
    assert all(code == code.lower() for code in ERROR_CODES)
