"""Pages of document control: the register (现行有效文件清单), document and version pages,
version diff, the rule set of a unit, printable forms, and the approval actions. Thin over
``procedures.services``; scope from ``qms.scoping``."""
from __future__ import annotations

import datetime as dt
import difflib

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from procedures import services
from procedures.library_loader import CONTENT_FIELDS
from procedures.models import (
    Document,
    DocumentKind,
    DocumentVersion,
    Obligation,
    Period,
    RecordForm,
    VersionStatus,
)
from procedures.nextstep import version_next_step
from procedures.pdf import render_form_pdf
from procedures.rules import effective_rules
from qms import ledger, signatures
from qms.models import Unit
from qms.params import choice_param, id_param
from qms.scoping import can_manage, get_visible_or_404, restrict, scopes_for


def visible_documents(user):
    """The library, documents of units in the user's scope, and of their ancestors (whose
    rules apply to them)."""
    scopes = scopes_for(user)
    if not scopes:
        return Document.objects.none()
    ids: set[int] = set()
    for s in scopes:
        ids.update(int(p) for p in s.path.strip("/").split("/") if p)
    cond = Q(owner__isnull=True) | Q(owner_id__in=ids)
    for s in scopes:
        cond |= Q(owner__path__startswith=s.path)
    return Document.objects.filter(cond)


def _document(user, pk: int) -> Document:
    doc = visible_documents(user).filter(pk=pk).select_related("owner", "based_on").first()
    if doc is None:
        raise Http404("无权访问或文件不存在")
    return doc


def _can_edit(user, doc: Document) -> bool:
    return doc.owner is not None and can_manage(user, doc.owner)


@login_required
def register(request):
    status = choice_param(request, "status", [*VersionStatus.values, "all"], default=VersionStatus.EFFECTIVE, label="文件状态")
    kind = choice_param(request, "kind", DocumentKind.values, default="", label="文件类别")
    versions = DocumentVersion.objects.filter(document__in=visible_documents(request.user)).select_related("document", "document__owner", "document__parent")
    if status in VersionStatus.values:
        versions = versions.filter(status=status)
    # readers see what is in force or was; drafts and pending versions only their authors' units
    editable_owner_paths = [sc.path for sc in scopes_for(request.user) if sc.can_manage]
    pending = Q(status__in=[VersionStatus.DRAFT, VersionStatus.UNDER_REVIEW, VersionStatus.APPROVED])
    mine = Q(pk__in=[])
    for path in editable_owner_paths:
        mine |= Q(document__owner__path__startswith=path)
    versions = versions.exclude(pending & ~mine)
    if kind in DocumentKind.values:
        versions = versions.filter(document__kind=kind)
    today = timezone.localdate()
    return render(request, "procedures/register.html", {
        "versions": versions.order_by("document__owner__path", "document__code", "id"),
        "status": status, "kind": kind, "statuses": VersionStatus.choices, "kinds": DocumentKind.choices,
        "today": today,
    })


@login_required
def document_detail(request, pk: int):
    doc = _document(request.user, pk)
    can_edit = _can_edit(request.user, doc)
    versions = [v for v in doc.versions.order_by("-id")
                if can_edit or v.status in (VersionStatus.EFFECTIVE, VersionStatus.SUPERSEDED, VersionStatus.OBSOLETE)]
    shown = doc.effective_version() or (versions[0] if versions else None)
    vid = id_param(request, "version", label="版本")
    if vid:
        shown = next((v for v in versions if v.pk == vid), shown)
    managed = restrict(request.user, Unit.objects.exclude(kind="group"), manage=True).order_by("path")
    instructions, instruction_units = [], []
    if doc.kind == DocumentKind.PROCEDURE:  # 作业文件 under this procedure, as far as the reader sees them
        instructions = [(d, d.effective_version()) for d in visible_documents(request.user).filter(parent=doc)
                        .select_related("owner").order_by("code")]
        instruction_units = [u for u in managed if doc.owner is None or u.path.startswith(doc.owner.path)]
    return render(request, "procedures/document.html", {
        "instructions": instructions, "instruction_units": instruction_units,
        "doc": doc, "version": shown, "versions": versions, "next_step": version_next_step(shown) if shown else None,
        "obligations": shown.obligations.select_related("form") if shown else [],
        "history": ledger.history(shown) if shown else [],
        "can_edit": can_edit,
        "adopt_units": managed if doc.owner_id is None else [],
        "content_fields": [(f, DocumentVersion._meta.get_field(f).verbose_name, getattr(shown, f)) for f in CONTENT_FIELDS if shown],
    })


def _line_diff(a: str, b: str) -> list[tuple[str, str]]:
    out = []
    for line in difflib.ndiff((a or "").splitlines(), (b or "").splitlines()):
        if line.startswith("? "):
            continue
        out.append((line[:1], line[2:]))
    return out


def _obligation_row(o: Obligation) -> dict:
    return {"title": o.title, "frequency": o.frequency_text(), "form": o.form.code if o.form else "",
            "applies": o.applies_to_display(), "responsible": o.get_responsible_display(), "source": o.source}


@login_required
def version_diff(request, pk: int):
    doc = _document(request.user, pk)
    versions = {str(v.pk): v for v in doc.versions.all()}
    if doc.based_on_id:  # compare with the library too
        versions.update({str(v.pk): v for v in doc.based_on.versions.all()})
    a, b = versions.get(str(id_param(request, "a", label="版本"))), versions.get(str(id_param(request, "b", label="版本")))
    if a is None or b is None:
        ordered = sorted(versions.values(), key=lambda v: v.pk)
        if len(ordered) < 2:
            messages.info(request, "该文件只有一个版本,没有可比较的内容")
            return redirect("procedure_detail", pk=doc.pk)
        a, b = ordered[-2], ordered[-1]
    fields = []
    for f in CONTENT_FIELDS:
        if getattr(a, f) != getattr(b, f):
            fields.append((DocumentVersion._meta.get_field(f).verbose_name, _line_diff(getattr(a, f), getattr(b, f))))
    oa = {o.key: _obligation_row(o) for o in a.obligations.select_related("form")}
    ob = {o.key: _obligation_row(o) for o in b.obligations.select_related("form")}
    rows = []
    for key in sorted(set(oa) | set(ob)):
        x, y = oa.get(key), ob.get(key)
        if x != y:
            rows.append({"key": key, "old": x, "new": y,
                         "changed": sorted(k for k in (x or y) if (x or {}).get(k) != (y or {}).get(k))})
    return render(request, "procedures/diff.html", {"doc": doc, "a": a, "b": b, "fields": fields, "rows": rows,
                                                     "choices": sorted(versions.values(), key=lambda v: v.pk)})


@login_required
def unit_rules(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    rules = effective_rules(unit)
    return render(request, "procedures/unit_rules.html", {"unit": unit, "rules": rules,
                                                          "periodic": [r for r in rules if not r.obligation.event],
                                                          "events": [r for r in rules if r.obligation.event]})


@login_required
def form_preview(request, pk: int):
    """The record form as the web form a record will be filled in with (read-only preview)."""
    form = get_object_or_404(RecordForm, pk=pk)
    if form.owner_id and not restrict(request.user, Unit.objects.filter(pk=form.owner_id)).exists():
        raise Http404
    return render(request, "procedures/form_preview.html", {"form": form, "fields": form.fields.all()})


@login_required
def form_pdf(request, pk: int):
    form = get_object_or_404(RecordForm, pk=pk)
    if form.owner_id and not restrict(request.user, Unit.objects.filter(pk=form.owner_id)).exists():
        raise Http404
    scope = request.scope or None
    pdf = render_form_pdf(form, unit_name=scope.unit_name if scope else "")
    resp = HttpResponse(pdf, content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{form.code}-{form.version}.pdf"'
    return resp


# ------------------------------------------------------------------------------ actions


class NewVersionForm(forms.Form):
    label = forms.CharField(label="版本号", max_length=20)
    change_reason = forms.CharField(label="修订原因", widget=forms.Textarea(attrs={"rows": 3}))


class ContentForm(forms.Form):
    why = forms.CharField(label="目的", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    what = forms.CharField(label="内容", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    who = forms.CharField(label="职责", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    when = forms.CharField(label="时间", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    where = forms.CharField(label="地点", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    how = forms.CharField(label="方法", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    body = forms.CharField(label="正文", required=False, widget=forms.Textarea(attrs={"rows": 6}))
    change_reason = forms.CharField(label="修订原因", widget=forms.Textarea(attrs={"rows": 2}))


class ObligationForm(forms.Form):
    title = forms.CharField(label="规定", max_length=120)
    count = forms.IntegerField(label="次数", required=False, min_value=1)
    per = forms.ChoiceField(label="每", choices=[("", "—")] + list(Period.choices), required=False)
    every_months = forms.IntegerField(label="或:每隔几个月1次", required=False, min_value=1, max_value=12)
    grace_days = forms.IntegerField(label="宽限天数", min_value=0)
    source = forms.CharField(label="依据(本组织制度条款)", max_length=200)
    reason = forms.CharField(label="修改原因", max_length=200)


def _fail(request, exc: ValidationError) -> None:
    messages.error(request, ";".join(exc.messages))


@login_required
def adopt(request, pk: int):
    doc = _document(request.user, pk)
    if doc.owner_id is not None:
        raise Http404
    units = restrict(request.user, Unit.objects.exclude(kind="group"), manage=True)
    form = NewVersionForm(request.POST or None, initial={"label": f"{timezone.localdate().year}.1"})
    unit = units.filter(pk=id_param(request, "unit", label="组织", data=(request.POST, request.GET)) or 0).first()
    if unit is None:
        raise PermissionDenied("请选择您管理的组织")
    if request.method == "POST" and form.is_valid():
        try:
            v = services.document_adopt(doc, unit=unit, actor=request.user, label=form.cleaned_data["label"],
                                        change_reason=form.cleaned_data["change_reason"])
            messages.success(request, f"已为{unit.name}起草 {v.document.code} {v.label},请修改后提交审核")
            return redirect(f"/procedures/{v.document.pk}/?version={v.pk}")
        except ValidationError as exc:
            _fail(request, exc)
    return render(request, "qms/form.html", {"form": form, "title": f"{unit.name}采用并修订:{doc}",
                                            "hidden": {"unit": unit.pk}})


@login_required
def new_version(request, pk: int):
    doc = _document(request.user, pk)
    if not _can_edit(request.user, doc):
        raise PermissionDenied("您不能修订该文件")
    form = NewVersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            v = services.version_create(doc, actor=request.user, **form.cleaned_data)
            return redirect(f"/procedures/{doc.pk}/?version={v.pk}")
        except ValidationError as exc:
            _fail(request, exc)
    return render(request, "qms/form.html", {"form": form, "title": f"新建版本:{doc}"})


@login_required
@require_POST
def new_instruction(request, pk: int):
    """编制作业文件 under this procedure: the document and its first draft."""
    doc = _document(request.user, pk)
    p = request.POST
    unit = restrict(request.user, Unit.objects.all()).filter(pk=p.get("unit") or 0).first()
    if unit is None:
        messages.error(request, "请选择发布作业文件的党组织")
        return redirect("procedure_detail", pk=doc.pk)
    try:
        v = services.work_instruction_create(doc, unit=unit, actor=request.user, code=p.get("code", ""),
                                             title=p.get("title", ""), label=p.get("label", ""))
    except ValidationError as exc:
        _fail(request, exc)
        return redirect("procedure_detail", pk=doc.pk)
    messages.success(request, f"已编制作业文件 {v.document.code},请填写内容后提交审核")
    return redirect(f"/procedures/{v.document_id}/?version={v.pk}")


def _version(request, pk: int) -> DocumentVersion:
    v = get_object_or_404(DocumentVersion.objects.select_related("document"), pk=pk)
    _document(request.user, v.document_id)
    if not _can_edit(request.user, v.document):
        raise PermissionDenied("您不能处理该文件的版本")
    return v


@login_required
def edit_version(request, pk: int):
    v = _version(request, pk)
    form = ContentForm(request.POST or None, initial={f: getattr(v, f) for f in (*CONTENT_FIELDS, "change_reason")})
    if request.method == "POST" and form.is_valid():
        try:
            services.version_update(v, actor=request.user, **form.cleaned_data)
            messages.success(request, f"草稿已保存:{v.document.code} {v.label}(尚未提交审核)")
            return redirect(f"/procedures/{v.document_id}/?version={v.pk}")
        except ValidationError as exc:
            _fail(request, exc)
    return render(request, "qms/form.html", {"form": form, "title": f"修改草稿:{v}"})


@login_required
def edit_obligation(request, pk: int):
    o = get_object_or_404(Obligation.objects.select_related("version__document"), pk=pk)
    v = _version(request, o.version_id)
    form = ObligationForm(request.POST or None, initial={"title": o.title, "count": o.count, "per": o.per, "every_months": o.every_months,
                                                         "grace_days": o.grace_days, "source": o.source})
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        reason = d.pop("reason")
        if not d["every_months"] and not (d["count"] and d["per"]) and not o.event and not o.before:
            form.add_error(None, "请填写频次:次数+每,或每隔几个月")
        else:
            d["per"] = d["per"] or ""
            try:
                services.obligation_update(o, actor=request.user, reason=reason, **d)
                messages.success(request, f"规定“{o.title}”已修改(原因已留痕)")
                return redirect(f"/procedures/{v.document_id}/?version={v.pk}")
            except ValidationError as exc:
                _fail(request, exc)
    return render(request, "qms/form.html", {"form": form, "title": f"修改规定:{o.title}"})


@login_required
@require_POST
def version_action(request, pk: int, action: str):
    v = _version(request, pk)
    u = request.user
    name = f"{v.document.code} {v.label}"
    try:
        if action == "submit":
            services.version_submit(v, actor=u)
            done = f"已提交审核:{name}"
        elif action == "review":
            services.version_review(v, actor=u, comment=request.POST.get("comment", ""), password=request.POST.get("password"))
            done = f"已审核并签名:{name}"
        elif action == "send_back":
            services.version_send_back(v, actor=u, reason=request.POST.get("reason", ""))
            done = f"已退回修改:{name}"
        elif action == "approve":
            try:
                day = dt.date.fromisoformat(request.POST.get("effective_on", ""))
            except ValueError:
                raise ValidationError("请填写有效的生效日期") from None
            services.version_approve(v, actor=u, effective_on=day, password=request.POST.get("password"))
            done = f"已批准 {name}" + ("并发布生效" if day <= timezone.localdate() else f",将于 {day:%Y-%m-%d} 生效")
        elif action == "withdraw":
            services.version_withdraw(v, actor=u, reason=request.POST.get("reason", ""))
            done = f"已作废:{name}"
        else:
            raise Http404
        step = version_next_step(DocumentVersion.objects.select_related("document__owner").get(pk=v.pk))
        messages.success(request, done + ("" if step.done else f"。下一步:{step.text}"))
    except ValidationError as exc:
        signatures.refused(request, exc)
        _fail(request, exc)
    return redirect(f"/procedures/{v.document_id}/?version={v.pk}")


def overdue_reviews(user) -> list[DocumentVersion]:
    """Effective versions past their periodic review date (for the 体系管理员's home page)."""
    today = timezone.localdate()
    return list(DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE, next_review_on__lt=today,
                                               document__in=visible_documents(user)).select_related("document"))
