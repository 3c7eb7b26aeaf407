"""认证证据包 pages: request (scope-checked), progress (polled as JSON), download, external
auditors' links (issue, revoke) and the link's own page (no login; expired or revoked links
get a clear page, never data)."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.evidence import services as packs
from audits.evidence.models import EvidencePack, PackLink, PackState
from qms import uploads
from qms.models import Unit
from qms.scoping import is_admin, restrict


def _pack(request, pk: int, *, reap: bool = False) -> EvidencePack:
    """The pack, within the viewer's scope; with ``reap``, a pack whose building process is gone
    is failed first (with the reason), so the page never shows it "生成中" for ever."""
    visible = restrict(request.user, EvidencePack.objects.all()).select_related("root", "requested_by")
    p = visible.filter(pk=pk).first()
    if p is None:
        raise Http404("证据包不存在或不在您的查看范围内")
    if reap and p.state == PackState.RUNNING and packs.pack_reap_stale(pk=p.pk):
        p = visible.get(pk=pk)
    return p


@login_required
def pack_list(request):
    packs.pack_reap_stale()  # the list never shows a pack whose process is gone as "生成中"
    units = restrict(request.user, Unit.objects.exclude(kind="group")).order_by("path")
    if request.method == "POST":
        p = request.POST
        try:
            root = units.filter(code=p.get("unit", "")).first()
            if root is None:
                raise ValidationError("请选择党组织(须在本人范围内)")
            pack = packs.pack_request(actor=request.user, root=root, start=dt.date.fromisoformat(p.get("start", "")),
                                      end=dt.date.fromisoformat(p.get("end", "")))
            messages.success(request, "证据包已开始在后台生成,本页显示进度")
            return redirect("pack_detail", pk=pack.pk)
        except ValueError:
            messages.error(request, "请填写有效的期间(年-月-日)")
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    today = timezone.localdate()
    return render(request, "audits/pack_list.html", {
        "packs": restrict(request.user, EvidencePack.objects.all()).select_related("root", "requested_by")[:100],
        "units": [u for u in units if packs.may_request(request.user, u)],
        "start": dt.date(today.year, 1, 1), "end": today, "p": request.POST,
    })


@login_required
def pack_detail(request, pk: int):
    pack = _pack(request, pk, reap=True)
    token = request.session.pop(f"pack-link-{pk}", None)
    return render(request, "audits/pack_detail.html", {
        "pack": pack, "links": pack.links.select_related("issued_by", "revoked_by") if is_admin(request.user) else [],
        "is_admin": is_admin(request.user), "token": token, "today": timezone.localdate(),
        "max_expiry": timezone.localdate() + dt.timedelta(days=180),
        "default_expiry": timezone.localdate() + dt.timedelta(days=30),
        "integrity": packs.verify_stored(pack) if pack.state == PackState.DONE else [],
    })


@login_required
def pack_progress(request, pk: int):
    pack = _pack(request, pk, reap=True)
    return JsonResponse({"state": pack.state, "percent": pack.percent, "chapter": pack.chapter})


#: The only files a pack has (``pack.pdf``, ``pack.zip``) and their types. Any other name in the
#: URL (``pack.exe``, ``pack.html``) is a 404: a link must never hand out the ZIP under a name a
#: browser or mail filter would run or render.
PACK_FILES = {"pdf": "application/pdf", "zip": "application/zip"}


def _check_kind(kind: str) -> None:
    if kind not in PACK_FILES:
        raise Http404("证据包只有 PDF 和 ZIP 两个文件")


def _file(pack: EvidencePack, kind: str) -> FileResponse:
    """The pack's PDF or ZIP, always as a download under its own name (never rendered in the
    browser, never sniffed as another type)."""
    _check_kind(kind)
    f = pack.pdf if kind == "pdf" else pack.zip
    if pack.state != PackState.DONE or not f:
        raise Http404("证据包尚未生成")
    name = f"{pack.root.code}-{pack.start:%Y%m%d}-{pack.end:%Y%m%d}.{kind}"
    return uploads.serve(f, name=name)


@login_required
def pack_download(request, pk: int, kind: str):
    return _file(_pack(request, pk), kind)


@login_required
@require_POST
def pack_action(request, pk: int, name: str):
    pack = _pack(request, pk)
    p = request.POST
    try:
        if name == "link":
            link, token = packs.link_issue(pack, actor=request.user, auditor_name=p.get("auditor_name", ""),
                                           organisation=p.get("organisation", ""),
                                           expires_on=dt.date.fromisoformat(p.get("expires_on", "")),
                                           include_records=bool(p.get("include_records")))
            request.session[f"pack-link-{pk}"] = request.build_absolute_uri(f"/external/{token}/")
            messages.success(request, f"已为 {link.auditor_name} 签发只读链接(仅显示一次,请复制发送)")
        elif name == "revoke":
            link = pack.links.get(pk=p.get("link") or 0)
            packs.link_revoke(link, actor=request.user, reason=p.get("reason", ""))
            messages.success(request, "链接已撤销")
        elif name == "retry":
            packs.pack_retry(pack, actor=request.user)
            messages.success(request, "已重新开始生成")
        else:
            raise PermissionDenied
    except ValueError:
        messages.error(request, "请填写有效的日期")
    except PackLink.DoesNotExist:
        messages.error(request, "链接不存在")
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
    return redirect("pack_detail", pk=pack.pk)


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "?")


def external(request, token: str):
    """外部审核员页面 — no login: the link is the credential; refused links say why."""
    link, why = packs.link_access(token, what="证据包页面", client=_client(request))
    if link is None or why:
        return render(request, "audits/external_refused.html", {"why": why or "链接无效", "link": link}, status=410 if link else 404)
    records = []
    if link.include_records:
        from workflows.models import Occurrence

        records = (Occurrence.objects.filter(unit__path__startswith=link.pack.root.path, held_on__gte=link.pack.start,
                                             held_on__lte=link.pack.end).select_related("unit", "obligation")
                   .order_by("held_on")[:500])
    return render(request, "audits/external.html", {"link": link, "pack": link.pack, "records": records, "token": token})


def external_download(request, token: str, kind: str):
    _check_kind(kind)  # before the link is opened: a request for another file is no access to the pack
    link, why = packs.link_access(token, what=f"下载 {kind.upper()}", client=_client(request))
    if link is None or why:
        return render(request, "audits/external_refused.html", {"why": why or "链接无效", "link": link}, status=410 if link else 404)
    return _file(link.pack, kind)
