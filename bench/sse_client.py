"""A small SSE client for the benchmarks (gevent-friendly: use it in a patched process)."""

import http.client
import json
import time


def post_execute(port: int, key: str, body: dict, *, on_event=None, timeout: float = 60) -> list[tuple[float, str, dict]]:
    """POSTs /execute and returns [(arrival perf_counter, event type, data)] until the stream ends."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/execute", body=json.dumps(body), headers={"X-Engine-Key": key, "Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"/execute answered {response.status}: {response.read()[:300]!r}")
    events = []
    buffer = b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        arrived = time.perf_counter()
        buffer += chunk
        while b"\n\n" in buffer:
            message, buffer = buffer.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in message.decode().split("\n") if ": " in line)
            if "event" in fields:
                event = (arrived, fields["event"], json.loads(fields["data"]))
                events.append(event)
                if on_event:
                    on_event(event)
    conn.close()
    return events
