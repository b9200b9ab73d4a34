"""Request-wide middleware: the request id, and the body-size limit checked before parsing."""

import re
import uuid

from django.conf import settings

from engine.errors import PayloadTooLarge, error_response
from engine.logging import current_request_id

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Tags the request, its log lines and its response with one id (the client's, if sane)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request.id = offered if _ACCEPTABLE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        token = current_request_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.id
        return response


class BodySizeLimitMiddleware:
    """Refuses a declared oversize body with 413 before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.ENGINE_MAX_BODY_BYTES:
            return error_response(PayloadTooLarge())
        return self.get_response(request)
