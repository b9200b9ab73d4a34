"""Skills: the platform skills of the catalog and the custom skills of the database, as one list.

Names are unique across both; platform skills are read-only through the API (edit the catalog
file and reload instead). Every update of a custom skill keeps the previous version.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from engine.db import fetch_instances
from engine.errors import ValidationFailed, register_error
from skills.catalog import PlatformSkill, current_catalog
from skills.models import Skill, SkillVersion

SkillNotFound = register_error(404, "skill_not_found", "There is no skill with that name.")
SkillExists = register_error(409, "skill_exists", "A skill with that name already exists.")
PlatformSkillReadOnly = register_error(
    403, "platform_skill_read_only", "Platform skills come from the catalog and cannot be changed through the API."
)

PLATFORM, CUSTOM = "platform", "custom"
EDITABLE_FIELDS = ("description", "category", "prompt_template", "scripts", "capabilities", "confidence")


@dataclass(frozen=True)
class SkillView:
    """A skill as the API shows it, whichever its source."""

    name: str
    description: str
    category: str
    prompt_template: str
    scripts: dict
    capabilities: list
    confidence: float
    source: str
    version: int
    history: list = field(default_factory=list)


def _from_platform(skill: PlatformSkill) -> SkillView:
    return SkillView(
        name=skill.name, description=skill.description, category=skill.category,
        prompt_template=skill.prompt_template, scripts=dict(skill.scripts), capabilities=list(skill.capabilities),
        confidence=skill.confidence, source=PLATFORM, version=skill.version,
    )


def _from_custom(skill: Skill, *, with_history: bool = False) -> SkillView:
    history = []
    if with_history:
        history = [{"version": v.version, "description": v.description, "created_at": v.created_at} for v in skill.versions.all()]
    return SkillView(
        name=skill.name, description=skill.description, category=skill.category,
        prompt_template=skill.prompt_template, scripts=dict(skill.scripts), capabilities=list(skill.capabilities),
        confidence=skill.confidence, source=CUSTOM, version=skill.version, history=history,
    )


def list_skills() -> list[SkillView]:
    """Platform and custom skills, by name."""
    platform = current_catalog().skills
    views = [_from_platform(skill) for skill in platform.values()]
    # Every turn lists the skills: one plain statement (engine.db); a platform skill wins its name.
    views += [_from_custom(skill) for skill in fetch_instances(Skill) if skill.name not in platform]
    return sorted(views, key=lambda view: view.name)


def find_skill(name: str) -> SkillView | None:
    platform = current_catalog().skills.get(name)
    if platform is not None:
        return _from_platform(platform)
    custom = Skill.objects.filter(name=name).prefetch_related("versions").first()
    return _from_custom(custom, with_history=True) if custom else None


def shadowed_custom_skills() -> list[str]:
    """Custom skills that a platform skill added later hides (the platform skill wins)."""
    return sorted(Skill.objects.filter(name__in=list(current_catalog().skills)).values_list("name", flat=True))


def get_skill(*, name: str) -> SkillView:
    """One skill, with the history of a custom one. Raises SkillNotFound."""
    skill = find_skill(name)
    if skill is None:
        raise SkillNotFound(f"There is no skill {name!r}.")
    return skill


def _require_some_instructions(prompt_template: str, scripts: dict) -> None:
    if not prompt_template.strip() and not scripts:
        raise ValidationFailed(details={"prompt": ["A skill needs a prompt when it has no scripts."]})


def create_skill(*, name: str, **fields) -> SkillView:
    """Stores a new custom skill (version 1). Raises SkillExists when a platform or custom skill
    has that name, ValidationFailed when it has neither a prompt nor scripts."""
    if name in current_catalog().skills:
        raise SkillExists(f"{name!r} is a platform skill.")
    _require_some_instructions(fields.get("prompt_template", ""), fields.get("scripts") or {})
    try:
        with transaction.atomic():
            skill = Skill.objects.create(name=name, **fields)
    except IntegrityError:
        raise SkillExists(f"There is already a skill {name!r}.") from None
    return _from_custom(skill, with_history=True)


def _custom_for_change(name: str) -> Skill:
    if name in current_catalog().skills:
        raise PlatformSkillReadOnly(f"{name!r} is a platform skill; edit its catalog file and reload the catalog.")
    skill = Skill.objects.select_for_update().filter(name=name).first()
    if skill is None:
        raise SkillNotFound(f"There is no skill {name!r}.")
    return skill


def update_skill(*, name: str, **changes) -> SkillView:
    """Changes a custom skill: the previous version is kept as a SkillVersion and the version
    goes up by one (an update that changes nothing adds no version). Locks the skill's row. Raises PlatformSkillReadOnly, SkillNotFound,
    ValidationFailed."""
    with transaction.atomic():
        skill = _custom_for_change(name)
        if all(getattr(skill, field_name) == value for field_name, value in changes.items()):
            return get_skill(name=name)  # nothing changes: no new version
        _keep_version(skill)
        for field_name, value in changes.items():
            setattr(skill, field_name, value)
        _require_some_instructions(skill.prompt_template, skill.scripts)
        skill.version += 1
        skill.updated_at = timezone.now()
        skill.save()
    return get_skill(name=name)


def save_edited_skill(*, skill: Skill) -> None:
    """Saves a custom skill edited in place (the Django admin) like an update: the stored row
    becomes a SkillVersion and the version goes up. Locks the skill's row."""
    with transaction.atomic():
        previous = Skill.objects.select_for_update().get(pk=skill.pk)
        _keep_version(previous)
        skill.version = previous.version + 1
        skill.updated_at = timezone.now()
        skill.save()


def _keep_version(skill: Skill) -> None:
    SkillVersion.objects.create(
        skill=skill, version=skill.version, created_at=skill.updated_at,
        **{name: getattr(skill, name) for name in EDITABLE_FIELDS},
    )


def delete_skill(*, name: str) -> None:
    """Deletes a custom skill and its versions. Raises PlatformSkillReadOnly, SkillNotFound."""
    with transaction.atomic():
        _custom_for_change(name).delete()
