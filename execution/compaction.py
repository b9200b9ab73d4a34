"""Compaction: when a task's history outgrows ENGINE_CONTEXT_BUDGET tokens, the earlier turns
are summarised by the model and the summary stands in for them in the context. The messages
stay in the database; a `Compaction` row records what the summary replaces."""

import json
from dataclasses import dataclass

from django.conf import settings

from engine.db import fetch_instances
from execution import selectors
from execution.llm import ChatModel, ModelRequest, TextDelta, Usage, estimate_tokens
from execution.models import Compaction, Message, MessageRole, Run, Task
from execution.services import user_content

SUMMARY_PROMPT = (
    "Summarise the conversation below for your own later use: the user's goals, facts and "
    "decisions, what was done with which tools and what came of it, and what is still open. "
    "Be complete but brief."
)
SUMMARY_PREFIX = "Summary of the conversation so far: "
MESSAGE_CHARS_IN_TRANSCRIPT = 2000


@dataclass
class Thread:
    """What the model sees of a task: the latest summary (if any) and the messages after it."""

    compaction: Compaction | None
    messages: list[Message]

    def history(self) -> list[dict]:
        summary = [_summary_message(self.compaction.summary)] if self.compaction else []
        return summary + [{"role": m.role, "content": m.content} for m in self.messages]


def load_thread(task: Task) -> Thread:
    latest = fetch_instances(Compaction, None, "task_id = %s", [task.pk], tail="ORDER BY up_to_position DESC LIMIT 1")
    compaction = latest[0] if latest else None
    messages = selectors.conversation(task)
    if compaction:
        messages = [m for m in messages if m.position > compaction.up_to_position]
    return Thread(compaction, messages)


def opening_thread(run: Run) -> Thread:
    """The thread of a turn that opened its task: the user message it wrote, nothing before."""
    options = run.options
    message = Message(id=options["message_id"], task=run.task, run=run, role=MessageRole.USER,
                      content=user_content(options), position=0)
    return Thread(None, [message])


def context_tokens(system: str, history: list[dict]) -> int:
    return estimate_tokens(system + json.dumps(history))


def compact(thread: Thread, *, system: str, model: ChatModel, run: Run) -> tuple[Thread, Compaction | None, Usage]:
    """Summarises the oldest turns until the context fits half the budget (keeping at least
    the latest user message and what follows it). Returns the new thread, the compaction made
    (None when the context already fits or nothing can be collapsed) and the usage spent."""
    before = context_tokens(system, thread.history())
    if before <= settings.ENGINE_CONTEXT_BUDGET:
        return thread, None, Usage()
    cut = _cut_point(thread, system)
    if cut == 0:
        return thread, None, Usage()
    collapsed, kept = thread.messages[:cut], thread.messages[cut:]
    summary, usage = _summarise(model, thread.compaction, collapsed)
    new_thread = Thread(None, kept)
    compaction = Compaction.objects.create(
        task=run.task, run=run, summary=summary, up_to_position=collapsed[-1].position,
        collapsed_messages=len(collapsed), tokens_before=before, tokens_after=0,
    )
    new_thread.compaction = compaction
    compaction.tokens_after = context_tokens(system, new_thread.history())
    compaction.save(update_fields=["tokens_after"])
    return new_thread, compaction, usage


def _cut_point(thread: Thread, system: str) -> int:
    """Where the kept part starts: at a user message that is not a tool result (so a tool call
    and its result are never split), as early as the budget allows."""
    starts = [i for i, m in enumerate(thread.messages) if m.role == MessageRole.USER and _is_user_text(m)]
    target = settings.ENGINE_CONTEXT_BUDGET // 2
    for start in starts:
        if start > 0 and context_tokens(system, [{"role": m.role, "content": m.content} for m in thread.messages[start:]]) <= target:
            return start
    return starts[-1] if starts else 0


def _is_user_text(message: Message) -> bool:
    return not any(block.get("type") == "tool_result" for block in message.content)


def _summarise(model: ChatModel, previous: Compaction | None, messages: list[Message]) -> tuple[str, Usage]:
    lines = [f"Earlier summary: {previous.summary}"] if previous else []
    lines += [_transcript_line(m) for m in messages]
    request = ModelRequest(
        system=SUMMARY_PROMPT, purpose="summary", max_tokens=2048,
        messages=[{"role": "user", "content": [{"type": "text", "text": "\n".join(lines)}]}],
    )
    text, usage = [], Usage()
    for item in model.stream(request):
        if isinstance(item, TextDelta):
            text.append(item.text)
        elif isinstance(item, Usage):
            usage.add(item)
    return "".join(text).strip(), usage


def _transcript_line(message: Message) -> str:
    parts = []
    for block in message.content:
        kind = block.get("type")
        if kind == "text":
            parts.append(block["text"])
        elif kind == "tool_use":
            parts.append(f"[called {block['name']} with {json.dumps(block['input'])}]")
        elif kind == "tool_result":
            parts.append(f"[tool result: {block.get('content')}]")
        elif kind in ("image", "file"):
            parts.append(f"[{kind} {block.get('name', block.get('media_type'))}]")
    speaker = "User" if message.role == MessageRole.USER else "Assistant"
    return f"{speaker}: {' '.join(parts)[:MESSAGE_CHARS_IN_TRANSCRIPT]}"


def _summary_message(summary: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": SUMMARY_PREFIX + summary}]}
