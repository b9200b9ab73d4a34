"""The long-term memory a turn brings into the model's context.

Tokens are estimated as len(text) // 4 (about four characters per token for English with the
common BPE tokenizers); the estimate only has to keep the block inside its budget, not be exact.
"""

from dataclasses import dataclass

from engine.worker_cache import cached
from memory.search import search_episodes, search_knowledge
from memory.soul import current_soul

KNOWLEDGE_HITS = 10
EPISODE_HITS = 5


def estimate_tokens(text: str) -> int:
    return len(text) // 4


def _soul_lines() -> list[str]:
    soul = cached("soul", current_soul)  # a turn's copy (engine.worker_cache)
    lines = ["## Who the user is", soul.identity]
    lines += [f"Value: {value}" for value in soul.values]
    lines += [f"Pattern: {pattern}" for pattern in soul.patterns]
    return lines


def _knowledge_lines(message: str) -> list[str]:
    hits = search_knowledge(message, limit=KNOWLEDGE_HITS) if message.strip() else []
    lines = ["## What you know about this"] if hits else []
    for hit in hits:
        fact = hit.item
        lines.append(f"- {fact.subject}: {fact.content} (confidence {fact.confidence:.2f}, since {fact.valid_from:%Y-%m-%d})")
    return lines


def _episode_lines(message: str) -> list[str]:
    hits = search_episodes(message, limit=EPISODE_HITS) if message.strip() else []
    lines = ["## What happened before"] if hits else []
    for hit in hits:
        episode = hit.item
        lines.append(f"- {episode.occurred_at:%Y-%m-%d} ({episode.outcome}, task {episode.task_id}): {episode.summary}")
    return lines


@dataclass(frozen=True)
class Recalled:
    """What the searches of long-term memory found for one message, as context lines."""

    message: str
    knowledge: list[str]
    episodes: list[str]


def recall(message: str) -> Recalled:
    """The knowledge and the episodes relevant to `message`: the two searches of a turn's context."""
    return Recalled(message, _knowledge_lines(message), _episode_lines(message))


def build_memory_context(*, message: str, token_budget: int, recalled: Recalled | None = None) -> str:
    """The soul summary, then the best knowledge hits, then the best episode hits for `message`
    (`recalled`, when its searches were made for this message already), as plain text whose
    estimated size (len // 4) is at most `token_budget`. Lines are added in that order until the
    next one does not fit; a heading is only added with its first line; a soul identity longer
    than the budget is cut to fit. Returns "" when not even a heading fits."""
    budget_chars = max(token_budget, 0) * 4
    if recalled is None or recalled.message != message:
        recalled = recall(message)
    sections = [_soul_lines(), recalled.knowledge, recalled.episodes]
    out: list[str] = []
    used = 0
    for number, section in enumerate(sections):
        for index, line in enumerate(section):
            cost = len(line) + (1 if out else 0)
            if number > 0 and index == 0 and len(section) > 1:
                cost += len(section[1]) + 1
            if used + cost > budget_chars:
                room = budget_chars - used - 1
                if number == 0 and index == 1 and room > 0:
                    out.append(line[:room])
                return "\n".join(out)
            if number > 0 and index == 0 and len(section) > 1:
                cost -= len(section[1]) + 1
            out.append(line)
            used += cost
    return "\n".join(out)
