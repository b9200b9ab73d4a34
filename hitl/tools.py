"""The `ask_user` tool: the model asks the user a question and the turn waits for the answer.
The turn intercepts its calls (they become HITL requests); it never runs on its own."""

from execution.tools import Tool, ToolContext, ToolError, register

ASK_USER = "ask_user"


def _only_inside_a_turn(tool_input: dict, context: ToolContext) -> dict:
    raise ToolError("ask_user only works inside a turn, where the user can answer.")


register(Tool(
    ASK_USER,
    "Ask the user a question and wait for the answer (offer options when the choice is closed).",
    {
        "type": "object", "additionalProperties": False,
        "properties": {
            "question": {"type": "string", "minLength": 1},
            "options": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            "expires_in_seconds": {"type": "integer", "minimum": 1},
        },
        "required": ["question"],
    },
    _only_inside_a_turn,
))
