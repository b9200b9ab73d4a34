import logging
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings
from django.test import override_settings

from assets import mcp_runtime
from assets.models import AuthMethod, McpServer, Transport
from tests.assets.fake_mcp import FakeMcpServer
from tests.assets.fake_provider import FakeProvider
from tests.live_server import ROOT, EngineServer

STDIO_COMMAND = [os.sys.executable, str(ROOT / "tests" / "assets" / "fake_mcp.py")]


@pytest.fixture(scope="session", autouse=True)
def _local_http_oauth():
    """The fake provider speaks plain http on the loopback; production refuses that."""
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    with override_settings(ENGINE_OAUTH_INSECURE_HTTP=True):
        yield
    mcp_runtime.shutdown()


class LogLines(logging.Handler):
    """Every log record of this test process, formatted, for the final secrets scan."""

    lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        LogLines.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def _keep_log_lines():
    handler = LogLines(level=logging.DEBUG)
    root, ours = logging.getLogger(), logging.getLogger("assets")
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    ours.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def provider():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def mcp_http(provider):
    server = FakeMcpServer(provider).start()
    yield server
    mcp_runtime.shutdown()  # our sessions hang up first, or the server waits for their streams
    server.stop()


class Recorder:
    """Every response body the tests saw, for the final secrets scan."""

    bodies: list[str] = []

    def __init__(self, base_url: str, key: str):
        self.base_url, self.key = base_url, key

    def request(self, method: str, path_or_url: str, **kwargs) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        headers = {"X-Engine-Key": self.key, **kwargs.pop("headers", {})}
        response = requests.request(method, url, headers=headers, timeout=30, **kwargs)
        Recorder.bodies.append(response.text)
        return response


def _server_env() -> dict:
    return {"ENGINE_SECRETS_KEYS": ",".join(settings.ENGINE_SECRETS_KEYS), "ENGINE_OAUTH_INSECURE_HTTP": "true",
            "ENGINE_MCP_CONNECT_TIMEOUT": "5", "LOG_LEVEL": "DEBUG"}


@pytest.fixture(scope="session")
def engine_pair(django_db_setup, django_db_blocker):
    """Two real gunicorn+gevent servers on the same test database: a flow started on one can be
    completed on the other, as with two workers."""
    pair = (EngineServer(env=_server_env()), EngineServer(env=_server_env()))
    with django_db_blocker.unblock(), ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(EngineServer.start, pair))
    yield pair
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(EngineServer.stop, pair))


@pytest.fixture
def servers(db, mcp_http) -> dict[str, McpServer]:
    """The catalog the tests use: one MCP server per way of connecting."""
    make = McpServer.objects.create
    return {
        "key": make(name="tools-key", display_name="Tools (key)", transport=Transport.STREAMABLE_HTTP,
                    url=mcp_http.url, auth_method=AuthMethod.API_KEY),
        "oauth": make(name="tools-oauth", display_name="Tools (OAuth)", transport=Transport.STREAMABLE_HTTP,
                      url=mcp_http.url, auth_method=AuthMethod.OAUTH, oauth_scopes=["tools:read", "tools:call"]),
        "stdio": make(name="tools-stdio", display_name="Tools (stdio)", transport=Transport.STDIO,
                      command=STDIO_COMMAND, auth_method=AuthMethod.NONE),
        "sse": make(name="tools-sse", display_name="Tools (SSE)", transport=Transport.SSE, url=mcp_http.sse_url,
                    auth_method=AuthMethod.NONE),
        "gone": make(name="gone", display_name="Unreachable", transport=Transport.STREAMABLE_HTTP,
                     url="http://127.0.0.1:9/mcp", auth_method=AuthMethod.NONE),
        "gone-oauth": make(name="gone-oauth", display_name="Unreachable (OAuth)", transport=Transport.STREAMABLE_HTTP,
                           url="http://127.0.0.1:9/mcp", auth_method=AuthMethod.OAUTH),
    }


def grant_at_provider(auth_url: str) -> str:
    """What the browser does at the provider: it approves at once and redirects; returns the
    callback URL it redirects to."""
    response = requests.get(auth_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def on_server(url: str, server: EngineServer) -> str:
    """The same callback URL, delivered to another server (another worker)."""
    path = url.split("/", 3)[3]
    return f"{server.url}/{path}"


@pytest.fixture
def engine(engine_pair, servers) -> Recorder:
    from engine.keys import create_key

    return Recorder(engine_pair[0].url, create_key(name="assets")[1])


@pytest.fixture
def oauth_connection(engine, engine_pair) -> str:
    """A connected OAuth connection, made over HTTP; its ref_id."""
    started = engine.request("POST", "/assets/connect", json={"server_name": "tools-oauth"}).json()
    callback = engine.request("GET", grant_at_provider(started["auth_url"]))
    assert callback.status_code == 200, callback.text
    return started["ref_id"]
