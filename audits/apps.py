from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "审核与改进"
    default_auto_field = "django.db.models.BigAutoField"
