"""MCP tools in the agent loop, through the real gunicorn+gevent server: listed as
`<server>__<tool>`, asked about by default, called with the connection's credentials."""

import uuid

import pytest

from tests.hitl.conftest import TurnInBackground, respond, wait_for_pending
from tests.sse import execute

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def tool_results(events) -> list[dict]:
    return [e.data for e in events if e.event == "tool_result"]


def test_a_run_calls_a_connected_servers_tool_after_the_user_allows_it(engine, engine_pair, mcp_http):
    server = engine_pair[0]
    connected = engine.request("POST", "/assets/connect", json={"server_name": "tools-key", "server_config": {"api_key": mcp_http.api_key}})
    assert connected.json()["status"] == "connected"
    task_id = f"mcp-{uuid.uuid4().hex[:6]}"

    listed = execute(server, engine.key, {"message": "/context", "task_id": task_id, "direct": True})
    assert listed[-1].data["phase"] == "completed"

    turn = TurnInBackground(server, engine.key, {"message": '/tool tools-key__add {"a": 2, "b": 3}', "task_id": task_id, "direct": True})
    [pending] = wait_for_pending(server, engine.key, task_id)
    assert (pending["kind"], pending["tool"], pending["input"]) == ("permission", "tools-key__add", {"a": 2, "b": 3})
    assert respond(server, engine.key, task_id=task_id, answer="yes", always_allow=True).status_code == 200
    [result] = tool_results(turn.finish())
    assert result["output"]["is_error"] is False
    assert result["output"]["content"][0]["text"] == "5"

    failing = TurnInBackground(server, engine.key, {"message": '/tool tools-key__fail {"reason": "no luck"}', "task_id": task_id, "direct": True})
    wait_for_pending(server, engine.key, task_id)  # the grant covers `add` only
    assert respond(server, engine.key, task_id=task_id, answer="yes").status_code == 200
    [failed] = tool_results(failing.finish())
    assert "no luck" in failed["error"]
    disconnected = engine.request("DELETE", f"/assets/connections/{connected.json()['ref_id']}")
    assert disconnected.json()["status"] == "disconnected"
    gone = execute(server, engine.key, {"message": '/tool tools-key__add {"a": 1, "b": 1}', "task_id": task_id, "direct": True})
    assert "no tool named 'tools-key__add'" in tool_results(gone)[0]["error"]


def test_the_whole_oauth_flow_ends_in_a_run_calling_the_servers_tool(engine, engine_pair, oauth_connection, provider):
    server = engine_pair[1]  # another worker than the one that completed the callback
    task_id = f"mcp-{uuid.uuid4().hex[:6]}"
    turn = TurnInBackground(server, engine.key, {"message": '/tool tools-oauth__echo {"text": "through oauth"}', "task_id": task_id, "direct": True})
    wait_for_pending(server, engine.key, task_id)
    assert respond(server, engine.key, task_id=task_id, answer="yes").status_code == 200
    [result] = tool_results(turn.finish())
    assert result["output"]["content"][0]["text"] == "through oauth"
    disconnected = engine.request("DELETE", f"/assets/connections/{oauth_connection}")
    assert disconnected.json() == {"status": "disconnected", "ref_id": oauth_connection, "revoked": True}
