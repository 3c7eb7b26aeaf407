from django.apps import AppConfig


class ProceduresConfig(AppConfig):
    name = "procedures"
    verbose_name = "体系文件"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from qms import limits

        limits.guard(self)  # 字数上限 on every save of this app's models (qms/rules/limits.toml)

        from procedures.catalogue import document_rules
        from qms import catalogue

        catalogue.register(document_rules)  # 规则目录 (manage.py rules)

        from procedures import models
        from qms import ledger

        ledger.register(models.Document, models.DocumentVersion, models.RecordForm, models.FormField, models.Obligation)
        from procedures.services import signed_content
        from qms import signatures
        signatures.register(models.DocumentVersion, signed_content)  # what 审核/批准 signs (电子签名)

        from procedures.panels import approval_tasks_panel, overdue_review_panel
        from qms.site import register_home_panel

        register_home_panel(approval_tasks_panel)

        from procedures.demo import load_library_step
        from qms.demo import register_step

        register_step("标准文件库", load_library_step)
        register_home_panel(overdue_review_panel)
