"""The tools every Engine has: the clock, a sandboxed shell, and files in the task's workspace.
Registered when the execution app is ready."""

from datetime import datetime, timezone

from django.conf import settings

from execution.sandbox import PathOutsideWorkspace, resolve_in_workspace, run_command
from execution.tools import Tool, ToolContext, ToolError, register

_OBJECT = {"type": "object", "additionalProperties": False}


def _path_in(context: ToolContext, relative: str):
    try:
        return resolve_in_workspace(context.workspace, relative)
    except PathOutsideWorkspace as refused:
        raise ToolError(str(refused)) from None


def current_time(tool_input: dict, context: ToolContext) -> dict:
    now = datetime.now(timezone.utc)
    return {"utc": now.isoformat(timespec="seconds"), "epoch_ms": int(now.timestamp() * 1000)}


def bash(tool_input: dict, context: ToolContext) -> dict:
    result = run_command(tool_input["command"], workspace=context.workspace, timeout=tool_input.get("timeout"))
    if result.timed_out:
        raise ToolError(f"The command timed out and was killed. Output so far:\n{result.output}")
    return {"exit_code": result.exit_code, "output": result.output, "truncated": result.truncated}


def read_file(tool_input: dict, context: ToolContext) -> dict:
    path = _path_in(context, tool_input["path"])
    if not path.is_file():
        raise ToolError(f"{tool_input['path']} is not a file in the workspace.")
    limit = settings.ENGINE_FILE_READ_BYTES
    with path.open("rb") as opened:
        data = opened.read(limit + 1)
    return {"path": tool_input["path"], "content": data[:limit].decode("utf-8", errors="replace"), "truncated": len(data) > limit}


def write_file(tool_input: dict, context: ToolContext) -> dict:
    path = _path_in(context, tool_input["path"])
    content = tool_input["content"].encode()
    if len(content) > settings.ENGINE_SANDBOX_FILE_MB * 1024 * 1024:
        raise ToolError("The content is larger than the workspace's file size limit.")
    if path.is_dir():
        raise ToolError(f"{tool_input['path']} is a directory.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return {"path": tool_input["path"], "bytes": len(content)}


def edit_file(tool_input: dict, context: ToolContext) -> dict:
    path = _path_in(context, tool_input["path"])
    if not path.is_file():
        raise ToolError(f"{tool_input['path']} is not a file in the workspace.")
    text, old, new = path.read_text(errors="replace"), tool_input["old_string"], tool_input["new_string"]
    found = text.count(old)
    if found == 0:
        raise ToolError("old_string does not occur in the file.")
    if found > 1 and not tool_input.get("replace_all"):
        raise ToolError(f"old_string occurs {found} times; make it unique or set replace_all.")
    path.write_text(text.replace(old, new) if tool_input.get("replace_all") else text.replace(old, new, 1))
    return {"path": tool_input["path"], "replacements": found if tool_input.get("replace_all") else 1}


def list_files(tool_input: dict, context: ToolContext) -> dict:
    root = context.workspace.resolve()
    base = _path_in(context, tool_input.get("path") or ".")
    if not base.is_dir():
        raise ToolError(f"{tool_input.get('path')} is not a directory in the workspace.")
    found = base.rglob("*") if tool_input.get("recursive") else base.iterdir()
    entries = []
    for entry in sorted(found):
        if len(entries) >= settings.ENGINE_LIST_FILES_LIMIT:
            return {"entries": entries, "truncated": True}
        relative = str(entry.relative_to(root))
        entries.append(relative + "/" if entry.is_dir() else relative)
    return {"entries": entries, "truncated": False}


register(Tool("current_time", "The current date and time in UTC.", {**_OBJECT, "properties": {}}, current_time))
register(Tool(
    "bash", "Run a bash command in the task's workspace (a sandbox: time, output, CPU, memory and file-size limits; "
    "no Engine secrets in its environment). Returns exit_code and the combined output.",
    {**_OBJECT, "properties": {
        "command": {"type": "string", "minLength": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
    }, "required": ["command"]},
    bash,
))
register(Tool(
    "read_file", "Read a text file of the workspace (path relative to it).",
    {**_OBJECT, "properties": {"path": {"type": "string", "minLength": 1}}, "required": ["path"]}, read_file,
))
register(Tool(
    "write_file", "Create or overwrite a file of the workspace (parent directories are created).",
    {**_OBJECT, "properties": {"path": {"type": "string", "minLength": 1}, "content": {"type": "string"}},
     "required": ["path", "content"]}, write_file,
))
register(Tool(
    "edit_file", "Replace old_string by new_string in a workspace file; old_string must occur once unless replace_all.",
    {**_OBJECT, "properties": {
        "path": {"type": "string", "minLength": 1}, "old_string": {"type": "string", "minLength": 1},
        "new_string": {"type": "string"}, "replace_all": {"type": "boolean"},
    }, "required": ["path", "old_string", "new_string"]}, edit_file,
))
register(Tool(
    "list_files", "List the files of a workspace directory (default: its root), optionally recursively.",
    {**_OBJECT, "properties": {"path": {"type": "string"}, "recursive": {"type": "boolean"}}}, list_files,
))
