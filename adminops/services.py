"""Operator-facing operations: feedback intake. Catalog reloads: `catalog_reload`; the Learning Centre: `learning`."""

from adminops.models import Feedback
from engine.models import ApiKey


def record_feedback(*, key: ApiKey, **fields) -> Feedback:
    """Stores one piece of feedback, remembering which key sent it."""
    return Feedback.objects.create(key_prefix=key.prefix, **fields)
