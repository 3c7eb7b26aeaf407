"""The pages of the API for people: 数据接口令牌 (make one's own token; a 体系管理员 makes and
revokes 对接令牌) and the docs page (Swagger UI from the sidecar package: every asset local)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from api import tokens
from api.models import ApiToken
from qms.models import Unit
from qms.scoping import can_see, is_admin, restrict


class Docs(SpectacularSwaggerSplitView):
    """数据接口文档 — the schema in Swagger UI; its scripts and styles come from drf-spectacular-sidecar."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    title = "数据接口文档"
    url_name = "api_schema"


docs = Docs.as_view()


class TokenForm(forms.Form):
    kind = forms.ChoiceField(label="类别", choices=[("personal", "本人的个人令牌"), ("integration", "对接令牌(其他系统使用)")])
    name = forms.CharField(label="名称", max_length=60, help_text="例如:OA系统、本人脚本")
    write = forms.BooleanField(label="可写(不勾选则只读)", required=False)
    expires_on = forms.DateField(label="有效期至", required=False, help_text="不填则按组织规则的默认天数",
                                 widget=forms.DateInput(attrs={"type": "date"}))
    units = forms.ModelMultipleChoiceField(label="限定的党组织(对接令牌)", queryset=Unit.objects.none(), required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # the units a person may name are those they see; whether they may make a 对接令牌 for
        # them is the act's (api_token.create_integration: a 体系管理员 over each), refused with its reason
        self.fields["units"].queryset = restrict(user, Unit.objects.filter(is_active=True)).order_by("path")
        self.fields["units"].label_from_instance = lambda u: u.name
        if not is_admin(user):  # only a 体系管理员 is offered the 对接令牌
            self.fields["kind"].widget = forms.HiddenInput()
            self.fields["kind"].initial = "personal"
            self.fields["units"].widget = forms.MultipleHiddenInput()


class RevokeForm(forms.Form):
    reason = forms.CharField(label="吊销原因", max_length=200)


@login_required
def token_page(request):
    """数据接口令牌 — one's own tokens and (for a 体系管理员) the 对接令牌 of their units; making a
    token shows it once, on this answer only."""
    issued = None
    form = TokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            if d["kind"] == "integration":
                issued = tokens.token_create_integration(actor=request.user, name=d["name"], units=list(d.get("units") or []),
                                                         write=d["write"], expires_on=d["expires_on"])
            else:
                issued = tokens.token_create_personal(actor=request.user, name=d["name"], write=d["write"],
                                                      expires_on=d["expires_on"])
        except ValidationError as exc:
            for field, errs in getattr(exc, "error_dict", {"__all__": exc.error_list}).items():
                for e in errs:
                    form.add_error(field if field in form.fields else None, " ".join(e.messages))
        else:
            form = TokenForm(user=request.user)
    return render(request, "api/tokens.html", {
        "form": form, "issued": issued, "rows": tokens.visible_tokens(request.user),
        "base": request.build_absolute_uri("/api/v1/"), "revoke_form": RevokeForm(),
        "is_admin": is_admin(request.user),
    })


@login_required
@require_POST
def token_revoke(request, pk: int):
    """吊销 — the act decides who may (the owner, or a 体系管理员 over the token's units)."""
    token = ApiToken.objects.filter(pk=pk).first()
    unit = tokens.revoke_unit(token) if token else None
    if token is None or not (token.owner_id == request.user.pk
                             or (can_see(request.user, unit) if unit else is_admin(request.user))):
        raise Http404("无权访问或对象不存在")
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "吊销令牌必须说明原因")
        return redirect("api_tokens")
    try:
        tokens.token_revoke(token, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
    else:
        messages.success(request, f"已吊销令牌“{token.name}”")
    return redirect("api_tokens")




@csrf_exempt  # a token client sends no CSRF cookie: its POST to a wrong address is a 404 too, not a 403 page
def not_found(request, *args, **kwargs):
    """The API's 404 for an address no endpoint has: JSON like every other error (api/errors.py)."""
    from django.http import JsonResponse

    from api.errors import NOT_FOUND

    return JsonResponse({"code": "not_found", "message": NOT_FOUND, "errors": {}}, status=404,
                        json_dumps_params={"ensure_ascii": False})
