from django.apps import AppConfig


class SkillsConfig(AppConfig):
    name = "skills"

    def ready(self):
        from skills import tools  # noqa: F401  (registers load_skill)
