"""The agent sees the skills and loads one; /rpc runs a skill with one model call."""

import pytest

from execution.tools import ToolContext, run_tool
from skills.models import Skill

pytestmark = pytest.mark.django_db


def test_load_skill_returns_the_prompt_template():
    result = run_tool("load_skill", {"name": "summarizer"}, ToolContext(task_id="t-1", run_id="r-1"))
    assert result["name"] == "summarizer"
    assert result["prompt_template"].startswith("You summarise")


def test_the_system_prompt_lists_the_skills(alice):
    from execution.context import system_prompt

    Skill.objects.create(name="haiku-writer", description="Writes haiku.", prompt_template="Write haiku.")
    prompt = system_prompt()
    assert "Skills you can load" in prompt
    assert "- summarizer — Summarise a text" in prompt
    assert "- haiku-writer — Writes haiku." in prompt


def test_rpc_runs_a_skill_with_its_template_as_the_system_prompt(alice):
    response = alice.post("/rpc", {"method": "skill.summarizer", "params": {"input": "/context"}}, format="json")
    assert response.status_code == 200
    output = response.json()["result"]["output"]
    assert output.startswith("My context: You summarise the text the user gives you.")


def test_rpc_runs_a_custom_skill(alice):
    alice.post("/skills/create", {"name": "echo-back", "prompt": "Echo the input."}, format="json")
    response = alice.post("/rpc", {"method": "skill.echo-back", "params": {"input": "/context"}}, format="json")
    assert response.status_code == 200
    assert response.json()["result"]["output"] == "My context: Echo the input."


def test_rpc_refuses_an_unknown_skill_and_a_missing_input(alice):
    unknown = alice.post("/rpc", {"method": "skill.nope", "params": {"input": "x"}}, format="json")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_method"
    missing = alice.post("/rpc", {"method": "skill.summarizer", "params": {}}, format="json")
    assert missing.status_code == 400 and missing.json()["error"] == "validation_error"


def test_a_model_failure_while_running_a_skill_is_skill_failed(alice):
    response = alice.post("/rpc", {"method": "skill.summarizer", "params": {"input": "/fail"}}, format="json")
    assert response.status_code == 502
    assert response.json()["error"] == "skill_failed"
