"""A terminal client for people: streams turns through the public HTTP API."""

import json
import sys

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.env import server_settings


class Command(BaseCommand):
    help = "Chat with the Engine in the terminal: each line you type is one turn on --task."

    def add_arguments(self, parser):
        server = server_settings()
        parser.add_argument("--task", required=True, help="the task_id (reuse it to continue a thread)")
        parser.add_argument("--url", default=f"http://{server['host']}:{server['port']}", help="the Engine's base URL")
        parser.add_argument("--key", default=settings.ENGINE_CHAT_KEY, help="API key (default: ENGINE_CHAT_KEY)")
        parser.add_argument("--message", help="send this one message and exit, instead of reading stdin")
        parser.add_argument("--plan", action="store_true", help="let the Engine plan first (direct: false)")

    def handle(self, *args, task, url, key, message, plan, **options):
        if not key:
            raise CommandError("Give --key or set ENGINE_CHAT_KEY.")
        lines = [message] if message is not None else self._typed_lines()
        for line in lines:
            if line.strip() in ("/quit", "/exit"):
                break
            if line.strip():
                self._turn(url.rstrip("/"), key, task, line, direct=not plan)

    def _typed_lines(self):
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                self.stdout.write("you> ", ending="")
                self.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                return
            yield line.rstrip("\n")

    def _turn(self, url: str, key: str, task: str, text: str, *, direct: bool) -> None:
        try:
            response = requests.post(
                f"{url}/execute", json={"message": text, "task_id": task, "direct": direct},
                headers={"X-Engine-Key": key, "Accept": "text/event-stream"}, stream=True, timeout=(10, 600),
            )
        except requests.ConnectionError as error:
            raise CommandError(f"Cannot reach the Engine at {url}: {error}") from None
        if response.status_code != 200:
            body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
            raise CommandError(f"{response.status_code} {body.get('error', '')}: {body.get('message', response.text[:200])}")
        event_type = None
        for raw in response.iter_lines(chunk_size=None, decode_unicode=True):
            if raw.startswith("event: "):
                event_type = raw[len("event: "):]
            elif raw.startswith("data: ") and event_type:
                self._show(event_type, json.loads(raw[len("data: "):]))
        self.stdout.write("")

    def _show(self, event: str, data: dict) -> None:
        write = self.stdout.write
        if event == "text_delta":
            write(data["text"], ending="")
        elif event == "thinking_delta":
            write(self.style.HTTP_NOT_MODIFIED(data["text"]), ending="")
        elif event == "tool_call":
            write(self.style.WARNING(f"\n[tool {data['tool']} {json.dumps(data['input'])}]"))
        elif event == "tool_result":
            shown = data.get("error") or json.dumps(data.get("output"))
            write(self.style.WARNING(f"[{'error' if data.get('error') else 'result'}: {shown[:500]}]"))
        elif event == "error":
            write(self.style.ERROR(f"\n[{data['error']}: {data['message']}]"))
        elif event == "thread_lifecycle" and data["phase"] == "cancelled":
            write(self.style.ERROR("\n[cancelled]"))
        self.stdout.flush()
