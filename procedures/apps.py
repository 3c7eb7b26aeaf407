from django.apps import AppConfig


class ProceduresConfig(AppConfig):
    name = "procedures"
    verbose_name = "体系文件"
    default_auto_field = "django.db.models.BigAutoField"
