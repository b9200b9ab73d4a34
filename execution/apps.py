from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self):
        from execution import builtin_tools, working_memory  # noqa: F401  (they register their tools)
