from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "执行与记录"
    default_auto_field = "django.db.models.BigAutoField"
