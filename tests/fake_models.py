"""A local HTTP server that speaks the model providers' streaming wire formats, for tests.

`FakeModelServer` answers `POST /v1/messages` (Anthropic) and `POST /v1/chat/completions`
(OpenAI) from a queue of canned responses scripted per test, and records every request it got
(path, headers, JSON body) so tests can assert what the Engine sent. The builders below write
real event sequences: Anthropic's named SSE events, OpenAI's `data:` chunks ending in `[DONE]`.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Canned:
    status: int = 200
    headers: dict = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    delay: float = 0.0  # before the status line
    pause: float = 0.0  # between chunks


@dataclass
class Received:
    path: str
    headers: dict
    body: dict


class FakeModelServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.outcomes: list[str] = []  # per response: "sent" in full, or "abandoned" by the client
        self._script: list[Canned] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def script(self, *responses: Canned) -> None:
        """Forgets earlier requests and answers the next requests with these, in order."""
        with self._lock:
            self.requests.clear()
            self.outcomes.clear()
            self._script = list(responses)

    def next_response(self, received: Received) -> Canned:
        with self._lock:
            self.requests.append(received)
            if self._script:
                return self._script.pop(0)
        return http_error(500, {"error": {"type": "api_error", "message": "the fake has no scripted response"}})

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _handler_for(fake: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            canned = fake.next_response(Received(self.path, headers, json.loads(raw or b"{}")))
            time.sleep(canned.delay)
            self.send_response(canned.status)
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                for chunk in canned.chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(canned.pause)
            except (BrokenPipeError, ConnectionResetError):
                fake.outcomes.append("abandoned")
                return
            fake.outcomes.append("sent")

        def log_message(self, *args) -> None:
            pass

    return Handler


def http_error(status: int, body: dict, headers: dict | None = None) -> Canned:
    payload = json.dumps(body).encode()
    return Canned(status=status, chunks=[payload], headers={
        "Content-Type": "application/json", "Content-Length": str(len(payload)), **(headers or {}),
    })


def pieces(text: str, size: int = 4) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


# --- Anthropic: POST /v1/messages ----------------------------------------------------------------

def text(value: str) -> dict:
    return {"type": "text", "text": value}


def thinking(value: str, signature: str) -> dict:
    return {"type": "thinking", "thinking": value, "signature": signature}


def tool_use(call_id: str, name: str, tool_input: dict) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def anthropic_reply(*blocks: dict, stop_reason: str | None = None, usage: dict | None = None,
                    complete: bool = True, pause: float = 0.0) -> Canned:
    """A streamed Messages API answer; `complete=False` cuts it before message_delta/message_stop."""
    usage = {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
             **(usage or {})}
    final_output = usage.pop("final_output_tokens", 12)
    events = [("message_start", {"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}})]
    for index, block in enumerate(blocks):
        events += _anthropic_block(index, block)
        if index == 0:
            events.append(("ping", {"type": "ping"}))
    if complete:
        reason = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                                         "usage": {"output_tokens": final_output}}))
        events.append(("message_stop", {"type": "message_stop"}))
    return Canned(headers={"Content-Type": "text/event-stream"}, chunks=[sse(name, data) for name, data in events],
                  pause=pause)


def _anthropic_block(index: int, block: dict) -> list[tuple[str, dict]]:
    start, deltas = dict(block), []
    if block["type"] == "text":
        start["text"] = ""
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces(block["text"])]
    elif block["type"] == "thinking":
        start.update(thinking="", signature="")
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in pieces(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif block["type"] == "tool_use":
        start["input"] = {}
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(json.dumps(block["input"]), 3)]
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *[("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas],
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def anthropic_stream_error(error_type: str, message: str) -> Canned:
    """A 200 stream that starts, then fails with an `error` event (as Anthropic does when overloaded)."""
    start = anthropic_reply(text("Hel"), complete=False).chunks[:3]
    return Canned(headers={"Content-Type": "text/event-stream"},
                  chunks=[*start, sse("error", {"type": "error", "error": {"type": error_type, "message": message}})])


def anthropic_error(status: int, error_type: str, message: str, headers: dict | None = None) -> Canned:
    return http_error(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


# --- OpenAI: POST /v1/chat/completions -----------------------------------------------------------

def openai_reply(content: str = "", *, tool_calls: list[tuple[str, str, dict]] = (), finish_reason: str | None = None,
                 usage: dict | None = None, reasoning: str = "", complete: bool = True) -> Canned:
    """A streamed chat completion. Tool calls arrive by index, their arguments in pieces, the
    calls' pieces interleaved; a final chunk carries usage and no choices; then `[DONE]`."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"reasoning_content": piece}) for piece in (pieces(reasoning) if reasoning else [])]
    chunks += [_chunk({"content": piece}) for piece in (pieces(content) if content else [])]
    argument_pieces = [pieces(json.dumps(arguments), 3) for _, _, arguments in tool_calls]
    for index, (call_id, name, _) in enumerate(tool_calls):
        chunks.append(_chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}))
    for step in range(max(map(len, argument_pieces), default=0)):
        for index, parts in enumerate(argument_pieces):
            if step < len(parts):
                chunks.append(_chunk({"tool_calls": [{"index": index, "function": {"arguments": parts[step]}}]}))
    if complete:
        chunks.append(_chunk({}, finish_reason=finish_reason or ("tool_calls" if tool_calls else "stop")))
        chunks.append({**_chunk({}), "choices": [], "usage": {
            "prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39, **(usage or {})}})
    lines = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
    if complete:
        lines.append(b"data: [DONE]\n\n")
    return Canned(headers={"Content-Type": "text/event-stream"}, chunks=lines)


def _chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def openai_error(status: int, message: str, *, error_type: str = "invalid_request_error", code: str | None = None,
                 headers: dict | None = None) -> Canned:
    return http_error(status, {"error": {"message": message, "type": error_type, "param": None, "code": code}}, headers)
