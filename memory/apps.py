from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"

    def ready(self):
        from memory import tools  # noqa: F401  (registers the memory tools)
