from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "执行与记录"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pathlib import Path

        from qms import limits, rules

        # quorum, reminder points, 党费 prepayment and arrears routing: overridable per organisation
        rules.register(Path(__file__).with_name("rules.toml"))
        rules.register(Path(__file__).with_name("election.toml"))  # 换届选举 (workflows/election.py)
        # 发展党员的时间规则 (《中国共产党发展党员工作细则》): overridable per organisation
        rules.register(Path(__file__).with_name("recruitment_rules.toml"))
        rules.register(Path(__file__).with_name("coalition.toml"))  # 联系组、协作组 (workflows/coalitions.py)

        limits.guard(self)  # 字数上限 on every save of this app's models (qms/rules/limits.toml)

        from qms import ledger
        from qms.signals import member_event_recorded
        from workflows import election_flows, models, org_change_flows, scheduler  # noqa: F401  (the process proxy models)

        ledger.register(models.Occurrence, models.Record, models.Attendance, models.FollowUp, models.Attachment,
                        models.DuesPayment, models.RemovalRequest, models.Election, models.ElectionCandidate,
                        models.Applicant, models.RecruitStep)
        ledger.register(models.Coalition, models.CoalitionMeeting, models.LiaisonPoint)  # 联系组、协作组、联系点
        from qms import signatures
        from workflows.services import signed_record
        signatures.register(models.Record, signed_record)  # what 检查 signs (电子签名)

        def _on_event(sender, event, **kwargs):
            return scheduler.on_member_event(event)  # the occurrences it created (the page names them)

        member_event_recorded.connect(_on_event, weak=False, dispatch_uid="workflows.on_member_event")

        from qms.site import register_home_panel
        from workflows import panels

        for panel in (panels.compliance_panel, panels.due_panel, panels.overdue_panel, panels.waiting_panel):
            register_home_panel(panel)
        from workflows.recruitment_views import recruitment_panel

        register_home_panel(recruitment_panel)  # 发展党员: applicants of the scope, overdue first

        from qms import catalogue
        from workflows import catalogue as workflow_rules

        for provider in (workflow_rules.event_rules, workflow_rules.obligation_rules, workflow_rules.record_rules, workflow_rules.dues_rules, workflow_rules.review_rules,
                         workflow_rules.coalition_rules):
            catalogue.register(provider)  # 规则目录 (manage.py rules)

        from qms.demo import register_step
        from workflows.demo import history_step, recruitment_step

        register_step("执行记录", history_step)
        from workflows.election_demo import election_step

        register_step("换届选举", election_step)
        register_step("发展党员", recruitment_step)
        from workflows.org_change_demo import org_change_step

        register_step("组织设置请示", org_change_step)
        from workflows.coalition_demo import coalition_step

        register_step("联系组与协作组", coalition_step)
