"""企业目录登录 (qms/directory.py) against a real OpenLDAP: the test starts its own ``slapd`` (Debian's) on a
loopback port with a generated configuration in a temporary folder, loads a few people, and signs in
through the login page. Skipped locally when slapd or python-ldap is missing; with CI=true it fails."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from qms import services as core
from qms.employee_numbers import employee_number_set
from qms.models import LedgerEntry, Member, RoleGrant
from tests import factories
from tests.conftest import IN_CI

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
ROOT_DN, ROOT_PW = f"cn=admin,{SUFFIX}", "root-secret"
PEOPLE = {  # uid: (employeeNumber or None, password)
    "zhang": ("E1001", "pw-zhang-1"),
    "li": ("E1002", "pw-li-1"),
    "wang": ("E9999", "pw-wang-1"),
    "zhao": (None, "pw-zhao-1"),
    "local": ("E1003", "pw-dir-local"),
}


def _need():
    missing = []
    if not Path(SLAPD).exists():
        missing.append("slapd(Debian 软件包 slapd)")
    try:
        import django_auth_ldap  # noqa: F401
        import ldap  # noqa: F401
    except ImportError:
        missing.append("python-ldap 与 django-auth-ldap(pip install -e '.[ldap]')")
    if missing:
        if IN_CI:
            pytest.fail("CI=true 时必须能运行企业目录测试,缺少:" + "、".join(missing))
        pytest.skip("缺少:" + "、".join(missing))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slapd():
    """A slapd of our own on loopback, with people under ou=people and one directory group."""
    _need()
    import ldap
    import ldap.modlist

    tmp = Path(tempfile.mkdtemp(prefix="qms-slapd-"))
    (tmp / "db").mkdir()
    (tmp / "slapd.conf").write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {tmp}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {tmp}/db
maxsize 10485760
""")
    port = _port()
    uri = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen([SLAPD, "-f", str(tmp / "slapd.conf"), "-h", f"{uri}/", "-d", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        conn = None
        for _ in range(100):
            try:
                conn = ldap.initialize(uri)
                conn.simple_bind_s(ROOT_DN, ROOT_PW)
                break
            except ldap.SERVER_DOWN:
                if proc.poll() is not None:
                    pytest.fail(f"slapd 未能启动:{proc.stderr.read().decode(errors='replace')[-500:]}")
                time.sleep(0.1)
        assert conn is not None

        def add(dn, **attrs):
            conn.add_s(dn, ldap.modlist.addModlist({k: [v.encode() for v in (vs if isinstance(vs, list) else [vs])]
                                                    for k, vs in attrs.items()}))

        add(SUFFIX, objectClass=["dcObject", "organization"], dc="example", o="测试单位")
        add(f"ou=people,{SUFFIX}", objectClass="organizationalUnit", ou="people")
        for uid, (number, pw) in PEOPLE.items():
            attrs = {"objectClass": "inetOrgPerson", "uid": uid, "cn": uid, "sn": uid, "userPassword": pw}
            if number:
                attrs["employeeNumber"] = number
            add(f"uid={uid},ou=people,{SUFFIX}", **attrs)
        add(f"cn=admins,{SUFFIX}", objectClass="groupOfNames", cn="admins", member=f"uid=zhang,ou=people,{SUFFIX}")
        conn.unbind_s()
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _configure(settings, uri):
    from qms.directory import ldap_settings

    for k, v in ldap_settings({"QMS_LDAP_URI": uri, "QMS_LDAP_BIND_DN": ROOT_DN, "QMS_LDAP_BIND_PASSWORD": ROOT_PW,
                               "QMS_LDAP_USER_BASE": f"ou=people,{SUFFIX}", "QMS_LDAP_USER_FILTER": "(uid=%(user)s)",
                               "QMS_LDAP_TIMEOUT": "2"}).items():
        setattr(settings, k, v)
    settings.AUTHENTICATION_BACKENDS = ["qms.lockout.LockoutBackend", "qms.directory_backend.DirectoryBackend",
                                        "django.contrib.auth.backends.ModelBackend"]


@pytest.fixture
def directory(slapd, settings, db):
    _configure(settings, slapd)
    b = factories.unit("B", "branch", name="第一党支部")
    zhang, li = factories.member(b, "张目录"), factories.member(b, "李目录")
    employee_number_set(zhang, actor=None, number="E1001", reason="企业目录")
    employee_number_set(li, actor=None, number="E1002", reason="企业目录")
    u = factories.user("zhangsan", first_name="张目录")
    core.member_update(zhang, actor=None, reason="账号", user=u)
    core.position_assign(actor=None, member=zhang, unit=b, title="secretary", start=zhang.memberships.get().start)
    return {"unit": b, "zhang": zhang, "li": li, "zhang_login": u}


def _login(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def _who(client):
    uid = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=uid) if uid else None


@pytest.mark.django_db
def test_a_directory_person_signs_in_as_the_member_matched_by_employee_number(client, directory):
    grants = RoleGrant.objects.count()
    r = _login(client, "zhang", "pw-zhang-1")
    assert r.status_code == 302, r.content.decode()[:500]
    user = _who(client)
    assert user == directory["zhang_login"]  # the member's own login, whatever the directory calls it
    assert not user.is_superuser and not user.is_staff and user.groups.count() == 0  # groups grant nothing
    assert RoleGrant.objects.count() == grants
    assert client.get("/account/").status_code == 200
    client.logout()
    bad = _login(client, "zhang", "wrong-password")
    assert bad.status_code == 200 and _who(client) is None


@pytest.mark.django_db
def test_a_matched_member_without_a_login_gets_one_with_no_local_password(client, directory):
    r = _login(client, "li", "pw-li-1")
    assert r.status_code == 302
    user = _who(client)
    assert user.username == "li" and not user.has_usable_password()
    assert Member.objects.get(pk=directory["li"].pk).user == user
    assert LedgerEntry.objects.filter(action="member.update", obj_id=str(directory["li"].pk)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("uid, words", [("wang", "没有对应的党员"), ("zhao", "没有登记工号")])
def test_a_directory_person_with_no_member_is_refused_in_words(client, directory, uid, words):
    users = get_user_model().objects.count()
    r = _login(client, uid, PEOPLE[uid][1])
    assert r.status_code == 200 and words in r.content.decode()
    assert _who(client) is None and get_user_model().objects.count() == users  # nothing created


@pytest.mark.django_db
def test_local_accounts_keep_working_with_the_directory_on_or_down(client, directory, settings):
    factories.user("local", password="local-pass-123")
    assert _login(client, "local", "local-pass-123").status_code == 302
    assert _who(client).username == "local"
    client.logout()
    _configure(settings, f"ldap://127.0.0.1:{_port()}")  # the directory is down
    assert _login(client, "local", "local-pass-123").status_code == 302
    assert _who(client).username == "local"


@pytest.mark.django_db
def test_employee_numbers_from_a_table_all_or_nothing(tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    b = factories.unit("B", "branch", name="第一党支部")
    m1, m2 = factories.member(b, "甲"), factories.member(b, "乙")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"身份证号,工号\n{m1.id_number},E1\n110101190001010000,E2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="第3行:没有这个身份证号的党员"):
        call_command("employee_numbers", str(bad))
    assert Member.objects.get(pk=m1.pk).employee_number == ""  # nothing saved
    good = tmp_path / "good.csv"
    good.write_text(f"\ufeff身份证号,工号\n{m1.id_number},E1\n{m2.id_number},E2\n", encoding="utf-8")
    call_command("employee_numbers", str(good))
    assert [Member.objects.get(pk=m.pk).employee_number for m in (m1, m2)] == ["E1", "E2"]
    with pytest.raises(Exception, match="已登记给另一名党员"):
        employee_number_set(m2, actor=None, number="E1", reason="x")
