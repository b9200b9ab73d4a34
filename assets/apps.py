from django.apps import AppConfig


class AssetsConfig(AppConfig):
    name = "assets"
    verbose_name = "Asset Directory (MCP)"

    def ready(self):
        # Cheap (~0.15 s) and needed on the request path: imported at start-up, not mid-request.
        # The mcp SDK itself is imported by the MCP loop thread (assets.mcp_runtime).
        from assets import crypto, oauth, tools  # noqa: F401  (tools: MCP tools join the registry)
