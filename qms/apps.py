from django.apps import AppConfig


class QmsConfig(AppConfig):
    name = "qms"
    verbose_name = "体系核心"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from qms import (
            ledger,
            limits,
            log_filters,
            models,
            tasks,  # noqa: F401  (tasks: a delivery written is queued after the commit)
        )
        from qms.security import note_password_to_change

        limits.guard(self)  # 字数上限 on every save of this app's models (qms/rules/limits.toml)
        # gunicorn configures its loggers itself, before Django: its access log must not keep an
        # external auditor's link either (settings.LOGGING covers Django's own loggers).
        log_filters.install("gunicorn.access", "gunicorn.error")

        ledger.register(
            models.AdminUnit, models.Unit, models.Member, models.Membership, models.MemberEvent,
            models.Position, models.RoleGrant, models.PolicyOverride, models.RosterColumnMapping,
            models.HigherDecision, models.WorkCalendarYear,
        )
        ledger.register(models.ElectronicSignature)  # 电子签名 (qms/signatures.py): a moved signature breaks the ledger
        ledger.register(models.GroupRobot, models.NoticeChannels)  # 通知渠道的设置 (qms/channel_settings.py)
        user_logged_in.connect(note_password_to_change, dispatch_uid="qms.note_password_to_change")
        from axes.signals import user_locked_out

        from qms.lockout import notify_admins

        user_locked_out.connect(notify_admins, dispatch_uid="qms.lockout.notify_admins")  # 登录锁定: tell the 体系管理员
        from qms.otp import note_second_factor, required_levels

        required_levels()  # a misspelt role in QMS_OTP_REQUIRED_ROLES stops the start, not a login

        user_logged_in.connect(note_second_factor, dispatch_uid="qms.otp.note_second_factor")  # 双因素 owed?

        from qms.site import register_home_panel
        from qms.web.calendar_views import calendar_panel

        register_home_panel(calendar_panel)  # a year's 节假日安排 not entered

        from qms import catalogue, catalogue_rules

        for provider in (catalogue_rules.organisation_rules, catalogue_rules.tree_rules, catalogue_rules.seat_rules,
                         catalogue_rules.ledger_rules, catalogue_rules.decision_rules):
            catalogue.register(provider)  # 规则目录 (manage.py rules)
