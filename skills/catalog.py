"""The catalog's skills and agents: `<ENGINE_CATALOG_DIR>/skills/*.md` and `agents/*.yaml`.

A skill file is Markdown with a YAML front-matter header (name, description, category,
capabilities, confidence, optional version and scripts); its body is the prompt template.
Scripts are the files in `skills/<name>/`, plus any listed under `scripts:` in the header
(paths relative to `skills/`). An agent file is YAML: name, description, system_prompt, tools.
Both formats are documented in catalog/README.md. A broken file is reported with its path and
reason; the others still load.

Each worker keeps the loaded catalog in memory (`current_catalog()`), loaded on first use. A
reload bumps a generation number in the database; a worker whose copy is older reloads its
files before answering, so every worker serves the new catalog, on SQLite as on PostgreSQL.
"""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from engine.db import fetch_instances
from skills.models import SKILL_NAME_PATTERN, CatalogGeneration

logger = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n?(.*)\Z", re.DOTALL)
SKILL_FIELDS = {"name", "description", "category", "capabilities", "confidence", "version", "scripts"}
AGENT_FIELDS = {"name", "description", "system_prompt", "tools"}
MAX_SCRIPT_BYTES = 256 * 1024


@dataclass(frozen=True)
class PlatformSkill:
    name: str
    description: str
    category: str
    capabilities: tuple[str, ...]
    confidence: float
    prompt_template: str
    scripts: dict[str, str]
    version: int
    path: str


@dataclass(frozen=True)
class AgentDefinition:
    name: str
    description: str
    system_prompt: str
    tools: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class CatalogFailure:
    path: str
    reason: str


@dataclass
class Catalog:
    skills: dict[str, PlatformSkill] = field(default_factory=dict)
    agents: dict[str, AgentDefinition] = field(default_factory=dict)
    failed: list[CatalogFailure] = field(default_factory=list)
    generation: int = 0


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise ValueError(reason)


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and re.fullmatch(SKILL_NAME_PATTERN, name) is not None


def _string_list(value: object, field_name: str) -> tuple[str, ...]:
    _require(isinstance(value, list) and all(isinstance(item, str) for item in value), f"`{field_name}` must be a list of strings")
    return tuple(value)


def _read_scripts(skills_dir: Path, name: str, listed: tuple[str, ...]) -> dict[str, str]:
    paths = sorted(p for p in (skills_dir / name).glob("*") if p.is_file()) if (skills_dir / name).is_dir() else []
    for relative in listed:
        path = (skills_dir / relative).resolve()
        _require(path.is_relative_to(skills_dir.resolve()), f"script {relative!r} is outside the skills directory")
        _require(path.is_file(), f"script {relative!r} does not exist")
        paths.append(path)
    scripts = {}
    for path in paths:
        _require(path.stat().st_size <= MAX_SCRIPT_BYTES, f"script {path.name!r} is larger than {MAX_SCRIPT_BYTES} bytes")
        scripts[path.name] = path.read_text()
    return scripts


def parse_skill_file(path: Path) -> PlatformSkill:
    """One skill file. Raises ValueError (or OSError, yaml.YAMLError) with the reason."""
    match = _FRONT_MATTER.match(path.read_text())
    _require(match is not None, "the file must start with a YAML front-matter header between --- lines")
    header = yaml.safe_load(match.group(1))
    _require(isinstance(header, dict), "the front-matter header must be a mapping")
    unknown = set(header) - SKILL_FIELDS
    _require(not unknown, f"unknown header fields: {', '.join(sorted(unknown))}")
    name = header.get("name", path.stem)
    _require(_valid_name(name), f"name {name!r} must be 2 to 64 lowercase letters, digits and hyphens")
    description = header.get("description")
    _require(isinstance(description, str) and description.strip() != "", "`description` is required")
    category = header.get("category", "")
    _require(isinstance(category, str), "`category` must be a string")
    confidence = header.get("confidence", 1.0)
    _require(isinstance(confidence, int | float) and not isinstance(confidence, bool) and 0 <= confidence <= 1,
             "`confidence` must be a number from 0 to 1")
    version = header.get("version", 1)
    _require(isinstance(version, int) and not isinstance(version, bool) and version >= 1, "`version` must be a positive integer")
    template = match.group(2).strip()
    _require(template != "", "the body (the prompt template) is empty")
    listed = _string_list(header.get("scripts", []), "scripts")
    return PlatformSkill(
        name=name, description=description.strip(), category=category.strip(),
        capabilities=_string_list(header.get("capabilities", []), "capabilities"), confidence=float(confidence),
        prompt_template=template, scripts=_read_scripts(path.parent, name, listed), version=version, path=str(path),
    )


def parse_agent_file(path: Path) -> AgentDefinition:
    """One agent file. Raises ValueError (or OSError, yaml.YAMLError) with the reason."""
    data = yaml.safe_load(path.read_text())
    _require(isinstance(data, dict), "the file must hold one mapping (one agent)")
    unknown = set(data) - AGENT_FIELDS
    _require(not unknown, f"unknown fields: {', '.join(sorted(unknown))}")
    name = data.get("name", path.stem)
    _require(_valid_name(name), f"name {name!r} must be 2 to 64 lowercase letters, digits and hyphens")
    description = data.get("description", "")
    system_prompt = data.get("system_prompt", "")
    _require(isinstance(description, str), "`description` must be a string")
    _require(isinstance(system_prompt, str) and system_prompt.strip() != "", "`system_prompt` is required")
    tools = _string_list(data.get("tools", []), "tools")
    return AgentDefinition(name=name, description=description.strip(), system_prompt=system_prompt.strip(), tools=tools, path=str(path))


def _load_kind(paths: list[Path], parse, catalog_kind: dict, failed: list[CatalogFailure]) -> None:
    for path in paths:
        try:
            item = parse(path)
            if item.name in catalog_kind:
                raise ValueError(f"{item.name!r} is already defined by {catalog_kind[item.name].path}")
        except (OSError, ValueError, UnicodeDecodeError, yaml.YAMLError) as broken:
            reason = str(broken) or type(broken).__name__
            logger.error("catalog file %s not loaded: %s", path, reason)
            failed.append(CatalogFailure(path=str(path), reason=reason))
            continue
        catalog_kind[item.name] = item


def load_catalog_files(directory: Path | None = None) -> Catalog:
    """Reads every skill and agent file under `directory` (default ENGINE_CATALOG_DIR)."""
    root = Path(directory or settings.ENGINE_CATALOG_DIR)
    catalog = Catalog()
    skills_dir, agents_dir = root / "skills", root / "agents"
    skill_paths = sorted(skills_dir.glob("*.md")) if skills_dir.is_dir() else []
    skill_paths = [path for path in skill_paths if path.name.lower() != "readme.md"]
    agent_paths = sorted(p for p in agents_dir.glob("*") if p.suffix in (".yaml", ".yml")) if agents_dir.is_dir() else []
    _load_kind(skill_paths, parse_skill_file, catalog.skills, catalog.failed)
    _load_kind(agent_paths, parse_agent_file, catalog.agents, catalog.failed)
    return catalog


# The one registry of this concern: this worker's copy of the catalog files.
_loaded: Catalog | None = None


def stored_generation() -> int:
    """Read by every turn (through its skills listing): one plain statement (engine.db)."""
    found = fetch_instances(CatalogGeneration, ["generation"], "id = %s", [1])
    return found[0].generation if found else 0


def current_catalog() -> Catalog:
    """This worker's catalog, (re)loaded from the files when it is older than the database's
    generation (one query per call)."""
    generation = stored_generation()
    catalog = _loaded
    if catalog is None or catalog.generation != generation:
        catalog = _reload_in_process(generation)
    return catalog


def _reload_in_process(generation: int) -> Catalog:
    global _loaded
    from execution.permissions import configured_rules, reload_rules

    catalog = load_catalog_files()
    catalog.generation = generation
    _loaded = catalog
    reload_rules()
    configured_rules()  # read now, with the skills: what this worker serves is one snapshot
    return catalog


def forget_loaded_catalog() -> None:
    """Drops this worker's copy (the control message's handler): the next use reads the files."""
    global _loaded
    from execution.permissions import reload_rules

    _loaded = None
    reload_rules()


def publish_new_generation() -> int:
    """Bumps the generation in the caller's transaction and returns it."""
    CatalogGeneration.objects.get_or_create(id=1)
    CatalogGeneration.objects.filter(id=1).update(generation=F("generation") + 1, reloaded_at=timezone.now())
    return stored_generation()


def install(catalog: Catalog, generation: int) -> None:
    """Makes `catalog` this worker's copy, as of `generation` (after a reload committed)."""
    global _loaded
    catalog.generation = generation
    _loaded = catalog


def diff(before: dict, after: dict) -> dict[str, list[str]]:
    """What changed between two name → definition mappings."""
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "updated": sorted(name for name in set(before) & set(after) if before[name] != after[name]),
    }


