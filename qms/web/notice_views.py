"""通知送达 pages: 群机器人 (the 体系管理员 registers an organisation's 企业微信/钉钉 group robots), 送达失败
(what could not be delivered, with the reason) and 接收通知的方式 (each person, on 我的账号).
Thin: the acts are in qms/channels.py."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms import channel_settings, channels
from qms.models import Delivery, DeliveryStatus, GroupRobot, RobotKind, Unit
from qms.params import page_param
from qms.scoping import _paths, get_visible_or_404, is_admin, restrict, scopes_for
from qms.web.forms import UnitChoiceField, apply_service


def _admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("只有体系管理员可以管理群机器人和查看送达情况")


def _kind_choices():
    return [(k.key, k.label) for k in channels.unit_kinds().values()]


class RobotForm(forms.Form):
    unit = UnitChoiceField(label="党组织", queryset=Unit.objects.none())
    name = forms.CharField(label="名称", max_length=100, help_text="例如:第一党支部工作群")
    kind = forms.ChoiceField(label="类型", choices=RobotKind.choices)
    webhook = forms.CharField(label="机器人地址或密钥", max_length=500, required=False,
                              help_text="群设置里复制的完整地址,或只填地址末尾的密钥部分")
    secret = forms.CharField(label="加签密钥(钉钉,可选)", max_length=200, required=False,
                             widget=forms.PasswordInput(render_value=False))
    kinds = forms.MultipleChoiceField(label="推送的通知", choices=[], widget=forms.CheckboxSelectMultiple,
                                      help_text="群机器人只推送组织层面的通知,不推送关于个人的通知(如党费欠缴)")
    include_below = forms.BooleanField(label="也推送下级组织的通知", required=False)

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units if units is not None else Unit.objects.none()
        self.fields["kinds"].choices = _kind_choices()


class RobotEditForm(RobotForm):
    active = forms.BooleanField(label="启用", required=False)
    clear_secret = forms.BooleanField(label="清除加签密钥", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in ("unit", "kind"):
            del self.fields[f]
        self.fields["webhook"].help_text = "留空则保持原地址不变(原地址不再显示)"
        self.fields["secret"].label = "加签密钥(钉钉;留空则不变)"


def _managed_units(user):
    return restrict(user, Unit.objects.filter(is_active=True), manage=True).exclude(kind="group").order_by("path")


def masked(robot: GroupRobot) -> str:
    """The address as the 体系管理员 sees it in the list: official or own server, and the fingerprint of
    address and secret (to tell two apart) — never the address or key itself."""
    from django.conf import settings

    official = {"https://qyapi.weixin.qq.com", "https://oapi.dingtalk.com"}
    base = settings.QMS_WECOM_WEBHOOK_BASE if robot.kind == RobotKind.WECOM else settings.QMS_DINGTALK_WEBHOOK_BASE
    address = channels.robot_address(robot)
    where = "官方地址" if any(address.startswith(o) for o in official) else (
        "本单位私有部署地址" if address.startswith(base) else "自填地址")
    return f"{where} · 指纹 {robot.fingerprint[:8]}"


@login_required
def robot_list(request):
    """群机器人 — the robots of the organisations the 体系管理员 manages, and the form to add one."""
    _admin(request)
    units = _managed_units(request.user)
    form = RobotForm(request.POST or None, units=units)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        robot = apply_service(form, lambda: channel_settings.robot_create(
            actor=request.user, unit=d["unit"], name=d["name"], kind=d["kind"], webhook=d["webhook"], secret=d["secret"],
            kinds=d["kinds"], include_below=d["include_below"]))
        if robot is not None:
            messages.success(request, f"已新增群机器人:{robot.name}")
            return redirect("robot_list")
    robots = restrict(request.user, GroupRobot.objects.select_related("unit"), manage=True)
    labels = {k.key: k.label for k in channels.kinds().values()}
    rows = [(r, masked(r), [labels.get(k, k) for k in r.kinds]) for r in robots]
    return render(request, "qms/robots.html", {"rows": rows, "form": form})


@login_required
def robot_edit(request, pk: int):
    """修改群机器人 — name, the notices it carries, on/off; a new address or secret replaces the old."""
    _admin(request)
    robot = get_visible_or_404(request.user, restrict(request.user, GroupRobot.objects.select_related("unit"), manage=True),
                               pk=pk)
    initial = {"name": robot.name, "kinds": robot.kinds, "include_below": robot.include_below, "active": robot.active}
    form = RobotEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        done = apply_service(form, lambda: channel_settings.robot_update(
            actor=request.user, robot=robot, name=d["name"], webhook=d["webhook"], secret=d["secret"],
            clear_secret=d["clear_secret"], kinds=d["kinds"], include_below=d["include_below"], active=d["active"]))
        if done is not None:
            messages.success(request, f"已保存群机器人:{done.name}")
            return redirect("robot_list")
    return render(request, "qms/robot_edit.html", {"robot": robot, "masked": masked(robot), "form": form})


@login_required
def delivery_failures(request):
    """送达失败 — 邮件 and robot messages not delivered (or still being retried), newest first, with the
    reason; for the 体系管理员, over the organisations they manage."""
    _admin(request)
    roots = _paths(scopes_for(request.user), manage_only=True)
    cond = Q()
    for p in roots:
        cond |= Q(robot__unit__path__startswith=p)
        cond |= Q(user__member__memberships__end__isnull=True, user__member__memberships__unit__path__startswith=p)
    cond |= Q(robot__isnull=True, user__member__isnull=True)  # logins with no 党员 behind them (administrators)
    qs = (Delivery.objects.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.RETRYING]).filter(cond)
          .select_related("robot__unit", "user").distinct())
    page = Paginator(qs, 50).get_page(page_param(request))
    rows = [(d, channels.target_of(d)) for d in page]
    return render(request, "qms/delivery_failures.html", {"page": page, "rows": rows})


@login_required
@require_POST
def channels_choose(request):
    """接收通知的方式 (我的账号) — 站内 always; 邮件 as the person chooses."""
    from django.core.exceptions import ValidationError

    try:
        channel_settings.channels_choose(actor=request.user, email=request.POST.get("email") == "1")
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
    else:
        messages.success(request, "已保存接收通知的方式")
    return redirect("my_account")
