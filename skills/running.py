"""Running a skill without the agent loop (`skill.<name>` on /rpc): one model call, no tools,
the skill's prompt template as the system prompt and the caller's input as the user message."""

from engine.errors import register_error
from execution.llm import ModelError, ModelRequest, TextDelta, get_model
from skills.services import get_skill

SkillFailed = register_error(502, "skill_failed", "The model failed while running the skill.")


def run_skill(*, name: str, text: str) -> dict:
    """Returns {"output": the model's text}. Raises SkillNotFound, SkillFailed (the model's error)."""
    skill = get_skill(name=name)
    request = ModelRequest(
        system=skill.prompt_template,
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        purpose="skill",
    )
    try:
        output = "".join(event.text for event in get_model().stream(request) if isinstance(event, TextDelta))
    except ModelError as failed:
        raise SkillFailed(f"The model failed while running {name}: {failed.message}", model_error=failed.code) from None
    return {"output": output}
