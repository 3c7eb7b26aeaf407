"""The REST API (api/): tokens, authentication, errors, scoping, and the read endpoints of
units, members and positions. The organisation is tests/test_permissions.py's (a committee C,
its branches B1 and B2, every role), built once for the module and rolled back at its end."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from qms import ledger
from qms.models import LedgerEntry, Member
from qms.permissions import NotPermitted
from qms.privacy import mask_id_number
from tests.test_permissions import build_org

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture(scope="module")
def _base(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        built = build_org()
        yield {k: (type(v), v.pk) for k, v in built.items()}
        transaction.set_rollback(True)


@pytest.fixture
def org(_base, db):
    return {k: model._default_manager.get(pk=pk) for k, (model, pk) in _base.items()}


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def personal(user, write=True) -> str:
    return tokens.token_create_personal(actor=user, name="脚本", write=write).secret


def body(r) -> dict:
    return json.loads(r.content)


def ids(r) -> set[int]:
    return {row["id"] for row in body(r)["results"]}


# ------------------------------------------------------------------------------ tokens


def test_a_token_is_stored_as_its_digest_and_ledgered(org):
    head = ledger.head()
    issued = tokens.token_create_personal(actor=org["sec_b1"], name="本人脚本")
    t = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret.startswith("qms_") and issued.secret not in t.digest and t.digest == tokens.digest_of(issued.secret)
    assert not ApiToken.objects.filter(digest=issued.secret).exists()
    entry = LedgerEntry.objects.filter(seq__gt=head[0]).get()
    assert entry.action == "api_token.create" and issued.secret not in json.dumps(entry.after)
    assert t.expires_on == TODAY + dt.timedelta(days=90)  # api/rules.toml api_token_default_days


def test_integration_tokens_are_made_by_an_administrator_over_their_units(org):
    with pytest.raises(NotPermitted):
        tokens.token_create_integration(actor=org["sec_b1"], name="OA", units=[org["b1"]])
    t = tokens.token_create_integration(actor=org["admin"], name="OA", units=[org["b1"]], write=False).token
    assert list(t.units.all()) == [org["b1"]] and t.owner == org["admin"]
    with pytest.raises(Exception, match="有效期最长365天"):
        tokens.token_create_integration(actor=org["admin"], name="OA", units=[org["b1"]],
                                        expires_on=TODAY + dt.timedelta(days=400))


def test_revoke_needs_a_reason_and_the_owner_or_an_administrator(client, org):
    secret = personal(org["sec_b1"])
    t = ApiToken.objects.get(digest=tokens.digest_of(secret))
    with pytest.raises(NotPermitted):
        tokens.token_revoke(t, actor=org["sec_b2"], reason="不用了")
    with pytest.raises(Exception, match="必须说明原因"):
        tokens.token_revoke(t, actor=org["sec_b1"], reason=" ")
    assert client.get("/api/v1/units/", **bearer(secret)).status_code == 200
    tokens.token_revoke(t, actor=org["admin"], reason="泄露")
    r = client.get("/api/v1/units/", **bearer(secret))
    assert r.status_code == 401 and body(r)["code"] == "token_revoked"
    assert LedgerEntry.objects.filter(action="api_token.revoke", obj_id=str(t.pk)).exists()


def test_expired_unknown_and_missing_tokens_are_401_with_a_code(client, org):
    secret = personal(org["sec_b1"])
    ApiToken.objects.filter(digest=tokens.digest_of(secret)).update(expires_on=TODAY - dt.timedelta(days=1))
    cases = [({}, "not_authenticated"), (bearer("qms_nothing"), "token_invalid"), (bearer(secret), "token_expired"),
             ({"HTTP_AUTHORIZATION": "Bearer"}, "token_invalid"), ({"HTTP_AUTHORIZATION": "Bearer a b"}, "token_invalid")]
    for headers, code in cases:
        r = client.get("/api/v1/members/", **headers)
        assert r.status_code == 401 and body(r)["code"] == code, (headers, r.content)
        assert body(r)["message"] and r["WWW-Authenticate"].startswith("Bearer")


def test_a_session_is_not_an_api_credential(client, org):
    client.force_login(org["admin"])
    assert client.get("/api/v1/units/").status_code == 401


def test_the_token_page_makes_shows_once_and_revokes(client, org):
    client.force_login(org["sec_b1"])
    from tests.test_crawl import foreign_words

    page = client.get("/api/tokens/")
    assert page.status_code == 200 and "对接令牌(其他系统使用)" not in page.content.decode()
    assert foreign_words(page.content.decode()) == set()  # no English, logins or identifiers (tests/test_crawl.py)
    r = client.post("/api/tokens/", {"kind": "personal", "name": "本人脚本", "write": "on"})
    text = r.content.decode()
    secret = text.split("<pre>", 1)[1].split("</pre>", 1)[0]
    assert secret.startswith("qms_") and client.get("/api/v1/units/", **bearer(secret)).status_code == 200
    assert secret not in client.get("/api/tokens/").content.decode()  # shown once
    t = ApiToken.objects.get(digest=tokens.digest_of(secret))
    client.post(f"/api/tokens/{t.pk}/revoke/", {"reason": "换新令牌"})
    assert ApiToken.objects.get(pk=t.pk).state == "revoked"
    client.force_login(org["admin"])
    r = client.post("/api/tokens/", {"kind": "integration", "name": "OA系统", "units": [org["b2"].pk]})
    assert "<pre>qms_" in r.content.decode() and foreign_words(r.content.decode()) == set()
    assert ApiToken.objects.get(name="OA系统").units.get() == org["b2"]


def test_the_command_makes_and_revokes(org, capsys):
    call_command("api_token", "create", "--as", "admin", "--name", "对接", "--unit", "B1", "--write")
    secret = capsys.readouterr().out.strip()
    t = ApiToken.objects.get(digest=tokens.digest_of(secret))
    assert t.write and list(t.units.values_list("code", flat=True)) == ["B1"]
    call_command("api_token", "revoke", str(t.pk), "--as", "admin", "--reason", "停用")
    assert ApiToken.objects.get(pk=t.pk).state == "revoked"


# ------------------------------------------------------------------------------ scope


def test_a_token_of_one_branch_sees_nothing_of_another(client, org):
    b2 = bearer(personal(org["sec_b2"]))
    units = {u["code"] for u in body(client.get("/api/v1/units/", **b2))["results"]}
    assert units == {"B2"}
    names = {m["name"] for m in body(client.get("/api/v1/members/", **b2))["results"]}
    b1_names = set(Member.objects.filter(memberships__unit=org["b1"]).values_list("name", flat=True))
    assert names and not names & b1_names
    b1_member = Member.objects.filter(memberships__unit=org["b1"]).first()
    r = client.get(f"/api/v1/members/{b1_member.pk}/", **b2)
    assert r.status_code == 404 and body(r) == {"code": "not_found", "message": "无权访问或对象不存在", "errors": {}}
    assert body(client.get("/api/v1/units/?unit=B1", **b2))["results"] == []


def test_an_integration_token_is_narrowed_to_its_units(client, org):
    t = tokens.token_create_integration(actor=org["admin"], name="OA", units=[org["b2"]])
    h = bearer(t.secret)
    assert {u["code"] for u in body(client.get("/api/v1/units/", **h))["results"]} == {"B2"}
    assert client.get(f"/api/v1/units/{org['b1'].pk}/", **h).status_code == 404
    # the administrator themself, by a personal token, sees the whole committee
    assert {u["code"] for u in body(client.get("/api/v1/units/", **bearer(personal(org["admin"]))))["results"]} == {"C", "B1", "B2"}


def test_personal_data_only_for_those_who_manage_the_member(client, org):
    m = Member.objects.get(user=org["member"])
    Member.objects.filter(pk=m.pk).update(phone="13912345678")
    full = body(client.get(f"/api/v1/members/{m.pk}/", **bearer(personal(org["sec_b1"]))))
    assert full["id_number"] == m.id_number and full["phone"] == "13912345678"
    masked = body(client.get(f"/api/v1/members/{m.pk}/", **bearer(personal(org["ia"]))))
    assert masked["id_number"] == mask_id_number(m.id_number) and masked["phone"] == "139****5678"
    assert "id_number" not in body(client.get("/api/v1/members/", **bearer(personal(org["sec_b1"]))))["results"][0]
    from qms.models import PersonalDataView

    assert PersonalDataView.objects.filter(viewer=org["sec_b1"], member=m).exists()
    assert not PersonalDataView.objects.filter(viewer=org["ia"], member=m).exists()


# ------------------------------------------------------------------------------ errors


def test_errors_are_json_with_a_stable_code(client, org):
    h = bearer(personal(org["sec_b1"]))
    cases = [
        ("/api/v1/units/?unit=" + "x" * 200, 400, "bad_parameter"),
        ("/api/v1/members/?status=nonsense", 400, "bad_parameter"),
        ("/api/v1/occurrences/?from=2026-13-01", 400, "bad_parameter"),
        ("/api/v1/units/?page=999", 404, "not_found"),
        ("/api/v1/units/99999999/", 404, "not_found"),
        ("/api/v1/units/abc/", 404, None),  # matches no URL (the id converter)
    ]
    for url, status, code in cases:
        r = client.get(url, **h)
        assert r.status_code == status, (url, r.content)
        if code:
            assert body(r)["code"] == code and body(r)["message"], url
    r = client.post("/api/v1/units/", {}, content_type="application/json", **h)
    assert r.status_code == 405 and body(r)["code"] == "method_not_allowed"


def test_a_read_only_token_writes_nothing(client, org):
    from tests.test_permissions_web import _occ

    occ = _occ(org)
    h = bearer(personal(org["sec_b1"], write=False))
    head = ledger.head()
    r = client.post(f"/api/v1/occurrences/{occ.pk}/transitions/plan/",
                    {"planned_date": TODAY.isoformat(), "place": "会议室", "topic": "学习"}, content_type="application/json", **h)
    assert r.status_code == 403 and body(r)["code"] == "token_read_only" and ledger.head() == head


def test_list_query_counts_do_not_grow_with_rows(client, org, django_assert_max_num_queries):
    h = bearer(personal(org["admin"]))
    for url in ("/api/v1/units/", "/api/v1/members/", "/api/v1/positions/"):
        with django_assert_max_num_queries(12):
            r = client.get(url + "?page_size=200", **h)
        assert r.status_code == 200 and body(r)["count"] >= 3, url


def test_schema_and_docs_are_served_with_local_assets_only(client):
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    schema = json.loads(r.content)
    assert schema["openapi"].startswith("3.") and "/api/v1/occurrences/{id}/transitions/check/" in schema["paths"]
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "http://" not in html and "https://" not in html and "swagger-ui-bundle.js" in html
    script = client.get("/api/docs/?script=").content.decode()
    assert "https://" not in script and "/api/schema/" in script
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = html.split(asset)[0].rsplit('"', 1)[1] + asset
        r = client.get(url)
        assert r.status_code == 200, url
        assert b"".join(r.streaming_content)  # read to the end: the test client closes it (an explicit close()
        # would send request_finished outside the request and close the test's PostgreSQL connection)


def test_procedures_and_their_obligations_as_the_pages_show_them(client, org, django_assert_max_num_queries):
    from procedures.views import visible_documents

    h = bearer(personal(org["sec_b1"]))
    with django_assert_max_num_queries(12):
        rows = body(client.get("/api/v1/procedures/?page_size=200", **h))
    assert rows["count"] == visible_documents(org["sec_b1"]).count() > 0
    with_rules = [d for d in rows["results"] if d["obligations"]]
    assert with_rules and all(d["version"] for d in with_rules)
    one = with_rules[0]
    assert body(client.get(f"/api/v1/procedures/{one['id']}/", **h))["obligations"] == one["obligations"]
    assert client.get("/api/v1/procedures/?kind=nonsense", **h).status_code == 400
