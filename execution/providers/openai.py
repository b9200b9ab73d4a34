"""`ENGINE_MODEL=openai:<model>`: any OpenAI-compatible chat completions server through the
official `openai` SDK: OpenAI itself, or Ollama, vLLM, llama.cpp with OPENAI_BASE_URL (ending in
`/v1`, e.g. Ollama's http://localhost:11434/v1).

Streams text, tool calls (arguments arrive in pieces, several calls at once told apart by
`index`; each call is yielded whole when the stream ends) and usage (`stream_options.include_usage`).
Servers that stream their reasoning (`reasoning_content` or `reasoning`, as vLLM, Ollama and
DeepSeek do) give thinking deltas. Thinking blocks are never sent back: the format has no place
for them.

One client per process, shared by every greenlet; the SDK never retries (the turn loop does) and
every read is bounded by ENGINE_MODEL_TIMEOUT.
"""

import json
import time
from collections.abc import Iterator

import httpx2
import openai
from django.conf import settings

from engine.ids import new_id
from execution.llm import ModelError, ModelEvent, ModelRequest, Stop, TextDelta, ThinkingDelta, ToolUse, Usage
from execution.providers import failures
from execution.providers.conversation import prepare_messages, text_of_file, tool_result_text

PROVIDER = "The OpenAI-compatible server"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_STOP_REASONS = {"tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens"}


class OpenAIModel:
    def __init__(self, model: str):
        self.model = model
        self.name = f"openai:{model}"
        base_url = settings.OPENAI_BASE_URL or DEFAULT_BASE_URL
        self.where = failures.public_url(base_url)
        # OpenAI's own reasoning models refuse `max_tokens`; servers that copy the API mostly
        # know only `max_tokens`.
        self.limit_parameter = "max_completion_tokens" if "api.openai.com" in base_url else "max_tokens"
        # Local servers need no key, but the SDK needs a non-empty string.
        self.client = openai.OpenAI(
            api_key=settings.OPENAI_API_KEY or "unset", base_url=base_url, max_retries=0,
            timeout=httpx2.Timeout(settings.ENGINE_MODEL_TIMEOUT),
        )

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Streams one call. Raises ModelError (see failures.py) for every provider failure."""
        deadline = time.monotonic() + settings.ENGINE_MODEL_MAX_SECONDS
        try:
            with self.client.chat.completions.create(**self.request_params(request), stream=True) as chunks:
                yield from _read_chunks(failures.until_deadline(chunks, deadline, PROVIDER))
        except openai.APIStatusError as error:
            raise self.status_failure(error, error.status_code, failures.retry_after_seconds(error.response.headers)) from None
        except openai.APITimeoutError:
            raise failures.timeout_failure(PROVIDER) from None
        except openai.APIConnectionError:
            raise failures.unreachable_failure(PROVIDER, self.where) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, AttributeError):
            raise failures.bad_stream_failure(PROVIDER, "a chunk could not be read", retryable=False) from None
        except openai.APIError as error:  # an error object inside a 200 stream
            raise self.status_failure(error, 200, None) from None

    def status_failure(self, error: openai.APIError, status: int, retry_after: float | None) -> ModelError:
        failure = failures.status_failure(
            provider=PROVIDER, key_setting="OPENAI_API_KEY", status=status, error_type=error.type,
            provider_message=error.message if not isinstance(error.body, dict) else error.body.get("message"),
            retry_after=retry_after, secrets=[settings.OPENAI_API_KEY],
        )
        if error.code == "insufficient_quota":  # a 429 that waiting does not cure
            failure.retryable = False
        return failure

    def request_params(self, request: ModelRequest) -> dict:
        params: dict = {
            "model": self.model,
            "messages": to_openai_messages(request.system, request.messages, tools=bool(request.tools)),
            self.limit_parameter: request.max_tokens,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = [
                {"type": "function",
                 "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema}}
                for tool in request.tools
            ]
        return params


def to_openai_messages(system: str, messages: list[dict], *, tools: bool) -> list[dict]:
    """Canonical messages as chat messages: tool results become `tool` messages right after the
    assistant message that called them; thinking is dropped."""
    converted = [{"role": "system", "content": system}] if system else []
    for message in prepare_messages(messages, keep_thinking=False, keep_tool_blocks=tools):
        if message["role"] == "assistant":
            converted.append(_assistant_message(message["content"]))
            continue
        for block in message["content"]:
            if block["type"] == "tool_result":
                error = "Error: " if block.get("is_error") else ""
                converted.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                                  "content": error + tool_result_text(block)})
        parts = [_user_part(block) for block in message["content"] if block["type"] != "tool_result"]
        if not parts:
            continue
        if all(part["type"] == "text" for part in parts):
            # Plain strings, because some compatible servers accept nothing else.
            converted.append({"role": "user", "content": "\n\n".join(part["text"] for part in parts)})
        else:
            converted.append({"role": "user", "content": parts})
    return converted


def _assistant_message(blocks: list[dict]) -> dict:
    text = "\n\n".join(block["text"] for block in blocks if block["type"] == "text")
    calls = [
        {"id": block["id"], "type": "function",
         "function": {"name": block["name"], "arguments": json.dumps(block["input"])}}
        for block in blocks if block["type"] == "tool_use"
    ]
    message: dict = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user_part(block: dict) -> dict:
    if block["type"] == "image":
        return {"type": "image_url", "image_url": {"url": f"data:{block['media_type']};base64,{block['data']}"}}
    if block["type"] == "file":
        text = text_of_file(block)
        if text is None:
            return {"type": "file", "file": {"filename": block.get("name") or "document.pdf",
                                             "file_data": f"data:{block['media_type']};base64,{block['data']}"}}
        return {"type": "text", "text": f"[{block.get('name') or 'attached file'}]\n{text}"}
    return {"type": "text", "text": block["text"]}


def _read_chunks(chunks: Iterator) -> Iterator[ModelEvent]:
    """Chunks as ModelEvents. A stream without a finish_reason was cut short."""
    calls: dict[int, dict] = {}
    usage = Usage()
    finish_reason = None
    for chunk in chunks:
        if chunk.usage is not None:
            _set_usage(usage, chunk.usage)
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if delta is not None:
                reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
                if isinstance(reasoning, str) and reasoning:
                    yield ThinkingDelta(reasoning)
                if delta.content:
                    yield TextDelta(delta.content)
                for piece in delta.tool_calls or []:
                    _add_call_piece(calls, piece)
            finish_reason = choice.finish_reason or finish_reason
    if finish_reason is None:
        raise failures.bad_stream_failure(PROVIDER, "it ended without a finish_reason", retryable=True)
    for index in sorted(calls):
        call = calls[index]
        if not call["name"]:
            raise failures.bad_stream_failure(PROVIDER, "a tool call has no function name", retryable=False)
        yield ToolUse(id=call["id"] or new_id("call"), name=call["name"], input=_tool_input("".join(call["arguments"])))
    yield usage
    yield Stop("tool_use" if calls else _STOP_REASONS.get(finish_reason, "end_turn"))


def _add_call_piece(calls: dict[int, dict], piece) -> None:
    if piece.index is not None:
        index = piece.index
    elif calls and (not piece.id or calls[max(calls)]["id"] == piece.id):
        index = max(calls)  # some servers leave out `index`: only a new id starts a new call
    else:
        index = len(calls)
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": []})
    if piece.id:
        call["id"] = piece.id
    if piece.function is not None:
        if piece.function.name:
            call["name"] = piece.function.name
        if piece.function.arguments:
            call["arguments"].append(piece.function.arguments)


def _tool_input(raw: str) -> dict:
    """The call's arguments. Small local models write broken JSON now and then: the tool then
    rejects `_unparsed` as invalid input and the model hears why, instead of the turn failing."""
    try:
        tool_input = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return {"_unparsed": raw}
    return tool_input if isinstance(tool_input, dict) else {"_unparsed": raw}


def _set_usage(usage: Usage, reported) -> None:
    # Cached prompt tokens are counted apart, as Anthropic counts them.
    details = getattr(reported, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
    usage.input_tokens = max(0, (reported.prompt_tokens or 0) - cached)
    usage.output_tokens = reported.completion_tokens or 0
    usage.cache_read_tokens = cached
