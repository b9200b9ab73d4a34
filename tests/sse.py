"""Reading Server-Sent Events from the real server in tests."""

import json
from dataclasses import dataclass

import requests


@dataclass
class SSE:
    id: int | None
    event: str
    data: dict


def parse_sse(lines) -> "Iterator[SSE]":
    fields: dict[str, str] = {}
    for raw in lines:
        line = raw.decode() if isinstance(raw, bytes) else raw
        if line == "":
            if "event" in fields:
                yield SSE(int(fields["id"]) if "id" in fields else None, fields["event"], json.loads(fields.get("data", "{}")))
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def open_stream(method: str, url: str, key: str, **kwargs) -> requests.Response:
    response = requests.request(method, url, headers={"X-Engine-Key": key, **kwargs.pop("headers", {})}, stream=True,
                                timeout=kwargs.pop("timeout", 30), **kwargs)
    return response


def execute(server, key: str, body: dict, *, stop_after: int | None = None) -> list[SSE]:
    """POSTs /execute and reads the whole stream (or its first `stop_after` events, then hangs up)."""
    response = open_stream("POST", f"{server.url}/execute", key, json=body)
    assert response.status_code == 200, response.text
    events = []
    try:
        for event in parse_sse(response.iter_lines(chunk_size=None)):
            events.append(event)
            if stop_after is not None and len(events) >= stop_after:
                break
    finally:
        response.close()
    return events


def replay(server, key: str, *, params: dict | None = None, last_event_id: int | None = None) -> list[SSE]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    response = open_stream("GET", f"{server.url}/execute/replay", key, params=params or {}, headers=headers)
    assert response.status_code == 200, response.text
    try:
        return list(parse_sse(response.iter_lines(chunk_size=None)))
    finally:
        response.close()


def without_heartbeats(events: list[SSE]) -> list[SSE]:
    return [event for event in events if event.event != "heartbeat"]
