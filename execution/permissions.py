"""Whether a tool call may run: `allow`, `deny` or `ask`.

Rules come from ENGINE_PERMISSION_RULES and the catalog's `permissions.yaml`, each
`{"tool": <glob>, "pattern": <glob, optional>, "decision": "allow"|"deny"|"ask"}`. A pattern
matches the command of `bash` and the path of the file tools. Among the rules that match a call,
deny wins over ask, and ask over allow; when none matches, the tool's own policy decides. Until
approvals exist, `ask` is refused like `deny` (see `execution.turn`).
"""

import fnmatch
import logging
import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache

import yaml
from django.conf import settings

from execution.tools import Tool

logger = logging.getLogger(__name__)

DECISIONS = ("allow", "deny", "ask")
_PATH_TOOLS = {"read_file", "write_file", "edit_file", "list_files"}
# An allow rule with a pattern must not let `git status; rm -rf ~` through as `git status*`.
_SHELL_CHAINING = (";", "&", "|", "`", "$(", ">", "<", "\n")
_SHELL_SPLIT = re.compile(r"&&|\|\||[;&|\n`]|\$\(")


@dataclass(frozen=True)
class Rule:
    tool: str
    decision: str
    pattern: str | None = None
    source: str = "settings"

    def matches(self, tool_name: str, tool_input: dict) -> bool:
        if not fnmatch.fnmatchcase(tool_name, self.tool):
            return False
        if self.pattern is None:
            return True
        subject = _subject(tool_name, tool_input)
        if subject is None:
            return False
        if tool_name == "bash" and any(mark in subject for mark in _SHELL_CHAINING):
            if self.decision == "allow":
                return False
            # A deny or ask rule catches `rm *` inside `true && rm -rf x` too.
            return any(fnmatch.fnmatchcase(part.strip(), self.pattern) for part in _SHELL_SPLIT.split(subject))
        return fnmatch.fnmatchcase(subject, self.pattern)

    def describe(self) -> str:
        pattern = f" {self.pattern!r}" if self.pattern else ""
        return f"{self.decision} {self.tool}{pattern} ({self.source})"


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str


def _subject(tool_name: str, tool_input: dict) -> str | None:
    if tool_name == "bash":
        return str(tool_input.get("command", "")).strip()
    if tool_name in _PATH_TOOLS:
        return posixpath.normpath(str(tool_input.get("path") or "."))
    return None


def parse_rules(raw: object, *, source: str) -> list[Rule]:
    """Validates a list of rule objects; raises ValueError naming the first bad one."""
    if not isinstance(raw, list):
        raise ValueError("rules must be a list")
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("tool"), str) or item.get("decision") not in DECISIONS:
            raise ValueError(f"rule {index} needs a `tool` and a `decision` among {', '.join(DECISIONS)}")
        pattern = item.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise ValueError(f"rule {index}: `pattern` must be a string")
        rules.append(Rule(tool=item["tool"], decision=item["decision"], pattern=pattern, source=source))
    return rules


@lru_cache(maxsize=1)
def configured_rules() -> tuple[Rule, ...]:
    """The rules of settings and catalog, read once per process (`reload_rules()` re-reads)."""
    rules = parse_rules(settings.ENGINE_PERMISSION_RULES, source="ENGINE_PERMISSION_RULES")
    path = settings.ENGINE_CATALOG_DIR / "permissions.yaml"
    if path.exists():
        try:
            rules += parse_rules((yaml.safe_load(path.read_text()) or {}).get("rules", []), source=str(path))
        except (ValueError, yaml.YAMLError, AttributeError) as broken:
            logger.error("ignoring %s: %s", path, broken)
    return tuple(rules)


def reload_rules() -> None:
    configured_rules.cache_clear()


def decide(tool: Tool, tool_input: dict, *, granted: tuple[Rule, ...] = ()) -> Decision:
    """The verdict for one call. `granted` are the user's "always allow" for this task: they
    settle an `ask`, never a `deny`."""
    matching = [rule for rule in configured_rules() if rule.matches(tool.name, tool_input)]
    verdict = Decision(tool.policy, f"the default policy of {tool.name}")
    for decision in ("deny", "ask", "allow"):
        chosen = next((rule for rule in matching if rule.decision == decision), None)
        if chosen:
            verdict = Decision(decision, f"rule {chosen.describe()}")
            break
    if verdict.decision == "ask":
        grant = next((rule for rule in granted if rule.matches(tool.name, tool_input)), None)
        if grant:
            return Decision("allow", f"the user's grant {grant.describe()}")
    return verdict
