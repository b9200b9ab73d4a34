"""`ENGINE_MODEL=anthropic:<model>`: Claude through the official `anthropic` SDK.

Streams text, extended thinking (ENGINE_THINKING_BUDGET; each thinking block ends with a
`ThinkingDelta` carrying its signature, which later calls send back), tool calls (input assembled
from `input_json_delta` pieces) and usage with cache reads and writes. The stable prefix (tool
definitions, system prompt) and the conversation so far are marked for prompt caching.

One client per process, shared by every greenlet (the sync client is safe under gevent); the
SDK never retries (the turn loop does) and every read is bounded by ENGINE_MODEL_TIMEOUT.
"""

import json
import time
from collections.abc import Iterator

import anthropic
import httpx2
from django.conf import settings

from execution.llm import ModelError, ModelEvent, ModelRequest, Stop, TextDelta, ThinkingDelta, ToolUse, Usage
from execution.providers import failures
from execution.providers.conversation import prepare_messages, text_of_file, tool_result_text

PROVIDER = "Anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MIN_THINKING_BUDGET = 1024  # the API's minimum
_CACHE = {"type": "ephemeral"}
_STOP_REASONS = {"tool_use": "tool_use", "max_tokens": "max_tokens"}


class AnthropicModel:
    def __init__(self, model: str):
        self.model = model
        self.name = f"anthropic:{model}"
        base_url = settings.ANTHROPIC_BASE_URL or DEFAULT_BASE_URL
        self.where = failures.public_url(base_url)
        # An explicit key (even a placeholder) keeps the SDK from looking for credentials elsewhere.
        self.client = anthropic.Anthropic(
            api_key=settings.ANTHROPIC_API_KEY or "unset", base_url=base_url, max_retries=0,
            timeout=httpx2.Timeout(settings.ENGINE_MODEL_TIMEOUT),
        )

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Streams one call. Raises ModelError (see failures.py) for every provider failure."""
        if not settings.ANTHROPIC_API_KEY:
            raise ModelError("LLM_AUTH_ERROR", "ANTHROPIC_API_KEY is not set; the Engine cannot call Anthropic.")
        deadline = time.monotonic() + settings.ENGINE_MODEL_MAX_SECONDS
        try:
            with self.client.messages.create(**self.request_params(request), stream=True) as events:
                yield from _read_events(failures.until_deadline(events, deadline, PROVIDER))
        except anthropic.APIStatusError as error:
            raise failures.status_failure(
                provider=PROVIDER, key_setting="ANTHROPIC_API_KEY", status=error.status_code,
                error_type=error.type or _error_type(error.body), provider_message=error.api_message,
                retry_after=failures.retry_after_seconds(error.response.headers), secrets=[settings.ANTHROPIC_API_KEY],
            ) from None
        except (anthropic.APITimeoutError, httpx2.TimeoutException):
            raise failures.timeout_failure(PROVIDER) from None
        except (anthropic.APIConnectionError, httpx2.TransportError):
            raise failures.unreachable_failure(PROVIDER, self.where) from None
        except (anthropic.APIResponseValidationError, json.JSONDecodeError, AttributeError):
            raise failures.bad_stream_failure(PROVIDER, "an event could not be read", retryable=False) from None

    def request_params(self, request: ModelRequest) -> dict:
        budget = thinking_budget(request)
        params: dict = {
            "model": self.model,
            "max_tokens": request.max_tokens + budget,
            "messages": to_anthropic_messages(request.messages, thinking=budget > 0, tools=bool(request.tools)),
        }
        if request.system:
            params["system"] = [{"type": "text", "text": request.system, "cache_control": _CACHE}]
        if request.tools:
            params["tools"] = [
                {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
                for tool in request.tools
            ]
            params["tools"][-1]["cache_control"] = _CACHE
        if budget:
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        return params


def thinking_budget(request: ModelRequest) -> int:
    """Thinking tokens for this call: only the agent's own steps think (a plan or a summary is
    already the thinking)."""
    if settings.ENGINE_THINKING_BUDGET <= 0 or request.purpose != "turn":
        return 0
    return max(MIN_THINKING_BUDGET, settings.ENGINE_THINKING_BUDGET)


def to_anthropic_messages(messages: list[dict], *, thinking: bool, tools: bool) -> list[dict]:
    """Canonical messages in the Messages API's shape; the last block is a cache breakpoint, so
    the next step of the same turn reads the whole conversation from the cache."""
    converted = [
        {"role": message["role"], "content": [_to_anthropic_block(block) for block in message["content"]]}
        for message in prepare_messages(messages, keep_thinking=thinking, keep_tool_blocks=tools)
    ]
    if converted and converted[-1]["content"]:
        converted[-1]["content"][-1] = {**converted[-1]["content"][-1], "cache_control": _CACHE}
    return converted


def _to_anthropic_block(block: dict) -> dict:
    kind = block["type"]
    if kind == "image":
        return {"type": "image", "source": {"type": "base64", "media_type": block["media_type"], "data": block["data"]}}
    if kind == "file":
        text = text_of_file(block)
        source = (
            {"type": "base64", "media_type": block["media_type"], "data": block["data"]}
            if text is None else {"type": "text", "media_type": "text/plain", "data": text}
        )
        document = {"type": "document", "source": source}
        if block.get("name"):
            document["title"] = block["name"]
        return document
    if kind == "tool_result":
        return {"type": "tool_result", "tool_use_id": block["tool_use_id"], "content": tool_result_text(block),
                "is_error": bool(block.get("is_error"))}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": block["input"]}
    return block  # text and signed thinking are already in the API's shape


def _error_type(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("type")
    return None


def _read_events(events: Iterator) -> Iterator[ModelEvent]:
    """The SDK's raw stream events as ModelEvents; a stream that ends before `message_stop` is
    malformed (a truncated stream is worth another attempt)."""
    blocks: dict[int, dict] = {}
    usage = Usage()
    stop_reason = "end_turn"
    for event in events:
        if event.type == "message_start":
            _update_usage(usage, event.message.usage)
        elif event.type == "content_block_start":
            block = event.content_block
            blocks[event.index] = {"type": block.type, "id": getattr(block, "id", ""), "name": getattr(block, "name", ""),
                                   "json": [], "signature": ""}
            if block.type == "text" and block.text:
                yield TextDelta(block.text)
        elif event.type == "content_block_delta":
            yield from _delta(_open_block(blocks, event.index), event.delta)
        elif event.type == "content_block_stop":
            block = _open_block(blocks, event.index)
            if block["type"] == "tool_use":
                yield ToolUse(id=block["id"], name=block["name"], input=_tool_input(block["json"]))
            elif block["type"] == "thinking" and block["signature"]:
                yield ThinkingDelta("", signature=block["signature"])
        elif event.type == "message_delta":
            stop_reason = _STOP_REASONS.get(event.delta.stop_reason or "", "end_turn")
            _update_usage(usage, event.usage)
        elif event.type == "message_stop":
            yield usage
            yield Stop(stop_reason)
            return
    raise failures.bad_stream_failure(PROVIDER, "it ended before message_stop", retryable=True)


def _open_block(blocks: dict[int, dict], index: int) -> dict:
    if index not in blocks:
        raise failures.bad_stream_failure(PROVIDER, f"content block {index} was never started", retryable=False)
    return blocks[index]


def _delta(block: dict, delta) -> Iterator[ModelEvent]:
    if delta.type == "text_delta":
        yield TextDelta(delta.text)
    elif delta.type == "thinking_delta":
        yield ThinkingDelta(delta.thinking)
    elif delta.type == "signature_delta":
        block["signature"] += delta.signature
    elif delta.type == "input_json_delta":
        block["json"].append(delta.partial_json)


def _tool_input(pieces: list[str]) -> dict:
    raw = "".join(pieces)
    try:
        tool_input = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        raise failures.bad_stream_failure(PROVIDER, "a tool call's input is not JSON", retryable=False) from None
    if not isinstance(tool_input, dict):
        raise failures.bad_stream_failure(PROVIDER, "a tool call's input is not a JSON object", retryable=False)
    return tool_input


def _update_usage(usage: Usage, reported) -> None:
    """Counts arrive in message_start and again, cumulative, in message_delta (output at least)."""
    if reported is None:
        return
    for ours, theirs in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                         ("cache_read_tokens", "cache_read_input_tokens"),
                         ("cache_write_tokens", "cache_creation_input_tokens")):
        value = getattr(reported, theirs, None)
        if value is not None:
            setattr(usage, ours, value)
