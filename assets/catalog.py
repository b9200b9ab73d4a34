"""The MCP server catalog files: `<ENGINE_CATALOG_DIR>/mcp_servers/*.yaml|*.yml|*.json`.

One server per file; the file format is documented in README.md ("Asset Directory (MCP)").
A broken file is reported with its path and reason; the others still load.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction
from rest_framework import serializers

from assets import crypto
from assets.models import AuthMethod, McpServer, ServerSource, ServerStatus, Transport

SUFFIXES = {".yaml", ".yml", ".json"}


@dataclass
class CatalogFailure:
    path: str
    reason: str


@dataclass
class CatalogReport:
    loaded: list[str] = field(default_factory=list)
    failed: list[CatalogFailure] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "loaded": self.loaded,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "disabled": self.disabled,
        }


class AuthEntrySerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=AuthMethod.choices, default=AuthMethod.NONE)
    header = serializers.CharField(required=False, default="Authorization")
    env = serializers.CharField(required=False, default="")
    client_id = serializers.CharField(required=False, default="")
    client_secret = serializers.CharField(required=False, default="")
    scopes = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    authorization_server = serializers.URLField(required=False, default="")


class CatalogEntrySerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    display_name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    transport = serializers.ChoiceField(choices=Transport.choices)
    url = serializers.URLField(required=False, default="")
    command = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    env = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
    auth = AuthEntrySerializer(required=False, default=dict)
    enabled = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs):
        if attrs["transport"] == Transport.STDIO and not attrs["command"]:
            raise serializers.ValidationError({"command": ["A stdio server needs a command (argv list)."]})
        if attrs["transport"] != Transport.STDIO and not attrs["url"]:
            raise serializers.ValidationError({"url": [f"A {attrs['transport']} server needs a url."]})
        return attrs


def _read(path: Path) -> dict:
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("the file must hold one mapping (one server)")
    data.setdefault("name", path.stem)
    data.setdefault("auth", {})
    return data


def _describe(errors) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {_describe(value)}" for key, value in errors.items())
    if isinstance(errors, list):
        return ", ".join(_describe(item) for item in errors)
    return str(errors)


def _upsert(entry: dict, path: Path) -> McpServer:
    auth = entry["auth"]
    values = {
        "display_name": entry.get("display_name") or entry["name"].replace("-", " ").title(),
        "description": entry["description"],
        "transport": entry["transport"],
        "url": entry["url"],
        "command": entry["command"],
        "env": entry["env"],
        "auth_method": auth["method"],
        "api_key_header": auth["header"],
        "api_key_env": auth["env"],
        "oauth_client_id": auth["client_id"],
        "oauth_client_secret_sealed": crypto.seal({"client_secret": auth["client_secret"]})
        if auth["client_secret"] else "",
        "oauth_scopes": auth["scopes"],
        "oauth_authorization_server": auth["authorization_server"],
        "status": ServerStatus.AVAILABLE if entry["enabled"] else ServerStatus.DISABLED,
        "source": ServerSource.CATALOG,
        "catalog_path": str(path),
    }
    server, _ = McpServer.objects.update_or_create(name=entry["name"], defaults=values)
    return server


def load_server_catalog(directory: Path | None = None) -> CatalogReport:
    """Upserts every MCP server described under `<directory>/mcp_servers/` (default
    ENGINE_CATALOG_DIR). Catalog servers whose file is gone are disabled, never deleted, so
    their connections survive a mistaken edit. Returns what loaded, what failed and why."""
    root = Path(directory or settings.ENGINE_CATALOG_DIR) / "mcp_servers"
    report = CatalogReport()
    paths = sorted(p for p in root.glob("*") if p.suffix in SUFFIXES) if root.is_dir() else []
    seen_paths = {str(p) for p in paths}
    for path in paths:
        try:
            incoming = CatalogEntrySerializer(data=_read(path))
            if not incoming.is_valid():
                raise ValueError(_describe(incoming.errors))
            with transaction.atomic():
                report.loaded.append(_upsert(incoming.validated_data, path).name)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            report.failed.append(CatalogFailure(path=str(path), reason=str(exc) or type(exc).__name__))
    orphans = McpServer.objects.filter(source=ServerSource.CATALOG, status=ServerStatus.AVAILABLE)
    orphans = orphans.exclude(name__in=report.loaded).exclude(catalog_path__in=seen_paths)
    report.disabled = sorted(orphans.values_list("name", flat=True))
    orphans.update(status=ServerStatus.DISABLED)
    return report
