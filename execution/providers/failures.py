"""Provider failures as `ModelError`s: one stable code per kind of failure, a message a person
can act on, and never a secret (providers echo parts of a rejected key back in their errors)."""

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

import gevent

from execution.llm import ModelError

T = TypeVar("T")

_PROVIDER_MESSAGE_CHARS = 300
# Error `type`s the provider may send in a body, even inside a 200 stream.
_CODE_OF_TYPE = {
    "authentication_error": "LLM_AUTH_ERROR",
    "permission_error": "LLM_AUTH_ERROR",
    "rate_limit_error": "LLM_RATE_LIMITED",
    "overloaded_error": "LLM_OVERLOADED",
    "timeout_error": "LLM_TIMEOUT",
    "api_error": "LLM_PROVIDER_ERROR",
}


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def status_failure(
    *, provider: str, key_setting: str, status: int, error_type: str | None, provider_message: str | None,
    retry_after: float | None, secrets: list[str],
) -> ModelError:
    """The ModelError for an HTTP error answer (or an error event inside a stream)."""
    said = redact((provider_message or "").strip(), secrets)[:_PROVIDER_MESSAGE_CHARS]
    suffix = f" The provider said: {said}" if said else ""
    how = f"HTTP {status}" if status >= 400 else "an error event in its stream"
    details = {"provider": provider, "status": status}
    code = _CODE_OF_TYPE.get(error_type or "")
    if code == "LLM_AUTH_ERROR" or status in (401, 403):
        return ModelError("LLM_AUTH_ERROR", f"{provider} refused our credentials ({how}); check {key_setting}.{suffix}",
                          details=details)
    if code == "LLM_RATE_LIMITED" or status == 429:
        return ModelError("LLM_RATE_LIMITED", f"{provider} rate-limited the Engine ({how}).{suffix}",
                          retryable=True, details=details, retry_after=retry_after)
    if code == "LLM_OVERLOADED" or status == 529:
        return ModelError("LLM_OVERLOADED", f"{provider} is overloaded ({how}).{suffix}",
                          retryable=True, details=details, retry_after=retry_after)
    if code == "LLM_TIMEOUT" or status in (408, 504):
        return ModelError("LLM_TIMEOUT", f"{provider} timed out ({how}).{suffix}", retryable=True, details=details)
    if code == "LLM_PROVIDER_ERROR" or status >= 500 or status < 400:
        return ModelError("LLM_PROVIDER_ERROR", f"{provider} failed ({how}).{suffix}",
                          retryable=True, details=details, retry_after=retry_after)
    # Any other 4xx (a bad request, an unknown model) fails the same way on every attempt.
    return ModelError("LLM_PROVIDER_ERROR", f"{provider} rejected the request ({how}).{suffix}", details=details)


def retry_after_seconds(headers) -> float | None:
    """What `retry-after-ms` or `retry-after` (seconds or an HTTP date) asks for, if anything."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def public_url(url: str) -> str:
    """The URL without any user or password in it, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()


def timeout_failure(provider: str) -> ModelError:
    return ModelError("LLM_TIMEOUT", f"{provider} did not answer in time (ENGINE_MODEL_TIMEOUT, ENGINE_MODEL_MAX_SECONDS).",
                      retryable=True, details={"provider": provider})


def unreachable_failure(provider: str, base_url: str) -> ModelError:
    return ModelError("LLM_PROVIDER_ERROR", f"Could not reach {provider} at {base_url}: the connection failed or dropped.",
                      retryable=True, details={"provider": provider})


def bad_stream_failure(provider: str, what: str, *, retryable: bool) -> ModelError:
    return ModelError("LLM_BAD_STREAM", f"{provider} sent a malformed stream: {what}.", retryable=retryable,
                      details={"provider": provider})


def until_deadline(items: Iterable[T], deadline: float, provider: str) -> Iterator[T]:
    """`items`, cut off with LLM_TIMEOUT at `deadline` (a time.monotonic() value), even while
    waiting for the next one: SDK timeouts bound each read, and a provider's keep-alives reset them.
    The timer runs only inside the SDK's read, never while the caller handles an item."""
    iterator = iter(items)
    while True:
        if time.monotonic() >= deadline:
            raise timeout_failure(provider)
        timer = gevent.Timeout(deadline - time.monotonic())
        timer.start()
        try:
            item = next(iterator)
        except StopIteration:
            return
        except gevent.Timeout as fired:
            if fired is not timer:
                raise
            raise timeout_failure(provider) from None
        finally:
            timer.cancel()
        yield item
