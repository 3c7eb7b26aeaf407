"""Demo step of the certification cycle: the demo committee holds a certificate issued almost two
years ago; its first surveillance audit was held on time and left findings (one still open), and
the second is now due — so the certificate page, the readiness page and the pack have something
to show."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

from audits.capa.models import Grade
from audits.certification import services
from audits.certification.models import AuditKind
from qms.models import Unit

#: how many days from now the second surveillance audit falls due (within its window)
DUE_IN_DAYS = 40


def certificate_step(root: Unit, admin) -> str:
    today = timezone.localdate()
    issued = services.add_months(today + dt.timedelta(days=DUE_IN_DAYS), -24)
    cert = services.certificate_register(
        actor=admin, unit=root, body="中国质量认证中心", standard="GB/T 19001-2016 / ISO 9001:2015",
        scope="党委及所属党组织的党建工作(组织建设、党员教育管理、组织生活、党风廉政建设)",
        number=f"CQC-{issued:%Y}-DJ-{root.pk:04d}", issued_on=issued)
    first = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    services.audit_record_done(first, actor=admin, done_on=first.due_on - dt.timedelta(days=12),
                               reference=f"CQC-{first.due_on:%Y}-监督-01")
    branch = Unit.objects.filter(path__startswith=root.path, kind="branch").order_by("path").first() or root
    open_one = services.finding_raise(first, actor=admin, unit=branch, grade=Grade.MINOR, clause="7.5.3",
                                      requirement="成文信息应妥善保存,防止丢失和不当使用",
                                      evidence="抽查支委会会议记录,3份记录缺少出席人员签到表")
    services.finding_raise(first, actor=admin, unit=root, grade=Grade.OBSERVATION, clause="9.1.3",
                           requirement="分析和评价监视测量的数据", evidence="年度党建目标完成情况未按季度分析")
    second = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=2)
    return (f"认证证书 {cert.number}(有效期至 {cert.expires_on:%Y-%m-%d});{second.title}应于 {second.due_on:%Y-%m-%d} 前完成"
            f"({second.status_label()});外部审核发现 2 项(未关闭 {open_one.code} 等)")
