"""The `load_skill` tool: the agent reads a skill's instructions when it decides to use one
(the system prompt lists the skills; see `skills_prompt`)."""

from engine.worker_cache import cached
from execution.tools import Tool, ToolContext, register
from skills.services import get_skill, list_skills


def load_skill(tool_input: dict, context: ToolContext) -> dict:
    skill = get_skill(name=tool_input["name"])
    return {"name": skill.name, "prompt_template": skill.prompt_template, "scripts": sorted(skill.scripts)}


def skills_prompt() -> str:
    """One line per skill for the system prompt; empty when there are none. In a turn, this
    worker's copy (engine.worker_cache)."""
    return cached("skills", _listed_skills)


def _listed_skills() -> str:
    lines = [f"- {skill.name} — {skill.description}" for skill in list_skills()]
    if not lines:
        return ""
    return "Skills you can load (call load_skill with the name to read its instructions):\n" + "\n".join(lines)


register(Tool(
    "load_skill", "Read a skill's instructions (its prompt template) by name, to follow them in this turn.",
    {"type": "object", "additionalProperties": False, "properties": {"name": {"type": "string", "minLength": 1}},
     "required": ["name"]},
    load_skill,
))
