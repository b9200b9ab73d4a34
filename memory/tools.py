"""Memory tools for the agent: remember a fact, recall what is known, forget a fact, remember a
person. Registered in the tool registry when the memory app is ready."""

from execution.tools import Tool, ToolContext, register
from memory import services
from memory.search import search_episodes, search_knowledge

_OBJECT = {"type": "object", "additionalProperties": False}


def remember(tool_input: dict, context: ToolContext) -> dict:
    item, outcome = services.remember_fact(
        subject=tool_input["subject"], content=tool_input["content"], kind=tool_input.get("kind", "fact"),
        confidence=tool_input.get("confidence", 0.8), source=f"task:{context.task_id}",
        provenance={"task_id": context.task_id, "run_id": context.run_id},
    )
    return {"id": item.id, "outcome": outcome}


def recall(tool_input: dict, context: ToolContext) -> dict:
    limit = tool_input.get("limit", 5)
    facts = search_knowledge(tool_input["query"], limit=limit)
    episodes = search_episodes(tool_input["query"], limit=limit)
    return {
        "facts": [{"id": h.item.id, "subject": h.item.subject, "content": h.item.content, "confidence": h.item.confidence}
                  for h in facts],
        "episodes": [{"task_id": h.item.task_id, "summary": h.item.summary, "outcome": h.item.outcome} for h in episodes],
    }


def forget(tool_input: dict, context: ToolContext) -> dict:
    item = services.forget_fact(fact_id=tool_input["fact_id"])
    return {"id": item.id, "valid_until": item.valid_until.isoformat()}


def remember_person(tool_input: dict, context: ToolContext) -> dict:
    person, created = services.resolve_person(name=tool_input["name"], aliases=tool_input.get("aliases", []))
    if tool_input.get("relationship"):
        services.relate(source=None, target=person, kind=tool_input["relationship"], note=tool_input.get("note", ""))
    return {"id": person.id, "created": created}


register(Tool(
    "remember", "Remember a fact or preference about the user or the world (a new value for the same subject "
    "replaces the old one, which is kept as history).",
    {**_OBJECT, "properties": {
        "subject": {"type": "string", "minLength": 1}, "content": {"type": "string", "minLength": 1},
        "kind": {"enum": ["fact", "preference", "rule"]}, "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    }, "required": ["subject", "content"]},
    remember,
))
register(Tool(
    "recall", "Search long-term memory: facts and past episodes relevant to a query.",
    {**_OBJECT, "properties": {"query": {"type": "string", "minLength": 1}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
     "required": ["query"]},
    recall,
))
register(Tool(
    "forget", "Mark a remembered fact as no longer true (by its id, from recall).",
    {**_OBJECT, "properties": {"fact_id": {"type": "string", "minLength": 1}}, "required": ["fact_id"]},
    forget,
))
register(Tool(
    "remember_person", "Remember a person (found again by name or alias) and, optionally, their relationship to the user.",
    {**_OBJECT, "properties": {
        "name": {"type": "string", "minLength": 1}, "aliases": {"type": "array", "items": {"type": "string"}},
        "relationship": {"type": "string"}, "note": {"type": "string"},
    }, "required": ["name"]},
    remember_person,
))
