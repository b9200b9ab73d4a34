"""assets.mcp called from many greenlets of a gevent-patched process (what the tool registry
will do inside a gunicorn gevent worker)."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

from assets import crypto
from assets.models import Connection, ConnectionStatus
from tests.live_server import ROOT, database_url_for_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_forty_greenlets_calling_a_one_second_tool_finish_together_and_never_block_the_hub(servers, mcp_http, tmp_path):
    ref = Connection.objects.create(server=servers["key"], status=ConnectionStatus.CONNECTED,
                                    secrets_sealed=crypto.seal({"api_key": mcp_http.api_key})).ref_id
    env = {"DATABASE_URL": database_url_for_server(), "ENGINE_DATA_DIR": str(tmp_path),
           "ENGINE_SECRETS_KEYS": ",".join(settings.ENGINE_SECRETS_KEYS), "DJANGO_SETTINGS_MODULE": "engine.settings",
           "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    probe = subprocess.run([sys.executable, "tests/assets/gevent_probe.py", ref, "40", "1"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr[-2000:]
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"under gevent: 40 concurrent 1 s calls took {report['elapsed']:.2f}s; longest hub pause while they were "
          f"in flight {report['max_gap_in_flight'] * 1000:.0f} ms (overall {report['max_gap'] * 1000:.0f} ms); "
          f"first list_tools (loop start, SDK import, connect) {report['first_list']:.2f}s")
    assert report["results"] == ["slept 1.0"] * 40
    assert report["elapsed"] < 4  # one after the other: 40 s
    assert report["max_gap_in_flight"] < 0.3
