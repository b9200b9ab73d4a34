"""POST /rpc: one tool (or memory operation) run directly, without the model.

Methods are dotted: `tool.<name>` for any tool of the registry, `memory.<op>` for the memory tools
(`memory.recall`, `memory.remember`, `memory.forget`, `memory.remember_person`), and `skill.<name>`
for a platform or custom skill (params `{"input": text}`: one model call, see `skills.running`). Permission rules
apply as in a turn: a denied call is refused, and a call that would ask is refused too (there is
no turn to pause); MCP tools and skills join the registry and so this dispatcher.
"""

import jsonschema

from engine.errors import ValidationFailed, register_error
from engine.ids import new_id
from execution.permissions import decide
from execution.tools import Tool, ToolContext, ToolError, get_tool, run_tool

UnknownMethod = register_error(404, "unknown_method", "There is no such method.")
PermissionDenied = register_error(403, "permission_denied", "A permission rule denies this call.")
ApprovalRequired = register_error(403, "approval_required", "This call needs the user's approval, which /rpc cannot ask for.")
ToolFailed = register_error(422, "tool_error", "The tool ran and failed.")

NAMESPACES = {"tool", "memory"}
MEMORY_METHODS = {"recall", "remember", "forget", "remember_person"}
RPC_TASK = "rpc"


def resolve_method(method: str) -> Tool:
    namespace, _, name = method.partition(".")
    tool = get_tool(name) if namespace in NAMESPACES and name else None
    if tool is None or (namespace == "memory" and tool.name not in MEMORY_METHODS):
        raise UnknownMethod(f"There is no method {method!r}.")
    return tool


def call(*, method: str, params: dict, task_id: str | None) -> object:
    """Runs the method's tool with `params` under the permission rules; returns its output.
    Raises UnknownMethod, ValidationFailed (params against the tool's schema), PermissionDenied,
    ApprovalRequired, or ToolFailed (the tool's own error); for a skill, SkillFailed."""
    if method.startswith("skill."):
        return _call_skill(method, params)
    tool = resolve_method(method)
    try:
        jsonschema.validate(params, tool.input_schema)
    except jsonschema.ValidationError as invalid:
        raise ValidationFailed(details={"params": [invalid.message]}) from None
    verdict = decide(tool, params)
    if verdict.decision == "deny":
        raise PermissionDenied(f"{method} is denied ({verdict.reason}).")
    if verdict.decision == "ask":
        raise ApprovalRequired(f"{method} needs the user's approval ({verdict.reason}); run it in a turn instead.")
    context = ToolContext(task_id=task_id or RPC_TASK, run_id=new_id("rpc"))
    try:
        return run_tool(tool.name, params, context)
    except ToolError as failed:
        raise ToolFailed(str(failed)) from None


def _call_skill(method: str, params: dict) -> dict:
    from skills.running import run_skill
    from skills.services import find_skill

    name = method.removeprefix("skill.")
    if not name or find_skill(name) is None:
        raise UnknownMethod(f"There is no method {method!r}.")
    if not isinstance(params.get("input"), str) or not params["input"].strip():
        raise ValidationFailed(details={"params": ["A skill needs `input`, a non-empty string."]})
    return run_skill(name=name, text=params["input"])
