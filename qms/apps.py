from django.apps import AppConfig


class QmsConfig(AppConfig):
    name = "qms"
    verbose_name = "体系核心"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from qms import ledger, models

        ledger.register(
            models.AdminUnit, models.Unit, models.Member, models.Membership, models.MemberEvent,
            models.Position, models.RoleGrant, models.PolicyOverride,
        )
