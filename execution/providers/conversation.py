"""The canonical conversation (see execution/llm.py), made safe to send to a provider.

A thread can hold what providers refuse: two messages of one role in a row (a message queued
after a cancelled turn), a tool call without its result (a turn cancelled between the call and
its result), a result whose call is gone, blank text, thinking another model wrote.
`prepare_messages` returns canonical messages without any of that, so that each provider module
only translates block shapes. It never changes the messages it is given.
"""

import base64
import binascii
import json

INTERRUPTED_CALL = "This call did not run: the turn was interrupted before its result."


def prepare_messages(messages: list[dict], *, keep_thinking: bool, keep_tool_blocks: bool) -> list[dict]:
    """Canonical messages that alternate roles, with every tool call answered by the next message.

    `keep_thinking`: keep thinking blocks that carry a provider signature (others always go).
    `keep_tool_blocks`: False turns calls and results into text, for requests that offer no tools
    (providers refuse tool blocks without tool definitions).
    """
    kept = []
    for message in messages:
        blocks = [_kept_block(block, keep_thinking) for block in message["content"]]
        if any(blocks):
            kept.append({"role": message["role"], "content": [block for block in blocks if block]})
    paired = _merged(_paired_tool_calls(_merged(kept)))
    if not keep_tool_blocks:
        paired = [{"role": m["role"], "content": [_as_text(block) for block in m["content"]]} for m in paired]
    return paired


def text_of_file(block: dict) -> str | None:
    """The decoded text of a text-like `file` block (plain text, Markdown, CSV, JSON); None for a PDF."""
    if block.get("media_type") == "application/pdf":
        return None
    try:
        return base64.b64decode(block["data"]).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def tool_result_text(block: dict) -> str:
    content = block.get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def _kept_block(block: dict, keep_thinking: bool) -> dict | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block["text"]} if block.get("text", "").strip() else None
    if kind == "thinking":
        if keep_thinking and block.get("signature") and block.get("thinking"):
            return {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}
        return None
    if kind in ("image", "file", "tool_use", "tool_result"):
        return {key: value for key, value in block.items() if key != "closed"}
    return None


def _merged(messages: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {"role": message["role"], "content": merged[-1]["content"] + message["content"]}
        else:
            merged.append(message)
    return merged


def _paired_tool_calls(messages: list[dict]) -> list[dict]:
    """Each assistant's calls answered, in call order and first, by the user message after it:
    missing results are closed as interrupted, results matching no call are dropped."""
    paired: list[dict] = []
    calls: list[str] = []
    for message in messages:
        if message["role"] == "assistant":
            if calls:
                paired.append({"role": "user", "content": [_interrupted(call) for call in calls]})
            calls = [block["id"] for block in message["content"] if block["type"] == "tool_use"]
            paired.append(message)
            continue
        results = {
            block["tool_use_id"]: block
            for block in message["content"]
            if block["type"] == "tool_result" and block.get("tool_use_id") in calls
        }
        others = [block for block in message["content"] if block["type"] != "tool_result"]
        content = [results.get(call) or _interrupted(call) for call in calls] + others
        calls = []
        if content:
            paired.append({"role": "user", "content": content})
    if calls:
        paired.append({"role": "user", "content": [_interrupted(call) for call in calls]})
    return paired


def _interrupted(call_id: str) -> dict:
    return {"type": "tool_result", "tool_use_id": call_id, "content": INTERRUPTED_CALL, "is_error": True}


def _as_text(block: dict) -> dict:
    if block["type"] == "tool_use":
        return {"type": "text", "text": f"[I called the tool {block['name']} with {json.dumps(block['input'])}]"}
    if block["type"] == "tool_result":
        outcome = "failed" if block.get("is_error") else "returned"
        return {"type": "text", "text": f"[The tool {outcome}: {tool_result_text(block)}]"}
    return block
