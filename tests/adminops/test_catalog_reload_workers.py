"""POST /admin/reload-catalog reaches every worker: two real servers on one database."""

import shutil
import time

import pytest
import requests
from django.conf import settings

from engine.keys import create_key
from engine.models import KeyScope
from tests.live_server import ROOT, EngineServer

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def skill_names(server: EngineServer, key: str) -> set[str]:
    response = requests.get(f"{server.url}/skills", headers={"X-Engine-Key": key}, timeout=5)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()}


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_after_a_reload_both_servers_serve_the_new_catalog(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", catalog)
    key = create_key(name="operator", scope=KeyScope.ADMIN)[1]
    env = {"ENGINE_CATALOG_DIR": str(catalog)}
    with EngineServer(env=env) as first, EngineServer(env=env) as second:
        assert "translator" not in skill_names(first, key) | skill_names(second, key)  # both have loaded the catalog
        (catalog / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nTranslate to English.\n")
        (catalog / "skills" / "summarizer.md").unlink()
        assert "translator" not in skill_names(second, key)  # files are read once per worker

        response = requests.post(f"{first.url}/admin/reload-catalog", headers={"X-Engine-Key": key}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["changed"]["skills"]["added"] == ["translator"]

        for server in (first, second):
            assert wait_for(lambda: (names := skill_names(server, key)) and "translator" in names and "summarizer" not in names)
        if settings.DATABASE_IS_POSTGRES:  # the control message crossed processes too (NOTIFY)
            assert wait_for(lambda: "catalog reload announced by another worker" in second.log())
