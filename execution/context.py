"""What the model is told besides the thread: the system prompt of a turn."""

import logging

import gevent
from django.conf import settings
from django.db import DatabaseError, connection
from gevent import monkey

from engine.errors import EngineError
from memory.context import Recalled, build_memory_context, recall
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


class MemorySearch:
    """The long-term memory searches for a turn's message, started before the turn: on
    PostgreSQL they wait on the database while the request is still writing the turn, in a
    greenlet and with a connection of their own, instead of after it."""

    def __init__(self, message: str):
        self.message = message
        # Only where gevent patched threading (the workers) has each greenlet a connection of
        # its own; elsewhere (tests, commands) the searches wait for `result()`.
        self._greenlet = gevent.spawn(self._search) if monkey.is_module_patched("threading") else None

    def _search(self):
        try:
            return recall(self.message)
        finally:
            connection.close()  # this greenlet's connection goes back to the pool

    def result(self) -> Recalled:
        """What the searches found; raises what they raised."""
        return self._greenlet.get() if self._greenlet is not None else recall(self.message)


def remembered_for(message: str, *, searched: MemorySearch | None = None) -> str:
    """The soul, and the facts and episodes relevant to the user's message, within
    ENGINE_MEMORY_CONTEXT_TOKENS. Looked up once per turn; `searched` holds the searches started
    ahead (used only when they were for this very message)."""
    recalled = None
    if searched is not None and searched.message == message:
        try:
            recalled = searched.result()
        except DatabaseError:  # e.g. no pooled connection in time: the turn searches itself
            logger.warning("the memory searches made ahead failed; searching again", exc_info=True)
    try:
        return build_memory_context(message=message, token_budget=settings.ENGINE_MEMORY_CONTEXT_TOKENS, recalled=recalled)
    except EngineError:  # a broken soul template must not stop the turn
        logger.exception("long-term memory left out of the context")
        return ""
