"""Working memory: a per-task scratchpad the agent edits through a tool. Every change emits
`working_memory_update`; the content is in the model's context on every turn of the task."""

from django.conf import settings
from django.db import transaction

from engine.db import fetch_instances
from execution.models import Task, WorkingMemory
from execution.tools import Tool, ToolContext, ToolError, register


def read_working_memory(task: Task) -> str:
    """Read at the start of every turn: one plain statement (engine.db)."""
    found = fetch_instances(WorkingMemory, ["content"], "task_id = %s", [task.pk])
    return found[0].content if found else ""


@transaction.atomic
def change_working_memory(*, task_id: str, action: str, content: str = "") -> WorkingMemory:
    """Sets, appends to or clears the task's working memory. Raises ToolError past the size limit."""
    memory, _ = WorkingMemory.objects.select_for_update().get_or_create(task=Task.objects.get(task_id=task_id))
    if action == "set":
        updated = content
    elif action == "append":
        updated = f"{memory.content}\n{content}" if memory.content else content
    else:
        updated = ""
    if len(updated) > settings.ENGINE_WORKING_MEMORY_CHARS:
        raise ToolError(f"Working memory is limited to {settings.ENGINE_WORKING_MEMORY_CHARS} characters; "
                        "shorten it or set it anew.")
    memory.content = updated
    memory.version += 1
    memory.save(update_fields=["content", "version", "updated_at"])
    return memory


def working_memory_tool(tool_input: dict, context: ToolContext) -> dict:
    if tool_input["action"] != "clear" and "content" not in tool_input:
        raise ToolError("`content` is needed to set or append.")
    memory = change_working_memory(task_id=context.task_id, action=tool_input["action"], content=tool_input.get("content", ""))
    context.emit("working_memory_update", content=memory.content, version=memory.version)
    return {"version": memory.version, "characters": len(memory.content)}


register(Tool(
    "working_memory",
    "Your scratchpad for this task (plans, findings, to-dos); you see it on every turn. "
    "action: set (replace), append (add a line) or clear.",
    {
        "type": "object", "additionalProperties": False,
        "properties": {"action": {"enum": ["set", "append", "clear"]}, "content": {"type": "string"}},
        "required": ["action"],
    },
    working_memory_tool,
))
