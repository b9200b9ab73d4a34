"""The sandboxed shell and the workspace file tools."""

import time
import uuid

import pytest

from execution.builtin_tools import edit_file, list_files, read_file, write_file
from execution.sandbox import run_command, workspace_for
from execution.tools import ToolContext, ToolError, run_tool


@pytest.fixture
def context(settings, tmp_path) -> ToolContext:
    settings.ENGINE_WORKSPACES_DIR = str(tmp_path / "workspaces")
    return ToolContext(task_id=f"sandbox-{uuid.uuid4().hex[:6]}", run_id="run-test")


def test_commands_run_in_the_task_workspace(context):
    result = run_command("pwd; echo hello > note.txt; cat note.txt", workspace=context.workspace)
    assert result.exit_code == 0
    assert result.output == f"{context.workspace.resolve()}\nhello\n"
    assert (context.workspace / "note.txt").read_text() == "hello\n"
    assert workspace_for(context.task_id) == context.workspace


def test_the_environment_holds_no_engine_secrets(context, settings, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/engine")
    output = run_command("env", workspace=context.workspace).output
    names = {line.split("=", 1)[0] for line in output.splitlines()}
    assert names <= {"PATH", "HOME", "TMPDIR", "LANG", "TERM", "PWD", "SHLVL", "_"}
    assert "sk-should-not-leak" not in output and settings.SECRET_KEY not in output


def test_a_timeout_kills_the_command_and_its_children(context):
    started = time.monotonic()
    result = run_command("sleep 30 & echo $! > child.pid; sleep 30", workspace=context.workspace, timeout=0.5)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 3
    child = int((context.workspace / "child.pid").read_text())
    time.sleep(0.1)
    assert not _is_running(child)


def _is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by init, which may take a moment)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_output_is_capped_and_the_command_still_finishes(context, settings):
    settings.ENGINE_SANDBOX_OUTPUT_BYTES = 1000
    result = run_command("yes | head -c 5000000; echo finished >&2", workspace=context.workspace)
    assert result.exit_code == 0 and result.truncated
    assert len(result.output) == 1000


def test_file_size_and_memory_limits_hold(context, settings):
    settings.ENGINE_SANDBOX_FILE_MB = 1
    settings.ENGINE_SANDBOX_MEMORY_MB = 256
    too_big = run_command("head -c 5000000 /dev/zero > big.bin", workspace=context.workspace)
    assert too_big.exit_code != 0
    assert (context.workspace / "big.bin").stat().st_size <= 1024 * 1024
    greedy = run_command("python3 -c \"x = bytearray(1024 ** 3)\"", workspace=context.workspace)
    assert greedy.exit_code != 0 and "MemoryError" in greedy.output


def test_a_timed_out_bash_call_is_a_tool_error(context):
    with pytest.raises(ToolError, match="timed out"):
        run_tool("bash", {"command": "echo started; sleep 5", "timeout": 0.3}, context)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../outside.txt", "~/.bashrc", "..", "a/\x00b"])
def test_file_tools_refuse_paths_outside_the_workspace(context, path):
    for tool, tool_input in (
        ("read_file", {"path": path}),
        ("write_file", {"path": path, "content": "x"}),
        ("edit_file", {"path": path, "old_string": "a", "new_string": "b"}),
        ("list_files", {"path": path}),
    ):
        with pytest.raises(ToolError):
            run_tool(tool, tool_input, context)


def test_file_tools_refuse_symlinks_that_leave_the_workspace(context, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (context.workspace / "link.txt").symlink_to(secret)
    (context.workspace / "outside").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="outside the workspace"):
        read_file({"path": "link.txt"}, context)
    with pytest.raises(ToolError, match="outside the workspace"):
        write_file({"path": "outside/new.txt", "content": "x"}, context)
    assert not (tmp_path / "new.txt").exists()


def test_write_read_edit_and_list_work_inside_the_workspace(context):
    assert write_file({"path": "src/app.py", "content": "print('hi')\nprint('hi')\n"}, context)["bytes"] == 24
    assert read_file({"path": "src/app.py"}, context)["content"] == "print('hi')\nprint('hi')\n"
    with pytest.raises(ToolError, match="occurs 2 times"):
        edit_file({"path": "src/app.py", "old_string": "hi", "new_string": "bye"}, context)
    assert edit_file({"path": "src/app.py", "old_string": "hi", "new_string": "bye", "replace_all": True}, context)["replacements"] == 2
    with pytest.raises(ToolError, match="does not occur"):
        edit_file({"path": "src/app.py", "old_string": "absent", "new_string": "x"}, context)
    assert list_files({"recursive": True}, context)["entries"] == ["src/", "src/app.py"]
    assert list_files({"path": "src"}, context)["entries"] == ["src/app.py"]


def test_tool_input_is_validated_against_its_schema(context):
    with pytest.raises(ToolError, match="Invalid input for bash"):
        run_tool("bash", {"cmd": "ls"}, context)
    with pytest.raises(ToolError, match="no tool named"):
        run_tool("teleport", {}, context)


def test_a_schema_is_checked_once_and_a_broken_one_fails_every_call(context, monkeypatch):
    import jsonschema

    from execution import tools
    from execution.tools import Tool, _validator_for

    checks = []
    real_check = jsonschema.Draft202012Validator.check_schema.__func__
    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema",
                        classmethod(lambda cls, schema, **kw: checks.append(schema) or real_check(cls, schema, **kw)))
    _validator_for.cache_clear()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    monkeypatch.setitem(tools._tools, "count_to", Tool(name="count_to", description="Counts.", input_schema=schema,
                                                       run=lambda tool_input, context: tool_input["n"]))
    monkeypatch.setitem(tools._tools, "broken_schema", Tool(name="broken_schema", description="Broken.",
                                                            input_schema={"type": 12}, run=lambda tool_input, context: 1))
    assert [run_tool("count_to", {"n": n}, context) for n in (1, 2, 3)] == [1, 2, 3]
    with pytest.raises(ToolError, match="Invalid input for count_to"):
        run_tool("count_to", {"n": "three"}, context)
    assert len(checks) == 1
    for _ in range(2):
        with pytest.raises(jsonschema.SchemaError):
            run_tool("broken_schema", {}, context)


def test_an_event_that_cannot_be_stored_fails_where_it_is_emitted():
    from execution.eventlog import PendingEvent

    with pytest.raises(TypeError):
        PendingEvent("tool_result", {"output": object()})
    assert "\ufffd" not in PendingEvent("text_delta", {"text": "fine"}).data_json
    assert PendingEvent("text_delta", {"text": "lone \ud800 surrogate"}).data_json.encode("utf-8")
