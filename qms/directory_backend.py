"""企业目录登录的认证后端 — see qms/directory.py. Imported only when QMS_LDAP_URI is set (it needs the
``ldap`` extra: django-auth-ldap and python-ldap)."""
from __future__ import annotations

import logging

from django_auth_ldap.backend import LDAPBackend

from qms.directory import REFUSAL_ATTR

log = logging.getLogger(__name__)


def _refuse(ldap_user, message: str):
    request = getattr(ldap_user, "_request", None)
    if request is not None:
        setattr(request, REFUSAL_ATTR, message)
    return ldap_user.AuthenticationFailed(message)


class DirectoryBackend(LDAPBackend):
    """LDAP sign-in matched to a 党员 by 工号; see the module's docstring."""

    def get_or_build_user(self, username, ldap_user):
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from qms import services as core
        from qms.models import Member

        attr = settings.QMS_LDAP_MATCH_ATTRIBUTE
        values = (ldap_user.attrs or {}).get(attr) or (ldap_user.attrs or {}).get(attr.lower()) or []
        number = (values[0] if values else "").strip()
        if not number:
            raise _refuse(ldap_user, "企业目录中您的账号没有登记工号,无法登录本系统,请联系体系管理员")
        member = Member.objects.filter(employee_number=number).select_related("user").first()
        if member is None:
            log.info("directory sign-in refused: no member with employee number %s", number)
            raise _refuse(ldap_user, "企业目录中的工号在本系统中没有对应的党员,无法登录;请联系体系管理员登记工号")
        if member.user_id:
            user = member.user
            if not user.is_active:
                raise _refuse(ldap_user, "您的账号已停用,请联系体系管理员")
            return user, False
        User = get_user_model()  # noqa: N806
        if User.objects.filter(username__iexact=username).exists():
            raise _refuse(ldap_user, "企业目录的用户名已被本系统的另一个账号使用,请联系体系管理员")
        with transaction.atomic():
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            core.member_update(member, actor=None, reason="企业目录首次登录,开通账号", user=user)
        return user, False
