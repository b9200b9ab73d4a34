"""engine.worker_cache: a worker's copies of the soul, the skills listing and the connections
are served within a turn while their stamps are unchanged, and every kind of write changes the
stamp, in the writer's transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from assets.models import Connection, ConnectionStatus, McpServer
from engine import worker_cache
from execution.context import remembered_for
from execution.tools import available_tools
from memory.soul import current_soul
from skills.catalog import publish_new_generation
from skills.models import Skill
from skills.tools import skills_prompt

pytestmark = pytest.mark.django_db

WATCHED = {
    "memory_soulversion": "soul",
    "skills_skill": "skills",
    "skills_cataloggeneration": "skills",
    "assets_mcpserver": "connections",
    "assets_connection": "connections",
}


def trigger_names() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {name for (name,) in cursor.fetchall()}


def test_every_watched_table_has_its_triggers_after_all_migrations():
    # On SQLite, a later migration that rebuilds one of these tables drops its triggers: this fails then.
    found = trigger_names()
    for table in WATCHED:
        if connection.vendor == "postgresql":
            assert f"{table}_new_cache_stamp" in found
        else:
            assert {f"{table}_new_cache_stamp_{event}" for event in ("insert", "update", "delete")} <= found
    assert set(worker_cache.current_stamps()) == set(WATCHED.values())


def stamp(group: str) -> int:
    return worker_cache.current_stamps()[group]


def test_every_kind_of_write_gives_its_group_a_new_stamp_and_no_other():
    before = worker_cache.current_stamps()
    skill = Skill.objects.create(name="stamp-probe", description="d", prompt_template="p")
    after_insert = worker_cache.current_stamps()
    assert after_insert["skills"] != before["skills"]
    assert (after_insert["soul"], after_insert["connections"]) == (before["soul"], before["connections"])

    Skill.objects.filter(pk=skill.pk).update(description="bulk update, no signals")
    after_update = stamp("skills")
    assert after_update != after_insert["skills"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE skills_skill SET description = 'plain SQL' WHERE name = 'stamp-probe'")
    after_sql = stamp("skills")
    assert after_sql != after_update
    skill.delete()
    assert stamp("skills") != after_sql

    soul_before = stamp("soul")
    current_soul()  # the first read writes version 1
    assert stamp("soul") != soul_before
    connections_before = stamp("connections")
    McpServer.objects.create(name="stamped", display_name="Stamped", transport="streamable_http", url="http://127.0.0.1:9/mcp")
    assert stamp("connections") != connections_before
    skills_before = stamp("skills")
    publish_new_generation()  # a catalog reload
    assert stamp("skills") != skills_before


def test_a_copy_is_served_while_the_stamp_is_unchanged_and_only_inside_reading():
    loads = []

    def load():
        loads.append(1)
        return len(loads)

    assert worker_cache.cached("skills", load) == 1  # outside a turn: always loaded
    assert worker_cache.cached("skills", load) == 2
    with worker_cache.reading(None):  # None: read the stamps now
        assert worker_cache.cached("skills", load) == 3
        assert worker_cache.cached("skills", load) == 3
    with worker_cache.reading(worker_cache.current_stamps()):
        assert worker_cache.cached("skills", load) == 3  # another turn, same stamp
    Skill.objects.create(name="stamp-probe-2")
    with worker_cache.reading(worker_cache.current_stamps()):
        assert worker_cache.cached("skills", load) == 4
    with worker_cache.reading({}):  # a group without a stamp is never served from a copy
        assert worker_cache.cached("skills", load) == 5


def test_a_copy_made_inside_a_rolled_back_write_is_not_served_afterwards():
    with transaction.atomic():
        Skill.objects.create(name="rolled-back")
        with worker_cache.reading(worker_cache.current_stamps()):
            assert "rolled-back" in skills_prompt()
        transaction.set_rollback(True)
    # One more write: a counter would now be back at the value the rolled-back copy was made under.
    Skill.objects.create(name="after-rollback")
    with worker_cache.reading(worker_cache.current_stamps()):
        prompt = skills_prompt()
    assert "rolled-back" not in prompt
    assert "after-rollback" in prompt


def test_a_turns_second_start_reads_none_of_the_cached_tables():
    current_soul()  # version 1 exists (its first read writes it, which changes the stamp)
    server = McpServer.objects.create(name="cached-server", display_name="Cached", transport="streamable_http",
                                      url="http://127.0.0.1:9/mcp")
    Connection.objects.create(server=server, status=ConnectionStatus.CONNECTED)
    Skill.objects.create(name="cached-skill", description="listed")

    def turn_start() -> list[str]:
        with worker_cache.reading(worker_cache.current_stamps()), CaptureQueriesContext(connection) as captured:
            assert "cached-skill" in skills_prompt()
            assert "Who the user is" in remembered_for("hello")
            available_tools()  # the unreachable server's tools are left out
        return [query["sql"] for query in captured.captured_queries]

    def cached_reads(statements: list[str]) -> list[str]:
        # The MCP client reads its connection by ref_id to call the server: that is not the listing.
        listing = ("soulversion", "skills_skill", "skills_cataloggeneration", 'FROM "assets_mcpserver"', "WHERE status = ")
        return [sql for sql in statements if any(part in sql for part in listing)]

    assert len(cached_reads(turn_start())) == 5  # soul, catalog generation, skills, connections, servers
    assert cached_reads(turn_start()) == []
    Connection.objects.filter(server=server).update(status=ConnectionStatus.NEEDS_REAUTH)
    assert [sql for sql in cached_reads(turn_start()) if "WHERE status = " in sql]  # its copy went with the stamp
