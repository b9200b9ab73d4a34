"""One turn of the agent loop, top to bottom: load the thread, plan (unless `direct`), then
model → tools → model until the model stops or ENGINE_MAX_STEPS is reached. Every step is
emitted to the event log; the messages it produces are stored in the thread."""

import contextlib
import logging

import gevent
from django.conf import settings
from django.utils import timezone

from engine import worker_cache
from engine.db import insert_instance, release_connection
from execution import compaction, context, selectors
from execution.appender import EventLogUnavailable, EventWriter
from execution.errors import Paused, RunCancelled, RunFailed, WorkerStopping
from execution.eventlog import iso_now
from execution.llm import ModelError, ModelEvent, ModelRequest, TextDelta, ThinkingDelta, ToolUse, Usage, get_model
from execution.models import Message, MessageRole, Run, RunStatus
from execution.tools import ToolContext, available_tools
from execution.working_memory import read_working_memory
from execution.turn_tools import TurnTools
from skills.tools import skills_prompt

logger = logging.getLogger(__name__)

MODEL_ATTEMPTS = 4
MAX_RETRY_WAIT = 30.0  # seconds; a longer retry-after from a provider ends the turn sooner instead
PLANNING_PROMPT = "Before acting, write a short plan for answering the user's latest message. Do not answer it yet."
_STATUS_OF_PHASE = {"completed": RunStatus.COMPLETED, "errored": RunStatus.ERRORED, "cancelled": RunStatus.CANCELLED}


def execute_turn(run: Run, *, resume: bool = False, stamps: dict[str, int] | None = None,
                 searched: context.MemorySearch | None = None) -> None:
    turn = Turn(run, resuming=resume, searched=searched)
    # The soul, the skills and the connections come from this worker's copies, as fresh as these
    # stamps say (engine.worker_cache).
    with worker_cache.reading(stamps):
        turn.execute()


class Turn(TurnTools):
    def __init__(self, run: Run, *, resuming: bool = False, searched: context.MemorySearch | None = None):
        self.run = run
        self.searched = searched
        self.resuming = resuming
        self.model = get_model()
        self.writer = EventWriter(task=run.task, run_id=run.id)
        self.usage = Usage(**run.usage) if resuming and run.usage else Usage()
        self.block_index = run.options.get("pending_step", {}).get("block_index", -1) if resuming else -1
        self.plan = ""
        self.partial_blocks: list[dict] = []
        self.first_token_sent = False
        self.message_text = ""
        self.remembered = ""
        # A turn that opens its task knows its thread (the one message) and has no working memory.
        self.opens_task = not resuming and bool(run.options.get("opens_task"))
        self.working_memory = "" if self.opens_task else read_working_memory(run.task)
        self._tool_specs: list | None = None
        self._skills: str | None = None
        # The position of the turn's next message: after the one message of a task it opens.
        self.next_position: int | None = 1 if self.opens_task else None
        self.said: list[str] = []
        self.tool_context = ToolContext(task_id=run.task.task_id, run_id=run.id, emit=self.emit)

    def emit(self, type: str, **data) -> None:
        self.writer.emit(type, data)
        if type == "working_memory_update":  # the tool changed it: the next step's prompt shows it
            self.working_memory = data["content"]

    def system_prompt(self) -> str:
        if self._skills is None:  # listed once per turn, like the tools
            self._skills = skills_prompt()
        return context.system_prompt(
            skills=self._skills, working_memory=self.working_memory, remembered=self.remembered, plan=self.plan
        )

    def execute(self) -> None:
        if not self.resuming:
            # Held: while the memory searches run, a write of its own would only delay the
            # write of the first token, which it can share (on PostgreSQL, half a millisecond).
            self.writer.emit("thread_lifecycle", {
                "phase": "started", "turn_id": self.run.id, "timestamp": iso_now(),
                "message_id": self.run.options.get("message_id"),
            }, hold=True)
        try:
            history = self.load_history()
            release_connection()
            if self.resuming:
                self.append_message(history, MessageRole.USER, self.finish_paused_step())
            elif not self.run.options.get("direct"):
                self.plan = self.think_first(history)
            self.loop(history)
            self.close("completed")
        except Paused:
            return
        except RunCancelled:
            self.save_partial_reply()
            self.close("cancelled")
        except WorkerStopping:
            self.fail("WORKER_SHUTDOWN", "The server shut down before this turn finished.")
        except ModelError as error:
            self.fail(error.code, error.message, error.details)
        except RunFailed as failure:
            self.fail(failure.code, failure.message, failure.details)
        except EventLogUnavailable:
            self.mark_errored_without_events()
        except Exception:
            logger.exception("turn %s failed", self.run.id)
            self.fail("INTERNAL_ERROR", "The Engine hit a bug running this turn; the details are in its log.")

    # --- the loop ---------------------------------------------------------------------------

    def loop(self, history: list[dict]) -> None:
        for _ in range(settings.ENGINE_MAX_STEPS):
            blocks, calls = self.model_step(history)
            self.append_message(history, MessageRole.ASSISTANT, blocks)
            if not calls:
                return
            self.append_message(history, MessageRole.USER, self.tool_step(calls))
        raise RunFailed("MAX_STEPS_EXCEEDED", f"The turn took {settings.ENGINE_MAX_STEPS} model calls without finishing.")

    def load_history(self) -> list[dict]:
        """The thread as the model will see it, compacted first when it is over budget."""
        thread = compaction.opening_thread(self.run) if self.opens_task else compaction.load_thread(self.run.task)
        self.message_text = _latest_user_text(thread.history())
        self.remembered = context.remembered_for(self.message_text, searched=self.searched)
        thread, made, usage = compaction.compact(
            thread, system=self.system_prompt(), model=self.model, run=self.run
        )
        if made:
            self.usage.add(usage)
            self.emit(
                "compaction_event", collapsed_messages=made.collapsed_messages, up_to_position=made.up_to_position,
                tokens_before=made.tokens_before, tokens_after=made.tokens_after, summary=made.summary,
            )
        return thread.history()

    def think_first(self, history: list[dict]) -> str:
        """The planning step (`direct: false`): its output is streamed as thinking."""
        request = ModelRequest(system=PLANNING_PROMPT, messages=history, purpose="plan", max_tokens=512)
        blocks, _ = self.call_model(request, as_thinking=True)
        return "".join(block.get("thinking", "") for block in blocks)

    def tool_specs(self) -> list:
        """The tools offered to the model, listed once per turn (MCP servers' included)."""
        if self._tool_specs is None:
            self._tool_specs = [tool.spec for tool in available_tools()]
        return self._tool_specs

    def model_step(self, history: list[dict]) -> tuple[list[dict], list[ToolUse]]:
        request = ModelRequest(
            system=self.system_prompt(), messages=history, tools=self.tool_specs(),
        )
        release_connection()
        return self.call_model(request)

    def call_model(self, request: ModelRequest, *, as_thinking: bool = False) -> tuple[list[dict], list[ToolUse]]:
        """Streams one model call, retrying with backoff when the provider says it may, as long
        as nothing of the failed attempt reached the client."""
        for attempt in range(MODEL_ATTEMPTS):
            self.partial_blocks = []
            try:
                return self.stream_model(request, as_thinking=as_thinking)
            except ModelError as error:
                if not error.retryable or self.partial_blocks or attempt == MODEL_ATTEMPTS - 1:
                    raise
                backoff = 0.5 * 2**attempt if error.retry_after is None else error.retry_after
                gevent.sleep(min(backoff, MAX_RETRY_WAIT))
        raise AssertionError("unreachable")

    def stream_model(self, request: ModelRequest, *, as_thinking: bool) -> tuple[list[dict], list[ToolUse]]:
        blocks = self.partial_blocks
        calls: list[ToolUse] = []
        step_usage = Usage()
        # Closed here, whatever stops the loop (a cancel, the log failing): that closes the
        # provider's HTTP stream now rather than whenever the generator is collected.
        with contextlib.closing(self.model.stream(request)) as stream:
            for item in stream:
                self.take_item(item, blocks, calls, step_usage, as_thinking=as_thinking)
        self.close_block(blocks)
        self.usage.add(step_usage)
        self.emit("usage", model=self.model.name, **step_usage.as_dict())
        return blocks, calls

    def take_item(self, item: ModelEvent, blocks: list[dict], calls: list[ToolUse], step_usage: Usage, *, as_thinking: bool) -> None:
        """One item of the model's stream: a delta goes to its block and out as an event."""
        if isinstance(item, (TextDelta, ThinkingDelta)):
            kind = "thinking" if as_thinking or isinstance(item, ThinkingDelta) else "text"
            block = self.open_block(blocks, kind)
            if isinstance(item, ThinkingDelta) and item.signature:
                block["signature"] = item.signature  # it ends the block
                self.close_block(blocks)
            if not item.text:
                return
            block[kind] += item.text
            if kind == "text":
                self.said.append(item.text)
            self.writer.emit(f"{kind}_delta", {"text": item.text, "block_index": self.block_index},
                             urgent=not self.first_token_sent or None)
            if not self.first_token_sent:
                # The first token never waits for batching, and the turn waits for it: on
                # PostgreSQL, a turn that ran on (the rest of its reply, its message, its
                # episode) took the worker from the write for milliseconds.
                self.first_token_sent = True
                self.writer.flush()
        elif isinstance(item, ToolUse):
            self.open_block(blocks, "tool_use", item)
            calls.append(item)
            self.emit("tool_call", tool=item.name, tool_call_id=item.id, input=item.input, block_index=self.block_index)
        elif isinstance(item, Usage):
            step_usage.add(item)

    def open_block(self, blocks: list[dict], kind: str, call: ToolUse | None = None) -> dict:
        if blocks and blocks[-1]["type"] == kind and call is None and not blocks[-1].get("closed"):
            return blocks[-1]
        self.close_block(blocks)
        self.block_index += 1
        self.emit("content_block_start", block_index=self.block_index, block_type=kind)
        if call is not None:
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
        else:
            block = {"type": kind, kind: ""}
        blocks.append(block)
        return block

    def close_block(self, blocks: list[dict]) -> None:
        if blocks and not blocks[-1].get("closed"):
            blocks[-1]["closed"] = True
            self.emit("content_block_stop", block_index=self.block_index, block_type=blocks[-1]["type"])

    # --- the thread and the end of the turn -------------------------------------------------

    def append_message(self, history: list[dict], role: str, blocks: list[dict]) -> None:
        content = [{k: v for k, v in block.items() if k != "closed"} for block in blocks]
        history.append({"role": role, "content": content})
        if self.next_position is None:
            self.next_position = selectors.next_position(self.run.task)
        # While this run is active it is the only writer of the task's messages (the busy rule).
        insert_instance(Message(task=self.run.task, run=self.run, role=role, content=content, position=self.next_position))
        self.next_position += 1
        release_connection()
        self.partial_blocks = []

    def save_partial_reply(self) -> None:
        if any(block.get(block["type"]) for block in self.partial_blocks if block["type"] in ("text", "thinking")):
            self.close_block(self.partial_blocks)
            self.append_message([], MessageRole.ASSISTANT, self.partial_blocks)

    def fail(self, code: str, message: str, details: dict | None = None) -> None:
        data = {"error": code, "message": message}
        if details:
            data["details"] = details
        self.emit("error", **data)
        self.close("errored", error_code=code, error_message=message)

    def close(self, phase: str, *, error_code: str = "", error_message: str = "") -> None:
        try:
            self.record_episode(phase, error_message)
        except RunCancelled:
            pass  # a cancel that lands while the turn is closing must not leave it open
        run_update = {
            "status": _STATUS_OF_PHASE[phase],
            "ended_at": timezone.now(),
            "usage": self.usage.as_dict(),
            "error_code": error_code,
            "error_message": error_message,
        }
        data = {"phase": phase, "turn_id": self.run.id, "timestamp": iso_now()}
        while True:
            try:
                self.writer.finish("thread_lifecycle", data, run_update=run_update)
                return
            except RunCancelled:
                continue  # the turn is closing already; finish what was started
            except EventLogUnavailable:
                self.mark_errored_without_events()
                return

    def record_episode(self, phase: str, error_message: str) -> None:
        """What happened in this turn goes to long-term memory (episodes), whatever its end."""
        from memory.services import record_episode

        said = "".join(self.said).strip()
        summary = f"The user said: {self.message_text[:300]}"
        if said:
            summary += f" — The Engine answered: {said[:500]}"
        if error_message:
            summary += f" — It failed: {error_message}"
        try:
            record_episode(task_id=self.run.task.task_id, run_id=self.run.id, summary=summary, outcome=phase)
        except Exception:
            logger.exception("could not record the episode of run %s", self.run.id)
        finally:
            release_connection()

    def mark_errored_without_events(self) -> None:
        logger.error("turn %s: the event log is unavailable; marking the run errored", self.run.id)
        Run.objects.filter(pk=self.run.pk).update(
            status=RunStatus.ERRORED, ended_at=timezone.now(), error_code="EVENT_LOG_UNAVAILABLE",
            error_message="The database could not record this turn's events.",
        )


def _latest_user_text(history: list[dict]) -> str:
    for message in reversed(history):
        texts = [block["text"] for block in message["content"] if block.get("type") == "text"]
        if message["role"] == "user" and texts:
            return " ".join(texts)
    return ""
