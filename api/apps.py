from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "数据接口"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from qms import ledger, limits

        limits.guard(self)  # 字数上限 on every save of this app's models (qms/rules/limits.toml)

        from pathlib import Path

        from qms import rules

        rules.register(Path(__file__).resolve().parent / "rules.toml")  # 令牌有效期, overridable per organisation

        from api import models

        ledger.register(models.ApiToken)
