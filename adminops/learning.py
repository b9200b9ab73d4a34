"""The Learning Centre: a batch reads recent activity (episodes, feedback, the user's messages),
asks the model (purpose "learn") to distil it into a changeset, checks the changeset strictly
and, unless it is a dry run, applies it to memory in one transaction.

Only one batch is queued or running at a time, across all workers: `LearningBatch.active` is
unique (see the model). A batch runs in its own greenlet; `run_batch` is also what `lc_run` calls.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import gevent
import jsonschema
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from adminops.models import BatchStatus, Feedback, LearningBatch
from engine.errors import register_error
from execution.llm import ModelError, ModelRequest, TextDelta, get_model
from execution.models import Message, MessageRole
from memory import services as memory
from memory.models import Episode
from memory.soul import learn_into_soul

logger = logging.getLogger(__name__)

LcBatchRunning = register_error(409, "lc_batch_running", "A Learning Centre batch is already queued or running.")
LcBatchNotFound = register_error(404, "lc_batch_not_found", "There is no Learning Centre batch with that id.")

_PROVENANCE = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"episode_id": {"type": "string"}, "feedback_id": {"type": "string"}, "message_id": {"type": "string"}},
}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
CHANGESET_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["facts", "people", "soul"],
    "properties": {
        "facts": {"type": "array", "maxItems": 200, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["subject", "content", "kind", "confidence", "provenance"],
            "properties": {
                "subject": {"type": "string", "minLength": 1, "maxLength": 200}, "content": _TEXT,
                "kind": {"enum": ["fact", "preference", "rule"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "provenance": _PROVENANCE,
            },
        }},
        "people": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "provenance"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "aliases": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}},
                "relationship": {"type": "string", "maxLength": 100}, "note": {"type": "string", "maxLength": 2000},
                "provenance": _PROVENANCE,
            },
        }},
        "soul": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "additionalProperties": False, "required": ["field", "add", "provenance"],
            "properties": {"field": {"enum": ["values", "patterns"]}, "add": _TEXT, "provenance": _PROVENANCE},
        }},
    },
}
LEARN_PROMPT = (
    "You are the Engine's Learning Centre. You read what happened recently (episodes, the user's "
    "feedback and messages, as JSON) and distil what is worth remembering about the user and their "
    "world. Answer with one JSON object and nothing else:\n"
    '{"facts": [{"subject", "content", "kind": "fact"|"preference"|"rule", "confidence": 0..1, "provenance"}],\n'
    ' "people": [{"name", "aliases"?: [...], "relationship"?: "sister"|"dentist"|..., "note"?, "provenance"}],\n'
    ' "soul": [{"field": "values"|"patterns", "add": "...", "provenance"}]}\n'
    'Each "provenance" names where it came from: {"episode_id"} or {"feedback_id"} or {"message_id"}, ids '
    "from the input. A fact's subject names the attribute (\"coffee order\"), so a new value supersedes "
    "the old one. Corrections from the user outrank what the Engine concluded. Leave lists empty when "
    "nothing is worth learning."
)


class LearningFailed(Exception):
    """The batch cannot go on; the message is stored as the batch's error."""


@dataclass
class Material:
    episodes: list[dict]
    feedback: list[dict]
    messages: list[dict]

    def as_dict(self) -> dict:
        return {"episodes": self.episodes, "feedback": self.feedback, "messages": self.messages}

    def counts(self) -> dict:
        return {name: len(items) for name, items in self.as_dict().items()}

    def ids(self) -> dict[str, set[str]]:
        return {
            "episode_id": {item["id"] for item in self.episodes},
            "feedback_id": {item["id"] for item in self.feedback},
            "message_id": {item["id"] for item in self.messages},
        }


# --- Triggering ------------------------------------------------------------------------------


def _fail_abandoned() -> None:
    cutoff = timezone.now() - timedelta(seconds=settings.ENGINE_LC_MAX_SECONDS)
    LearningBatch.objects.filter(active=True, created_at__lt=cutoff).update(
        status=BatchStatus.FAILED, active=None, error="abandoned: its worker stopped before it finished",
        finished_at=timezone.now(),
    )


def queue_batch(*, dry_run: bool, since: datetime | None) -> LearningBatch:
    """Inserts a queued batch. The unique `active` column admits one queued-or-running batch
    across all workers; raises LcBatchRunning naming the batch that holds it. A batch older than
    ENGINE_LC_MAX_SECONDS that never finished is failed first as abandoned."""
    _fail_abandoned()
    try:
        with transaction.atomic():
            return LearningBatch.objects.create(dry_run=dry_run, since=since)
    except IntegrityError:
        holder = LearningBatch.objects.filter(active=True).first()
        holder_id = holder.id if holder else "unknown"
        raise LcBatchRunning(f"Batch {holder_id} is already {holder.status if holder else 'active'}; wait for it to finish.",
                             batch_id=holder_id) from None


# The one registry of this concern: batches running in this worker's greenlets.
_local_batches: dict[str, gevent.Greenlet] = {}


def start_batch(*, dry_run: bool, since: datetime | None) -> LearningBatch:
    """Queues a batch and runs it in a greenlet of this worker. Raises LcBatchRunning."""
    batch = queue_batch(dry_run=dry_run, since=since)
    transaction.on_commit(lambda: _spawn(batch.id))
    return batch


def _spawn(batch_id: str) -> None:
    greenlet = gevent.spawn(_run_in_greenlet, batch_id)
    _local_batches[batch_id] = greenlet
    greenlet.link(lambda _: _local_batches.pop(batch_id, None))


def _run_in_greenlet(batch_id: str) -> None:
    try:
        run_batch(batch_id)
    finally:
        # A greenlet's connection is its own; give it back. (Inside a test's transaction it is the test's.)
        if not connection.in_atomic_block:
            connection.close()


def wait_for_local_batches(timeout: float | None = None) -> None:
    """Joins the batches running in this process (tests, shutdown)."""
    gevent.joinall(list(_local_batches.values()), timeout=timeout)


def drain(timeout: float) -> None:
    """At worker shutdown: lets this worker's batches finish for `timeout` seconds, then stops the
    rest (their transaction rolls back) and fails them, so the next trigger need not wait for
    ENGINE_LC_MAX_SECONDS."""
    wait_for_local_batches(timeout=timeout)
    unfinished = {batch_id: greenlet for batch_id, greenlet in _local_batches.items() if not greenlet.dead}
    gevent.killall(list(unfinished.values()), timeout=5)
    if unfinished:
        LearningBatch.objects.filter(id__in=list(unfinished), active=True).update(
            status=BatchStatus.FAILED, active=None, error="stopped: its worker shut down", finished_at=timezone.now()
        )


def get_batch(*, batch_id: str) -> LearningBatch:
    batch = LearningBatch.objects.filter(id=batch_id).first()
    if batch is None:
        raise LcBatchNotFound(f"There is no Learning Centre batch {batch_id}.")
    return batch


# --- Running ---------------------------------------------------------------------------------


def _since_for(batch: LearningBatch) -> datetime | None:
    if batch.since is not None:
        return batch.since
    last = (LearningBatch.objects.filter(status=BatchStatus.COMPLETED, dry_run=False)
            .exclude(id=batch.id).order_by("-started_at").first())
    return last.until if last else None


def _text_of(content: list) -> str:
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict) and block.get("type") == "text").strip()


def gather_material(*, since: datetime | None, until: datetime) -> Material:
    """The newest ENGINE_LC_MAX_ITEMS episodes, feedback items and user messages in [since, until)."""
    limit = settings.ENGINE_LC_MAX_ITEMS

    def window(queryset, field: str):
        queryset = queryset.filter(**{f"{field}__lt": until})
        if since is not None:
            queryset = queryset.filter(**{f"{field}__gte": since})
        return list(queryset.order_by(f"-{field}")[:limit])[::-1]

    episodes = [
        {"id": e.id, "task_id": e.task_id, "summary": e.summary, "outcome": e.outcome, "occurred_at": e.occurred_at.isoformat()}
        for e in window(Episode.objects.all(), "occurred_at")
    ]
    feedback = [
        {"id": f.id, "kind": f.kind, "rating": f.rating, "text": f.text, "task_id": f.task_id, "created_at": f.created_at.isoformat()}
        for f in window(Feedback.objects.all(), "created_at")
    ]
    messages = [
        {"id": m.id, "task_id": m.task.task_id, "text": _text_of(m.content), "created_at": m.created_at.isoformat()}
        for m in window(Message.objects.filter(role=MessageRole.USER, superseded=False).select_related("task"), "created_at")
    ]
    return Material(episodes=episodes, feedback=feedback, messages=[m for m in messages if m["text"]])


def ask_model(material: Material) -> dict:
    """One model call with purpose "learn"; returns the validated changeset. Raises LearningFailed."""
    request = ModelRequest(
        system=LEARN_PROMPT,
        messages=[{"role": "user", "content": [{"type": "text", "text": json.dumps(material.as_dict())}]}],
        purpose="learn",
    )
    try:
        answer = "".join(event.text for event in get_model().stream(request) if isinstance(event, TextDelta))
    except ModelError as failed:
        raise LearningFailed(f"the model failed: {failed.code}: {failed.message}") from None
    return validate_changeset(answer, material)


def validate_changeset(answer: str, material: Material) -> dict:
    """Parses and checks the model's answer: the schema, and provenance naming input ids only."""
    text = answer.strip()
    if text.startswith("```"):  # models like to fence JSON
        text = text.strip("`").removeprefix("json").strip()
    try:
        changeset = json.loads(text)
    except json.JSONDecodeError as invalid:
        raise LearningFailed(f"the model's answer is not JSON ({invalid.msg}): {answer[:200]!r}") from None
    try:
        jsonschema.validate(changeset, CHANGESET_SCHEMA)
    except jsonschema.ValidationError as invalid:
        where = "/".join(str(part) for part in invalid.absolute_path) or "the answer"
        raise LearningFailed(f"the model's changeset is not valid at {where}: {invalid.message}") from None
    known = material.ids()
    for section in ("facts", "people", "soul"):
        for index, change in enumerate(changeset[section]):
            for key, value in change["provenance"].items():
                if value not in known[key]:
                    raise LearningFailed(f"{section}/{index}: provenance {key} {value!r} is not in this batch's input")
    return changeset


def apply_changeset(changeset: dict, *, batch_id: str) -> dict:
    """Writes the changeset through the memory services in one transaction; returns the counts."""
    applied = {"facts": {memory.ADDED: 0, memory.MERGED: 0, memory.SUPERSEDED: 0}, "people": {"added": 0, "found": 0},
               "relationships": 0, "soul_version": None}
    with transaction.atomic():
        for fact in changeset["facts"]:
            _, outcome = memory.remember_fact(
                subject=fact["subject"], content=fact["content"], kind=fact["kind"], confidence=fact["confidence"],
                source=f"lc:{batch_id}", provenance={**fact["provenance"], "batch_id": batch_id},
            )
            applied["facts"][outcome] += 1
        for change in changeset["people"]:
            person, created = memory.resolve_person(name=change["name"], aliases=change.get("aliases", []))
            applied["people"]["added" if created else "found"] += 1
            if change.get("relationship", "").strip():
                memory.relate(source=None, target=person, kind=change["relationship"], note=change.get("note", ""))
                applied["relationships"] += 1
        soul = learn_into_soul(
            values=[c["add"] for c in changeset["soul"] if c["field"] == "values"],
            patterns=[c["add"] for c in changeset["soul"] if c["field"] == "patterns"],
            note=f"learned in {batch_id}",
        )
        applied["soul_version"] = soul.version if soul else None
    return applied


def _finish(batch: LearningBatch, *, status: str, **fields) -> None:
    for name, value in fields.items():
        setattr(batch, name, value)
    batch.status, batch.active, batch.finished_at = status, None, timezone.now()
    batch.save(update_fields=["status", "active", "finished_at", *fields])


def run_batch(batch_id: str) -> LearningBatch:
    """Claims a queued batch (a conditional UPDATE; a batch already claimed is left alone), runs
    it and records the outcome. A failure leaves memory untouched: changes are applied in one
    transaction, after the changeset was checked."""
    now = timezone.now()
    claimed = LearningBatch.objects.filter(id=batch_id, status=BatchStatus.QUEUED).update(
        status=BatchStatus.RUNNING, started_at=now, until=now
    )
    batch = LearningBatch.objects.get(id=batch_id)
    if not claimed:
        return batch
    try:
        material = gather_material(since=_since_for(batch), until=batch.until)
        batch.inputs = material.counts()
        if not any(batch.inputs.values()):
            changeset = {"facts": [], "people": [], "soul": []}
        else:
            changeset = ask_model(material)
        applied = {} if batch.dry_run else apply_changeset(changeset, batch_id=batch.id)
    except LearningFailed as failed:
        logger.warning("Learning Centre batch %s failed: %s", batch.id, failed)
        _finish(batch, status=BatchStatus.FAILED, inputs=batch.inputs, error=str(failed))
        return batch
    except Exception as unexpected:  # recorded on the batch, so it never stays "running"
        logger.exception("Learning Centre batch %s failed unexpectedly", batch.id)
        _finish(batch, status=BatchStatus.FAILED, inputs=batch.inputs, error=f"internal error: {type(unexpected).__name__}: {unexpected}")
        return batch
    _finish(batch, status=BatchStatus.COMPLETED, inputs=batch.inputs, changeset=changeset, applied=applied)
    return batch


