from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "审核与改进"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from qms import limits

        limits.guard(self)  # 字数上限 on every save of this app's models (qms/rules/limits.toml)

        from pathlib import Path

        from qms import rules

        here = Path(__file__).resolve().parent
        rules.register(here / "capa" / "rules.toml")  # 纠正措施's numbers, overridable per organisation
        rules.register(here / "internal" / "rules.toml")  # 审核方案's risk numbers
        rules.register(here / "performance" / "rules.toml")  # 按月 for dues, scoring with nothing due, heatmap bands
        rules.register(here / "campaign" / "rules.toml")  # 检查活动: sample share, strata minimum, reminder and escalation days
        rules.register(here / "certification" / "rules.toml")  # the certificate's validity and its external audits

        from audits import models, panels, tasks  # noqa: F401  (tasks: a queued pack starts its build)
        from qms import ledger
        from qms.site import register_home_panel

        ledger.register(models.Nonconformity, models.Audit, models.ChecklistItem, models.SampledRecord,
                        models.ProgrammeEntry, models.ChecklistTemplate, models.AuditMeeting, models.ManagementReview,
                        models.ReviewDecision, models.Objective, models.ScoringScheme, models.ScoringItem, models.Score,
                        models.EvidencePack, models.PackLink, models.AnnualReport, models.NCAttachment)
        from audits.capa.services import signed_ticket
        from audits.internal.services import signed_report
        from audits.review.services import signed_review
        from qms import signatures
        for model, content in ((models.Nonconformity, signed_ticket), (models.Audit, signed_report),
                               (models.ManagementReview, signed_review)):
            signatures.register(model, content)  # what 验证/确认/批准 sign (电子签名)
        ledger.register(models.AssessmentResult, models.Appeal, models.Appraisal)  # 考核等次与结果运用
        from audits.performance.models import Target, TargetReport, TargetTask

        ledger.register(Target, TargetReport, TargetTask)  # 目标管理(层层分解)
        register_home_panel(panels.my_targets_panel)
        ledger.register(models.Campaign, models.CampaignItem, models.CampaignUnit, models.ItemScore, models.SelfEvidence,
                        models.Team, models.Finding, models.Plan)

        ledger.register(models.Certificate, models.CertificationAudit, models.ExternalFinding)
        register_home_panel(panels.rectification_panel)
        register_home_panel(panels.gaps_panel)
        register_home_panel(panels.objectives_panel)
        register_home_panel(panels.ranking_panel)

        from audits.performance.heatmap import rate_bands
        from workflows.views import register_rate_bands

        register_rate_bands(rate_bands)  # the heatmap's 良好 line is the 三会一课 objective's target

        from audits.demo import certification_step, improvement_step
        from qms.demo import register_step

        register_step("目标考核与整改", improvement_step)
        register_step("认证周期", certification_step)

        from audits.demo import campaign_step

        register_step("自查与抽查", campaign_step)

        from audits import catalogue as audit_rules
        from qms import catalogue

        for provider in (audit_rules.indicator_rules, audit_rules.objective_rules, audit_rules.score_rules,
                         audit_rules.statistic_rules, audit_rules.capa_rules, audit_rules.grade_rules,
                         audit_rules.target_rules, audit_rules.certification_rules):
            catalogue.register(provider)  # 规则目录 (manage.py rules)
        catalogue.register(audit_rules.campaign_rules)  # 检查活动's default checklist


        # 体系策划与支持 (audits/system): its numbers, its ledgered records
        rules.register(here / "system" / "rules.toml")
        ledger.register(models.ContextIssue, models.InterestedParty, models.Risk, models.TrainingRecord, models.Survey,
                        models.SurveyQuestion, models.SurveyEntry)
        catalogue.register(audit_rules.system_rules)  # 体系策划与支持: competence requirements, default parties
        from audits.demo import system_step

        register_step("体系策划与支持", system_step)
