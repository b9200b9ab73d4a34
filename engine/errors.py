"""The error contract: every non-2xx answer is `{"error": code, "message": text}`.

Services raise `EngineError` subclasses; one handler (`exception_handler`, wired into DRF) and
Django's `handler404`/`handler500` turn DRF's, Django's and our exceptions into that shape.
`ERROR_CODES` is the complete list of HTTP error codes, documented in the README.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

logger = logging.getLogger("engine.errors")
KEY_HEADER = "X-Engine-Key"


class EngineError(Exception):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side. The request id is in the X-Request-ID header."

    def __init__(self, message: str | None = None, *, details=None, **extra):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details
        self.extra = extra

    def body(self) -> dict:
        body = {"error": self.code, "message": self.message, **self.extra}
        if self.details is not None:
            body["details"] = self.details
        return body


def _error(status: int, code: str, message: str) -> type[EngineError]:
    return type(code.title().replace("_", ""), (EngineError,), {"status": status, "code": code, "message": message})


ValidationFailed = _error(400, "validation_error", "The request body is not valid; see details.")
MalformedJson = _error(400, "malformed_json", "The request body is not valid JSON.")
BadRequest = _error(400, "bad_request", "The request could not be understood.")
MissingKey = _error(401, "missing_key", "Send your API key in the X-Engine-Key header.")
InvalidKey = _error(401, "invalid_key", "That API key is not valid.")
KeyRevoked = _error(401, "key_revoked", "That API key has been revoked.")
KeyExpired = _error(401, "key_expired", "That API key has expired.")
InsufficientScope = _error(403, "insufficient_scope", "This endpoint needs an admin-scoped key.")
Forbidden = _error(403, "forbidden", "You may not do that.")
NotFound = _error(404, "not_found", "There is nothing at this address.")
MethodNotAllowed = _error(405, "method_not_allowed", "That method is not allowed here.")
NotAcceptable = _error(406, "not_acceptable", "The requested response format is not available.")
Conflict = _error(409, "conflict", "That conflicts with the current state.")
Gone = _error(410, "gone", "That is no longer available.")
PayloadTooLarge = _error(413, "payload_too_large", "The request body is larger than the limit.")
UnsupportedMediaType = _error(415, "unsupported_media_type", "Send the body as application/json.")
Throttled = _error(429, "throttled", "Too many requests; retry after the Retry-After delay.")
InternalError = _error(500, "internal_error", EngineError.message)
ServiceUnavailable = _error(503, "service_unavailable", "The Engine cannot serve this right now.")

ERROR_CODES: dict[str, tuple[int, str]] = {
    cls.code: (cls.status, cls.message)
    for cls in (
        ValidationFailed, MalformedJson, BadRequest, MissingKey, InvalidKey, KeyRevoked, KeyExpired,
        InsufficientScope, Forbidden, NotFound, MethodNotAllowed, NotAcceptable, Conflict, Gone,
        PayloadTooLarge, UnsupportedMediaType, Throttled, InternalError, ServiceUnavailable,
    )
}


def register_error(status: int, code: str, message: str) -> type[EngineError]:
    """Declares an app's own error (for example `task_busy`) so that it is listed with the rest."""
    cls = _error(status, code, message)
    ERROR_CODES[code] = (status, message)
    return cls


def error_response(error: EngineError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = KEY_HEADER
    if isinstance(error, Throttled) and error.extra.get("retry_after") is not None:
        response["Retry-After"] = str(error.extra["retry_after"])
    return response


def _from_drf(exc: drf.APIException) -> EngineError:
    if isinstance(exc, drf.ValidationError):
        return ValidationFailed(details=exc.detail)
    if isinstance(exc, drf.ParseError):
        return MalformedJson()
    if isinstance(exc, drf.NotAuthenticated):
        return MissingKey()
    if isinstance(exc, drf.AuthenticationFailed):
        return InvalidKey()
    if isinstance(exc, drf.PermissionDenied):
        return Forbidden()
    if isinstance(exc, drf.NotFound):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return NotAcceptable()
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType()
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait + 0.999) if exc.wait is not None else None
        return Throttled(retry_after=wait)
    error = EngineError(str(exc.detail))
    error.status, error.code = exc.status_code, exc.default_code
    return error


def as_engine_error(exc: Exception) -> EngineError | None:
    """Maps a known exception to our family; None when it is unexpected (a bug)."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, drf.APIException):
        return _from_drf(exc)
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return Forbidden()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        return BadRequest()
    if isinstance(exc, OperationalError):
        # Pool exhausted, database down or locked: the back-pressure signal (retry later).
        logger.warning("database unavailable", exc_info=exc)
        return ServiceUnavailable("The database is unavailable right now; retry shortly.")
    return None


def exception_handler(exc: Exception, context: dict):
    """DRF's EXCEPTION_HANDLER: every error leaves as the contract's JSON shape."""
    error = as_engine_error(exc)
    if error is None:
        logger.error("unexpected error in %s", context["view"].__class__.__name__, exc_info=exc)
        error = InternalError()
    return error_response(error)


def handler400(request, exception=None):
    return error_response(BadRequest())


def handler403(request, exception=None):
    return error_response(Forbidden())


def handler404(request, exception=None):
    return error_response(NotFound(f"There is nothing at {request.path}."))


def handler500(request):
    logger.error("unexpected error serving %s %s", request.method, request.path, exc_info=True)
    return error_response(InternalError())
