"""The model interface every provider implements, and the choice of provider (ENGINE_MODEL).

A provider turns a `ModelRequest` into a stream of `ModelEvent`s. Conversations use one
canonical shape (Anthropic-like): messages of role `user`/`assistant` whose content is a list of
blocks: `{"type": "text", "text"}`, `{"type": "image"|"file", ...}`,
`{"type": "tool_use", "id", "name", "input"}`, `{"type": "tool_result", "tool_use_id", "content", "is_error"}`,
`{"type": "thinking", "thinking", "signature"?}` (the signature, when a provider gave one, goes back to it).
Cancelling a run kills its greenlet; a provider's `stream` must release its connection when the
generator is closed (a `with` block around the SDK stream does that).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings


@dataclass
class ToolSpec:
    name: str
    description: str
    input_schema: dict


@dataclass
class ModelRequest:
    system: str
    messages: list[dict]
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int = 4096
    purpose: str = "turn"  # "turn", "plan", "summary", "skill" or "learn": a provider may treat them differently


@dataclass
class TextDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str
    # Sent once, when a thinking block ends: Anthropic wants the block back with it in later calls.
    signature: str = ""


@dataclass
class ToolUse:
    """A complete tool call (providers assemble streamed argument pieces before yielding it)."""

    id: str
    name: str
    input: dict


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def add(self, other: "Usage") -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens

    def as_dict(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


@dataclass
class Stop:
    reason: str  # "end_turn", "tool_use", "max_tokens"


ModelEvent = TextDelta | ThinkingDelta | ToolUse | Usage | Stop


class ModelError(Exception):
    """A provider failure. `code` is one of RUN_ERROR_CODES; `retryable` drives backoff."""

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, details: dict | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details = details or {}
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it said


class ChatModel(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """A generator: the turn closes it when it stops reading early (cancel), which must
        close the provider's stream."""


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate: about four characters a token."""
    return max(1, len(text) // 4) if text else 0


_models: dict[str, ChatModel] = {}


def get_model() -> ChatModel:
    """The configured model, created once per process (SDK clients are costly to build)."""
    spec = settings.ENGINE_MODEL
    if spec not in _models:
        _models[spec] = _build_model(spec)
    return _models[spec]


def _build_model(spec: str) -> ChatModel:
    provider, _, model_name = spec.partition(":")
    if provider == "offline":
        from execution.offline_model import OfflineModel

        return OfflineModel()
    if provider in ("anthropic", "openai") and not model_name:
        raise ValueError(f"ENGINE_MODEL={spec!r}: name the model, e.g. {provider}:<model>")
    if provider == "anthropic":
        from execution.providers.anthropic import AnthropicModel

        return AnthropicModel(model_name)
    if provider == "openai":
        from execution.providers.openai import OpenAIModel

        return OpenAIModel(model_name)
    raise ValueError(f"ENGINE_MODEL={spec!r}: unknown provider {provider!r} (use offline, anthropic:<model> or openai:<model>)")
