"""What the model is told besides the thread: the system prompt of a turn."""

from execution.models import Task
from execution.working_memory import read_working_memory

SYSTEM_PROMPT = (
    "You are the Engine, an agent working for one user. Use the tools when they help, "
    "and say plainly what you did."
)


def system_prompt(task: Task, *, plan: str = "") -> str:
    """The base prompt, the task's working memory and this turn's plan. Reads the database."""
    parts = [SYSTEM_PROMPT]
    working_memory = read_working_memory(task)
    if working_memory:
        parts.append(f"Your working memory for this task (edit it with the working_memory tool):\n{working_memory}")
    if plan:
        parts.append(f"Your plan for this turn: {plan}")
    return "\n\n".join(parts)
