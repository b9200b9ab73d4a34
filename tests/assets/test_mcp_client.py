"""assets.mcp, the client API the tool registry calls, against real MCP servers."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection

from assets import crypto, mcp
from assets.errors import ConnectionNotConnected, ConnectionNotFound, McpServerError, McpTimeout, McpUnreachable
from assets.models import Connection, ConnectionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_connection(servers, mcp_http) -> str:
    connection = Connection.objects.create(
        server=servers["key"], status=ConnectionStatus.CONNECTED, secrets_sealed=crypto.seal({"api_key": mcp_http.api_key})
    )
    return connection.ref_id


@pytest.fixture
def stdio_connection(servers) -> str:
    return Connection.objects.create(server=servers["stdio"], status=ConnectionStatus.CONNECTED).ref_id


def test_it_lists_the_tools_of_a_streamable_http_server_with_their_schemas(key_connection):
    tools = {tool["name"]: tool for tool in mcp.list_tools(key_connection)}
    assert set(tools) == {"add", "echo", "slow", "fail", "grow"}
    assert tools["add"]["description"] == "Adds two integers."
    assert tools["add"]["input_schema"]["properties"].keys() == {"a", "b"}


def test_it_calls_a_tool_and_returns_its_content(key_connection):
    result = mcp.call_tool(key_connection, "add", {"a": 2, "b": 3}, timeout=10)
    assert result["is_error"] is False
    assert result["content"] == [{"type": "text", "text": "5"}]


def test_a_failing_tool_is_a_result_marked_as_an_error_not_an_exception(key_connection):
    result = mcp.call_tool(key_connection, "fail", {"reason": "boom"}, timeout=10)
    assert result["is_error"] is True
    assert "boom" in result["content"][0]["text"]


def test_a_slow_tool_times_out_with_mcp_timeout_and_the_session_stays_usable(key_connection):
    started = time.monotonic()
    with pytest.raises(McpTimeout):
        mcp.call_tool(key_connection, "slow", {"seconds": 5}, timeout=0.5)
    assert time.monotonic() - started < 2
    assert mcp.call_tool(key_connection, "echo", {"text": "still here"}, timeout=5)["content"][0]["text"] == "still here"


@pytest.mark.django_db(transaction=True)  # the calling threads read the connection from the database
def test_twenty_concurrent_calls_share_one_session_and_overlap(key_connection):
    mcp.list_tools(key_connection)

    def call(n: int) -> str:
        try:
            return mcp.call_tool(key_connection, "slow", {"seconds": 1}, timeout=10)["content"][0]["text"]
        finally:
            db_connection.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    elapsed = time.monotonic() - started
    assert results == ["slept 1.0"] * 20
    assert elapsed < 6, elapsed  # one after the other would take 20 s
    print(f"20 concurrent 1 s tool calls on one session took {elapsed:.2f}s")


def test_it_lists_and_calls_the_tools_of_a_stdio_server(stdio_connection):
    assert {tool["name"] for tool in mcp.list_tools(stdio_connection)} == {"add", "echo", "slow", "fail", "grow"}
    assert mcp.call_tool(stdio_connection, "echo", {"text": "over stdio"}, timeout=10)["content"][0]["text"] == "over stdio"


def test_an_unreachable_server_raises_mcp_unreachable(servers):
    ref = Connection.objects.create(server=servers["gone"], status=ConnectionStatus.CONNECTED).ref_id
    with pytest.raises(McpUnreachable) as raised:
        mcp.call_tool(ref, "add", {"a": 1, "b": 1}, timeout=5)
    assert raised.value.code == "mcp_unreachable"


def test_an_unknown_or_pending_connection_raises_a_typed_error(servers):
    with pytest.raises(ConnectionNotFound):
        mcp.list_tools("conn-nope")
    pending = Connection.objects.create(server=servers["oauth"], status=ConnectionStatus.PENDING_OAUTH)
    with pytest.raises(ConnectionNotConnected):
        mcp.call_tool(pending.ref_id, "add", {}, timeout=5)


def test_the_tool_list_is_cached_and_refreshed_when_the_server_announces_a_change(stdio_connection):
    assert "extra" not in {tool["name"] for tool in mcp.list_tools(stdio_connection)}
    assert mcp.call_tool(stdio_connection, "grow", {"name": "extra"}, timeout=10)["content"][0]["text"] == "added extra"
    deadline = time.monotonic() + 5
    while "extra" not in {tool["name"] for tool in mcp.list_tools(stdio_connection)}:
        assert time.monotonic() < deadline, "the cached list was never refreshed"
        time.sleep(0.05)


def test_a_server_answering_http_500_raises_mcp_server_error(servers, mcp_http):
    servers["gone"].url = mcp_http.broken_url
    servers["gone"].save()
    ref = Connection.objects.create(server=servers["gone"], status=ConnectionStatus.CONNECTED).ref_id
    with pytest.raises(McpServerError) as raised:
        mcp.list_tools(ref)
    assert raised.value.code == "mcp_server_error" and raised.value.status == 502


def test_an_unknown_tool_is_a_result_marked_as_an_error(key_connection):
    result = mcp.call_tool(key_connection, "no-such-tool", {}, timeout=10)
    assert result["is_error"] is True and result["content"][0]["text"] == "Unknown tool: no-such-tool"


def test_it_lists_and_calls_the_tools_of_an_sse_server(servers):
    ref = Connection.objects.create(server=servers["sse"], status=ConnectionStatus.CONNECTED).ref_id
    assert "add" in {tool["name"] for tool in mcp.list_tools(ref)}
    assert mcp.call_tool(ref, "add", {"a": 1, "b": 2}, timeout=10)["content"] == [{"type": "text", "text": "3"}]


def test_a_server_deleted_while_the_tools_are_listed_is_left_out(key_connection, stdio_connection, servers):
    from assets.tools import connected_tools

    def delete_the_stdio_server_after_the_connections_are_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "assets_connection" in sql and not deleted:
            deleted.append(True)
            servers["stdio"].delete()
        return result

    deleted = []
    with db_connection.execute_wrapper(delete_the_stdio_server_after_the_connections_are_read):
        names = [tool.name for tool in connected_tools()]
    assert deleted and names and all(name.startswith("tools-key__") for name in names)
