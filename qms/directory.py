"""企业目录登录 — optional sign-in against the organisation's LDAP / Active Directory (django-auth-ldap).

The directory only proves who the person is; it grants nothing. A directory account is matched to a
党员 by one attribute (``QMS_LDAP_MATCH_ATTRIBUTE``, e.g. ``employeeNumber``) against the member's 工号
(``Member.employee_number``):

- a match with a login: that login signs in (its roles stay what positions and grants make them);
- a match with no login yet: a login is opened for the member (no local password; ledgered);
- no match: refused, with the reason in Chinese on the login page — no account is created;
- the directory down or the password wrong: nothing from here, and the local accounts
  (``ModelBackend``, after this backend) keep working.

Directory groups are mapped to nothing (no mirroring, no permissions, no flags). Installing needs the
``ldap`` extra (python-ldap compiles against Debian's libldap2-dev and libsasl2-dev); ``make run`` does
not. Settings: ``ldap_settings`` (read in qms/settings.py when QMS_LDAP_URI is set); the backend is
``qms.directory_backend.DirectoryBackend`` (imported only when configured); the login form that says a
refusal in words is ``qms.web.login.LoginForm``. This module imports nothing of Django's: settings read it.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: what a refused directory sign-in says on the login page (the request carries it to the form)
REFUSAL_ATTR = "qms_directory_refusal"


def ldap_settings(env) -> dict:
    """The django-auth-ldap settings from the environment (called by qms/settings.py only when
    QMS_LDAP_URI is set, so the embedded default needs no python-ldap)."""
    import ldap
    from django_auth_ldap.config import LDAPSearch

    return {
        "AUTH_LDAP_SERVER_URI": env["QMS_LDAP_URI"],
        "AUTH_LDAP_BIND_DN": env.get("QMS_LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": env.get("QMS_LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(env.get("QMS_LDAP_USER_BASE", ""), ldap.SCOPE_SUBTREE,
                                            env.get("QMS_LDAP_USER_FILTER", "(uid=%(user)s)")),
        "AUTH_LDAP_START_TLS": env.get("QMS_LDAP_START_TLS", "0") == "1",
        "AUTH_LDAP_CONNECTION_OPTIONS": {ldap.OPT_NETWORK_TIMEOUT: int(env.get("QMS_LDAP_TIMEOUT", "5")),
                                         ldap.OPT_TIMEOUT: int(env.get("QMS_LDAP_TIMEOUT", "5")),
                                         ldap.OPT_REFERRALS: 0},
        # the directory grants nothing: no attributes copied over the login, no groups, no flags
        "AUTH_LDAP_USER_ATTR_MAP": {},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": False,
        "AUTH_LDAP_MIRROR_GROUPS": False,
        "AUTH_LDAP_FIND_GROUP_PERMS": False,
        "AUTH_LDAP_USER_FLAGS_BY_GROUP": {},
        "QMS_LDAP_MATCH_ATTRIBUTE": env.get("QMS_LDAP_MATCH_ATTRIBUTE", "employeeNumber"),
    }
