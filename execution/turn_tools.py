"""The tool step of a turn: permission for each call, running the allowed ones (in parallel),
and pausing for the user when a call needs them (a question, or a permission to ask).

A paused step is stored on the run (`options["pending_step"]`) with one HITL request per call
that waits; the greenlet ends. When the last request is resolved the turn resumes (in whichever
worker took the answer) with `finish_paused_step`. No path runs a tool without an `allow`
verdict or the user's approval, and a deny rule beats even that.
"""

import json
import logging

import gevent
from django.db import connection, transaction

from engine.db import release_connection
from execution.errors import Paused
from execution.eventlog import append_now
from execution.llm import ToolUse
from execution.models import RunStatus
from execution.permissions import Decision, Rule, decide
from execution.tools import ToolError, get_tool, run_tool

logger = logging.getLogger(__name__)
APPROVED_BY_USER = Decision("allow", "approved by the user")


class TurnTools:
    """Mixed into `Turn`: needs `run`, `emit`, `writer`, `usage`, `block_index`, `tool_context`."""

    def tool_step(self, calls: list[ToolUse]) -> list[dict]:
        """The results of a step's calls, in order; raises Paused when the user must answer."""
        from hitl.tools import ASK_USER

        verdicts = {call.id: self.verdict(call) for call in calls}
        waiting = [c for c in calls if c.name == ASK_USER or verdicts[c.id].decision == "ask"]
        now = [c for c in calls if c not in waiting]
        results = dict(zip([c.id for c in now], self.run_calls(now, verdicts)))
        if waiting:
            self.pause(calls, results, waiting, verdicts)
        return [results[call.id] for call in calls]

    def verdict(self, call: ToolUse) -> Decision:
        from hitl.services import grants_for

        tool = get_tool(call.name)
        if tool is None:
            return Decision("allow", "unknown tool")  # run_tool tells the model it does not exist
        granted = tuple(Rule(tool=g.tool_name, pattern=g.pattern, decision="allow", source="this task")
                        for g in grants_for(self.run.task))
        return decide(tool, call.input, granted=granted)

    def run_calls(self, calls: list[ToolUse], verdicts: dict[str, Decision]) -> list[dict]:
        """Runs the calls, in parallel when there are several; results keep their order."""
        if len(calls) <= 1:
            return [self.run_one_tool(call, verdicts[call.id]) for call in calls]
        greenlets = [gevent.spawn(self.run_tool_in_own_greenlet, call, verdicts[call.id]) for call in calls]
        try:
            gevent.joinall(greenlets, raise_error=True)
        finally:
            gevent.killall([g for g in greenlets if not g.dead], block=True)
        return [g.value for g in greenlets]

    def run_tool_in_own_greenlet(self, call: ToolUse, verdict: Decision) -> dict:
        try:
            return self.run_one_tool(call, verdict)
        finally:
            connection.close()

    def run_one_tool(self, call: ToolUse, verdict: Decision) -> dict:
        try:
            if verdict.decision != "allow":
                raise ToolError(f"Permission denied ({verdict.reason}); the call was not run.")
            output = run_tool(call.name, call.input, self.tool_context)
        except ToolError as error:
            return self.tool_failed(call, str(error))
        except Exception:
            logger.exception("tool %s failed", call.name)
            return self.tool_failed(call, f"The tool {call.name} failed unexpectedly.")
        finally:
            release_connection()
        try:
            self.emit("tool_result", tool=call.name, tool_call_id=call.id, output=output)
        except (TypeError, ValueError):
            return self.tool_failed(call, f"The tool {call.name} returned a result that is not JSON.")
        content = output if isinstance(output, str) else json.dumps(output)
        return {"type": "tool_result", "tool_use_id": call.id, "content": content, "is_error": False}

    def tool_failed(self, call: ToolUse, message: str) -> dict:
        self.emit("tool_result", tool=call.name, tool_call_id=call.id, output=None, error=message)
        return {"type": "tool_result", "tool_use_id": call.id, "content": message, "is_error": True}

    # --- pausing for the user, and coming back ------------------------------------------------

    def pause(self, calls: list[ToolUse], results: dict, waiting: list[ToolUse], verdicts: dict) -> None:
        """Stores the step, opens a request per waiting call and marks the run `waiting`, all in
        one transaction with the `hitl_request` events; then the turn's greenlet ends."""
        from hitl.services import open_requests, request_event

        self.writer.flush()  # everything emitted so far goes first
        step = {"calls": [{"id": c.id, "name": c.name, "input": c.input} for c in calls],
                "results": results, "block_index": self.block_index}
        with transaction.atomic():
            requests = open_requests(run=self.run, asks=[self.ask_for(call, verdicts[call.id]) for call in waiting])
            append_now(
                task=self.run.task, run_id=self.run.id,
                events=[("hitl_request", request_event(request)) for request in requests],
                run_update={"status": RunStatus.WAITING, "options": {**self.run.options, "pending_step": step},
                            "usage": self.usage.as_dict()},
            )
        release_connection()
        raise Paused()

    @staticmethod
    def ask_for(call: ToolUse, verdict: Decision):
        from hitl.services import Ask
        from hitl.tools import ASK_USER

        if call.name == ASK_USER:
            return Ask(kind="question", tool_call_id=call.id, prompt=call.input.get("question", ""),
                       options=call.input.get("options"), expires_in_seconds=call.input.get("expires_in_seconds"))
        return Ask(kind="permission", tool_call_id=call.id, tool_name=call.name, tool_input=call.input,
                   prompt=f"Allow {call.name} with {json.dumps(call.input)}? ({verdict.reason})")

    def finish_paused_step(self) -> list[dict]:
        """On resume: the stored results, plus each waiting call settled by its request."""
        from hitl.models import RequestStatus
        from hitl.services import resolutions

        step = self.run.options["pending_step"]
        requests = resolutions(self.run)
        results = []
        for stored in step["calls"]:
            call = ToolUse(id=stored["id"], name=stored["name"], input=stored["input"])
            if call.id in step["results"]:
                results.append(step["results"][call.id])
                continue
            request = requests[call.id]
            if request.kind == "question":
                results.append(self.answer_result(call, request))
            elif request.status == RequestStatus.APPROVED:
                verdict = self.verdict(call)  # a deny rule added meanwhile still wins
                results.append(self.run_one_tool(call, APPROVED_BY_USER if verdict.decision != "deny" else verdict))
            else:
                why = "was not approved in time" if request.status == RequestStatus.EXPIRED else f"was {request.status} by the user"
                results.append(self.tool_failed(call, f"This call {why}; it was not run."))
        self.run.options = {k: v for k, v in self.run.options.items() if k != "pending_step"}
        self.run.save(update_fields=["options"])
        return results

    def answer_result(self, call: ToolUse, request) -> dict:
        if request.status != "answered":
            return self.tool_failed(call, f"The user did not answer (the question was {request.status}).")
        output = {"answer": request.answer, **({"feedback": request.feedback} if request.feedback else {})}
        self.emit("tool_result", tool=call.name, tool_call_id=call.id, output=output)
        return {"type": "tool_result", "tool_use_id": call.id, "content": json.dumps(output), "is_error": False}
