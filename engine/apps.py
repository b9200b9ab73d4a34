from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Engine: API keys"

    def ready(self):
        from engine import schema  # noqa: F401  (registers the OpenAPI auth extension)
