"""The built-in offline model: the default, so the Engine does something real with no API key.

It is no language model. It streams a reply word by word, reports usage, and understands a few
commands anywhere in the latest user message (documented in the README):

    /time                  call the `current_time` tool
    /tool NAME {json}      call any tool with that input (several: several calls in one step)
    /think                 reason out loud first (thinking deltas)
    /stream N              reply with N text deltas
    /pace MS               wait MS milliseconds between deltas
    /sleep S               wait S seconds before replying
    /history               list the user messages it can see in this thread
    /context               repeat its system prompt (memory, working memory, skills)
    /fail [CODE]           fail like a provider would (CODE defaults to LLM_PROVIDER_ERROR)
"""

import json
import re
from collections.abc import Iterator

import gevent

from engine.ids import new_id
from execution.llm import ModelError, ModelRequest, ModelEvent, Stop, TextDelta, ThinkingDelta, ToolUse, Usage, estimate_tokens

HOW_TO_CONFIGURE = (
    "I am the Engine's built-in offline model, not a real language model. To talk to a real one, "
    "set ENGINE_MODEL=anthropic:<model> with ANTHROPIC_API_KEY, or ENGINE_MODEL=openai:<model> with "
    "OPENAI_API_KEY (and OPENAI_BASE_URL for Ollama, vLLM or llama.cpp)."
)
PLAN = "Plan: read the message, decide whether a tool is needed, then answer."
_COMMAND = re.compile(r"(?:^|\s)/(time|think|stream|pace|sleep|history|context|fail)\b[ \t]*([\w.]*)")
# A tool's JSON input runs to the end of the line, so it may hold slashes.
_TOOL_COMMAND = re.compile(r"(?:^|\s)/tool[ \t]+(\S+)[ \t]*(\{.*?\})?(?=\s+/tool\b|\s*$)", re.MULTILINE)


def _commands(text: str) -> dict[str, str]:
    commands = {name: argument.strip() for name, argument in _COMMAND.findall(text)}
    tools = [f"{name} {raw or ''}".strip() for name, raw in _TOOL_COMMAND.findall(text)]
    if tools:
        commands["tool"] = tools
    return commands


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _text_of(message: dict) -> str:
    return " ".join(block.get("text", "") for block in message["content"] if block.get("type") == "text")


def _tool_name(messages: list[dict], tool_use_id: str) -> str:
    for message in messages:
        for block in message["content"]:
            if block.get("type") == "tool_use" and block["id"] == tool_use_id:
                return block["name"]
    return "unknown"


_RELATIVE = re.compile(r"\bmy (\w+) is ([A-Z]\w+)")


def learned_changeset(material_json: str) -> str:
    """The Learning Centre's answer, derived from its input so batches can be tested offline:
    a correction becomes a rule (its first four words are the subject), "my <relation> is <Name>"
    anywhere becomes a person, a correction starting "Always" a soul pattern. "/learn-garbage"
    anywhere makes it answer with something that is not JSON; "/learn-invalid", with a changeset
    that breaks the schema."""
    if "/learn-garbage" in material_json:
        return "I learned a lot today, thank you."
    if "/learn-invalid" in material_json:
        return json.dumps({"facts": [{"subject": "x", "content": "y"}], "people": [], "soul": []})
    material = json.loads(material_json)
    changeset = {"facts": [], "people": [], "soul": []}
    texts = [({"feedback_id": f["id"]}, f["text"]) for f in material["feedback"]]
    texts += [({"episode_id": e["id"]}, e["summary"]) for e in material["episodes"]]
    texts += [({"message_id": m["id"]}, m["text"]) for m in material["messages"]]
    for feedback in material["feedback"]:
        if feedback["kind"] == "correction" and feedback["text"].strip():
            subject = " ".join(feedback["text"].split()[:4]).lower()
            changeset["facts"].append({"subject": subject, "content": feedback["text"].strip(), "kind": "rule",
                                       "confidence": 0.9, "provenance": {"feedback_id": feedback["id"]}})
            if feedback["text"].startswith("Always"):
                changeset["soul"].append({"field": "patterns", "add": feedback["text"].strip(),
                                          "provenance": {"feedback_id": feedback["id"]}})
    for provenance, text in texts:
        for relation, name in _RELATIVE.findall(text):
            changeset["people"].append({"name": name, "relationship": relation, "provenance": provenance})
    return json.dumps(changeset)


class OfflineModel:
    name = "offline"

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        input_tokens = estimate_tokens(request.system + json.dumps(request.messages))
        last = request.messages[-1]
        results = [block for block in last["content"] if block.get("type") == "tool_result"]
        if request.purpose == "summary":
            said = re.findall(r"^(?:User|Earlier summary): (.{0,80})", _text_of(last), re.MULTILINE)
            summary = "The user said: " + "; ".join(line.strip() for line in said)
            yield from self._deltas(TextDelta, summary, pace=0)
            yield Usage(input_tokens=input_tokens, output_tokens=estimate_tokens(summary))
            yield Stop("end_turn")
            return
        if request.purpose == "learn":
            changeset = learned_changeset(_text_of(last))
            yield from self._deltas(TextDelta, changeset, pace=0)
            yield Usage(input_tokens=input_tokens, output_tokens=estimate_tokens(changeset))
            yield Stop("end_turn")
            return
        if request.purpose == "plan":
            yield from self._deltas(ThinkingDelta, PLAN, pace=0)
            yield Usage(input_tokens=input_tokens, output_tokens=estimate_tokens(PLAN))
            yield Stop("end_turn")
            return
        if results:
            reply = " ".join(
                f"The tool {_tool_name(request.messages, r['tool_use_id'])} "
                f"{'failed' if r.get('is_error') else 'returned'}: {r['content']}." for r in results
            )
            yield from self._deltas(TextDelta, reply, pace=0)
            yield Usage(input_tokens=input_tokens, output_tokens=estimate_tokens(reply))
            yield Stop("end_turn")
            return

        message = _text_of(last)
        commands = _commands(message)
        pace = float(commands.get("pace") or 0) / 1000
        if "sleep" in commands:
            gevent.sleep(float(commands["sleep"] or 1))
        if "fail" in commands:
            raise ModelError(commands["fail"] or "LLM_PROVIDER_ERROR", "The offline model failed on request (/fail).")
        if "think" in commands:
            yield from self._deltas(ThinkingDelta, "The user asked me to think. " + PLAN, pace=pace)

        reply = self._reply(request, message, commands)
        yield from self._deltas(TextDelta, reply, pace=pace)
        output_tokens = estimate_tokens(reply)
        calls = self._tool_calls(commands)
        yield from calls
        yield Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        yield Stop("tool_use" if calls else "end_turn")

    def _reply(self, request: ModelRequest, message: str, commands: dict[str, str]) -> str:
        if "stream" in commands:
            return "".join(f"w{i} " for i in range(int(commands["stream"] or 100)))
        if "history" in commands:
            said = [_text_of(m) for m in request.messages if m["role"] == "user" and _text_of(m)]
            return "I can see these user messages: " + " | ".join(said)
        if "context" in commands:
            return "My context: " + request.system
        if "time" in commands or "tool" in commands:
            return "Let me call a tool."
        return f"You said: {message.strip()} — {HOW_TO_CONFIGURE}"

    def _tool_calls(self, commands: dict) -> list[ToolUse]:
        calls = [ToolUse(id=new_id("call"), name="current_time", input={})] if "time" in commands else []
        for command in commands.get("tool", []):
            name, _, raw_input = command.partition(" ")
            try:
                tool_input = json.loads(raw_input) if raw_input.strip() else {}
            except json.JSONDecodeError:
                tool_input = {"_unparsed": raw_input}
            calls.append(ToolUse(id=new_id("call"), name=name, input=tool_input))
        return calls

    @staticmethod
    def _deltas(kind, text: str, *, pace: float) -> Iterator[ModelEvent]:
        for word in _words(text):
            yield kind(word)
            # Like a network stream, give the rest of the worker a turn between tokens.
            gevent.sleep(pace)
