"""POST /rpc: tools and memory operations without the model, under the same permission rules."""

import pytest

from execution import permissions
from memory.models import KnowledgeItem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _workspaces(settings, tmp_path):
    settings.ENGINE_WORKSPACES_DIR = str(tmp_path)
    permissions.reload_rules()
    yield
    permissions.reload_rules()


def rpc(client, method: str, params: dict, **extra):
    return client.post("/rpc", {"method": method, "params": params, **extra}, format="json")


def test_a_tool_runs_and_returns_its_result(alice):
    response = rpc(alice, "tool.current_time", {})
    assert response.status_code == 200
    assert set(response.json()["result"]) == {"utc", "epoch_ms"}


def test_file_tools_use_the_named_tasks_workspace(alice):
    assert rpc(alice, "tool.write_file", {"path": "a.txt", "content": "hi"}, task_id="t1").status_code == 200
    assert rpc(alice, "tool.read_file", {"path": "a.txt"}, task_id="t1").json()["result"]["content"] == "hi"
    missing = rpc(alice, "tool.read_file", {"path": "a.txt"}, task_id="t2")
    assert (missing.status_code, missing.json()["error"]) == (422, "tool_error")


def test_memory_operations_are_methods_too(alice):
    assert rpc(alice, "memory.remember", {"subject": "tea", "content": "The user drinks green tea"}).json()["result"]["outcome"] == "added"
    assert KnowledgeItem.objects.filter(subject="tea").exists()
    found = rpc(alice, "memory.recall", {"query": "green tea"}).json()["result"]["facts"]
    assert found[0]["content"] == "The user drinks green tea"
    assert rpc(alice, "memory.bash", {"command": "ls"}).json()["error"] == "unknown_method"


def test_permission_rules_apply_as_in_a_turn(alice, settings):
    settings.ENGINE_PERMISSION_RULES = [{"tool": "bash", "pattern": "rm *", "decision": "deny"}, {"tool": "write_file", "decision": "ask"}]
    permissions.reload_rules()
    denied = rpc(alice, "tool.bash", {"command": "rm -rf x"})
    assert (denied.status_code, denied.json()["error"]) == (403, "permission_denied")
    asked = rpc(alice, "tool.write_file", {"path": "x", "content": "x"})
    assert (asked.status_code, asked.json()["error"]) == (403, "approval_required")
    assert rpc(alice, "tool.bash", {"command": "echo fine"}).json()["result"]["output"] == "fine\n"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"method": "tool.teleport", "params": {}}, 404, "unknown_method"),
        ({"method": "nonsense", "params": {}}, 404, "unknown_method"),
        ({"method": "tool.bash", "params": {"cmd": "ls"}}, 400, "validation_error"),
        ({"method": "tool.bash"}, 400, "validation_error"),
        ({"params": {}}, 400, "validation_error"),
        ({"method": "tool.bash", "params": "ls"}, 400, "validation_error"),
        ({"method": "tool.ask_user", "params": {"question": "?"}}, 422, "tool_error"),
    ],
)
def test_bad_calls_get_the_error_shape(alice, body, status, code):
    response = alice.post("/rpc", body, format="json")
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_rpc_needs_a_key(api):
    assert api.post("/rpc", {"method": "tool.current_time", "params": {}}, format="json").status_code == 401
