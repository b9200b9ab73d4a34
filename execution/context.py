"""What the model is told besides the thread: the system prompt of a turn."""

import logging

from django.conf import settings

from engine.errors import EngineError
from skills.tools import skills_prompt

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the Engine, an agent working for one user. Use the tools when they help, "
    "and say plainly what you did."
)


def system_prompt(*, skills: str | None = None, working_memory: str = "", remembered: str = "", plan: str = "") -> str:
    """The base prompt, the skills the agent can load (`skills_prompt()` unless given), what
    long-term memory brought (see `remembered_for`), the task's working memory and this turn's plan."""
    parts = [SYSTEM_PROMPT]
    if skills is None:
        skills = skills_prompt()
    if skills:
        parts.append(skills)
    if remembered:
        parts.append(f"What you remember (long-term memory):\n{remembered}")
    if working_memory:
        parts.append(f"Your working memory for this task (edit it with the working_memory tool):\n{working_memory}")
    if plan:
        parts.append(f"Your plan for this turn: {plan}")
    return "\n\n".join(parts)


def remembered_for(message: str) -> str:
    """The soul, and the facts and episodes relevant to the user's message, within
    ENGINE_MEMORY_CONTEXT_TOKENS. Looked up once per turn."""
    from memory.context import build_memory_context

    try:
        return build_memory_context(message=message, token_budget=settings.ENGINE_MEMORY_CONTEXT_TOKENS)
    except EngineError:  # a broken soul template must not stop the turn
        logger.exception("long-term memory left out of the context")
        return ""
