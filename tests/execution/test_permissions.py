"""Permission rules: allow, deny and ask, with patterns; deny wins."""

import pytest

from execution import permissions
from execution.permissions import Rule, decide, parse_rules
from execution.tools import get_tool


@pytest.fixture(autouse=True)
def _fresh_rules(settings, tmp_path):
    settings.ENGINE_CATALOG_DIR = tmp_path
    permissions.reload_rules()
    yield
    permissions.reload_rules()


def verdict(settings, rules: list[dict], tool: str, tool_input: dict) -> str:
    settings.ENGINE_PERMISSION_RULES = rules
    permissions.reload_rules()
    return decide(get_tool(tool), tool_input).decision


def test_without_rules_each_tool_keeps_its_own_policy(settings):
    assert verdict(settings, [], "bash", {"command": "ls"}) == "allow"
    assert get_tool("bash").policy == "allow"


def test_a_bash_pattern_matches_the_command(settings):
    rules = [{"tool": "bash", "pattern": "rm *", "decision": "deny"}]
    assert verdict(settings, rules, "bash", {"command": "rm -rf build"}) == "deny"
    assert verdict(settings, rules, "bash", {"command": "ls -la"}) == "allow"


def test_deny_wins_over_allow_and_ask(settings):
    rules = [
        {"tool": "bash", "pattern": "git *", "decision": "allow"},
        {"tool": "bash", "pattern": "git push*", "decision": "deny"},
        {"tool": "bash", "pattern": "git push*", "decision": "ask"},
    ]
    assert verdict(settings, rules, "bash", {"command": "git push origin main"}) == "deny"
    assert verdict(settings, rules, "bash", {"command": "git status"}) == "allow"


def test_ask_wins_over_allow(settings):
    rules = [{"tool": "*", "decision": "allow"}, {"tool": "bash", "pattern": "curl *", "decision": "ask"}]
    assert verdict(settings, rules, "bash", {"command": "curl example.org"}) == "ask"


def test_an_allow_pattern_does_not_cover_chained_commands(settings):
    rules = [{"tool": "bash", "decision": "ask"}, {"tool": "bash", "pattern": "git status*", "decision": "allow"}]
    assert verdict(settings, rules, "bash", {"command": "git status; rm -rf ~"}) == "ask"
    assert verdict(settings, rules, "bash", {"command": "git status | sh"}) == "ask"
    assert verdict(settings, [rules[1]], "bash", {"command": "git status --short"}) == "allow"


def test_a_path_glob_matches_the_file_tools(settings):
    rules = [{"tool": "write_file", "pattern": "secrets/*", "decision": "deny"}, {"tool": "*_file", "pattern": "*.md", "decision": "ask"}]
    assert verdict(settings, rules, "write_file", {"path": "secrets/key.pem", "content": ""}) == "deny"
    assert verdict(settings, rules, "write_file", {"path": "docs/../secrets/key.pem", "content": ""}) == "deny"
    assert verdict(settings, rules, "read_file", {"path": "README.md"}) == "ask"
    assert verdict(settings, rules, "read_file", {"path": "main.py"}) == "allow"


def test_rules_also_come_from_the_catalog(settings, tmp_path):
    (tmp_path / "permissions.yaml").write_text("rules:\n  - tool: current_time\n    decision: deny\n")
    assert verdict(settings, [], "current_time", {}) == "deny"
    assert "permissions.yaml" in decide(get_tool("current_time"), {}).reason


def test_a_broken_catalog_file_is_ignored_and_the_rest_still_applies(settings, tmp_path):
    (tmp_path / "permissions.yaml").write_text("rules:\n  - tool: bash\n    decision: maybe\n")
    assert verdict(settings, [{"tool": "bash", "decision": "deny"}], "bash", {"command": "ls"}) == "deny"


@pytest.mark.parametrize("raw", [{"tool": "bash"}, [{"tool": "bash", "decision": "sometimes"}], [{"decision": "deny"}], [{"tool": "x", "decision": "deny", "pattern": 3}]])
def test_malformed_rules_are_refused_with_a_reason(raw):
    with pytest.raises(ValueError):
        parse_rules(raw, source="test")


def test_a_rule_describes_itself_for_the_model():
    assert Rule(tool="bash", pattern="rm *", decision="deny", source="settings").describe() == "deny bash 'rm *' (settings)"


def test_a_deny_pattern_catches_the_command_inside_a_chain(settings):
    rules = [{"tool": "bash", "pattern": "rm *", "decision": "deny"}]
    assert verdict(settings, rules, "bash", {"command": "true && rm -rf x"}) == "deny"
    assert verdict(settings, rules, "bash", {"command": "echo hi; rm -rf x"}) == "deny"
    assert verdict(settings, rules, "bash", {"command": "echo rm"}) == "allow"
