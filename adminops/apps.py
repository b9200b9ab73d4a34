from django.apps import AppConfig


class AdminopsConfig(AppConfig):
    name = "adminops"
    verbose_name = "Operations"

    def ready(self):
        from adminops.catalog_reload import on_control_message
        from execution import wakeups

        wakeups.on_control(on_control_message)
