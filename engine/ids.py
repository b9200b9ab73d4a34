"""Public ids: a short kind prefix and a random part, for example `run-3f2a...`."""

import uuid


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"
