"""The soul: the user's core profile, built from the catalog's soul template, versioned.

Versions are never edited; each change (a template reload, a revert, an import) appends one, so
any change can be seen in the history and undone by reverting to the version before it.
"""

import hashlib
from pathlib import Path

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from engine.db import fetch_instances
from engine.errors import register_error
from memory.models import SoulOrigin, SoulVersion

SoulTemplateInvalid = register_error(
    500, "soul_template_invalid", "The soul template in the catalog is missing or not valid; see the server log."
)
SoulVersionNotFound = register_error(404, "soul_version_not_found", "There is no soul version with that number.")

TEMPLATE_NAME = "soul.yaml"


def template_path() -> Path:
    return Path(settings.ENGINE_CATALOG_DIR) / TEMPLATE_NAME


def read_soul_template() -> tuple[dict, str]:
    """The template's {"identity", "values", "patterns"} and the SHA-256 of the file.
    Raises SoulTemplateInvalid when it is missing or malformed."""
    path = template_path()
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise SoulTemplateInvalid(f"The soul template {path} cannot be read: {exc.__class__.__name__}.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("identity"), str) or not data["identity"].strip():
        raise SoulTemplateInvalid(f"The soul template {path} needs a non-empty `identity` string.")
    content = {"identity": data["identity"].strip()}
    for field in ("values", "patterns"):
        items = data.get(field) or []
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise SoulTemplateInvalid(f"The soul template {path}: `{field}` must be a list of strings.")
        content[field] = [item.strip() for item in items if item.strip()]
    return content, hashlib.sha256(raw).hexdigest()


def soul_summary(soul: SoulVersion) -> dict:
    return {"identity": soul.identity, "values": list(soul.values), "patterns": list(soul.patterns)}


def soul_details(soul: SoulVersion) -> dict:
    return {
        **soul_summary(soul),
        "id": soul.id,
        "version": soul.version,
        "origin": soul.origin,
        "note": soul.note,
        "template_digest": soul.template_digest,
        "created_at": soul.created_at,
    }


def full_soul(soul: SoulVersion) -> dict:
    history = [soul_details(version) for version in SoulVersion.objects.order_by("-version")]
    return {**soul_details(soul), "template_path": str(template_path()), "history": history}


def _append_version(*, origin: str, content: dict, note: str = "", template_digest: str = "") -> SoulVersion:
    latest = SoulVersion.objects.aggregate(latest=Max("version"))["latest"] or 0
    return SoulVersion.objects.create(
        version=latest + 1, origin=origin, note=note, template_digest=template_digest, **content
    )


def current_soul() -> SoulVersion:
    """The latest soul version; on the very first read, version 1 is built from the template."""
    latest = fetch_instances(SoulVersion, None, tail="ORDER BY version DESC LIMIT 1")  # every turn reads it
    if latest:
        return latest[0]
    content, digest = read_soul_template()
    try:
        with transaction.atomic():
            return _append_version(origin=SoulOrigin.TEMPLATE, content=content, note="first read", template_digest=digest)
    except IntegrityError:
        # Another request built version 1 at the same moment; theirs is as good as ours.
        return SoulVersion.objects.order_by("-version").first()


def reload_soul_template() -> dict:
    """Makes the catalog's template the next soul version and returns the full soul. When the
    current version already has the template's content, nothing is added. Raises SoulTemplateInvalid."""
    content, digest = read_soul_template()
    with transaction.atomic():
        soul = SoulVersion.objects.select_for_update().order_by("-version").first()
        if soul is None or soul_summary(soul) != content:
            soul = _append_version(origin=SoulOrigin.TEMPLATE, content=content, note="template reloaded", template_digest=digest)
        return full_soul(soul)


def revert_soul(version: int) -> dict:
    """Appends a new version with the content of `version` (so the revert itself can be undone)
    and returns the full soul. Raises SoulVersionNotFound."""
    with transaction.atomic():
        target = SoulVersion.objects.filter(version=version).first()
        if target is None:
            raise SoulVersionNotFound(f"There is no soul version {version}.")
        SoulVersion.objects.select_for_update().order_by("-version").first()
        soul = _append_version(
            origin=SoulOrigin.REVERT, content=soul_summary(target), note=f"reverted to version {version}",
            template_digest=target.template_digest,
        )
        return full_soul(soul)


def learn_into_soul(*, values: list[str], patterns: list[str], note: str) -> SoulVersion | None:
    """Appends a version with `values` and `patterns` added to the current ones (what is already
    there is skipped); returns it, or None when nothing is new. Joins the caller's transaction."""
    with transaction.atomic():
        current = current_soul()
        SoulVersion.objects.select_for_update().filter(id=current.id).first()
        content = soul_summary(current)
        new_values = [v.strip() for v in values if v.strip() and v.strip() not in content["values"]]
        new_patterns = [p.strip() for p in patterns if p.strip() and p.strip() not in content["patterns"]]
        if not new_values and not new_patterns:
            return None
        content["values"] += list(dict.fromkeys(new_values))
        content["patterns"] += list(dict.fromkeys(new_patterns))
        return _append_version(origin=SoulOrigin.LEARNED, content=content, note=note[:200], template_digest=current.template_digest)
