"""Several machines, proved on loopback (docs/deploy.md): PostgreSQL, Redis, an S3-compatible
server (moto), two gunicorn web nodes on two ports and two Celery workers, each with its own
empty data folder — nothing shared but the database, Redis and the bucket, as between machines.

A record submitted through node 1 (with an attachment, stored in the bucket) is seen and its
attachment downloaded through node 2 with the same login (sessions in Redis); an evidence pack
requested on node 2 is built by whichever worker takes it from the packs queue and downloaded from
node 1, with the attachment inside. The web nodes and the workers connect as the application
role made by deploy/postgres/grants.sql, which cannot change the ledger. Everything started is
stopped in ``finally``.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection

from qms import ledger
from qms import services as core
from qms.models import UnitKind
from tests import factories
from tests.conftest import IN_CI, require_postgres
from tests.test_hostile_uploads import PNG

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date.today()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, procs, seconds: float = 40) -> None:
    import requests

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for p in procs:
            assert p.poll() is None, f"进程已退出:{p.args}"
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} 未在 {seconds} 秒内就绪")


def _csrf(session, url: str) -> str:
    page = session.get(url, timeout=20)
    assert page.status_code == 200, (url, page.status_code)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _services():
    from django.conf import settings

    require_postgres()
    if not settings.CELERY_BROKER_URL:
        if IN_CI:
            pytest.fail("CI=true 时必须设置 CELERY_BROKER_URL 并运行 Redis")
        pytest.skip("需要 Redis(设置 CELERY_BROKER_URL 后运行)")
    for tool in ("psql",):
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"CI=true 时必须安装 {tool}")
            pytest.skip(f"需要 {tool}")
    return settings.CELERY_BROKER_URL


def _branch():
    """A committee with one branch and its secretary, the record's meeting scheduled."""
    from procedures.library_loader import load_library
    from workflows.scheduler import schedule

    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    members = [factories.member(b1, f"一支{i}") for i in range(3)]
    sec = factories.user("sec1")
    # the tests hash with MD5 (conftest); the web nodes run with the production hashers
    sec.password = make_password("pass-12345", hasher="pbkdf2_sha256")
    sec.save(update_fields=["password"])
    core.member_update(members[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=members[0], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    schedule(today=TODAY)
    return b1, sec


def test_two_web_nodes_two_workers_shared_database_redis_and_bucket(transactional_db, tmp_path):
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    from workflows.models import Occurrence

    broker = _services()
    b1, _sec = _branch()
    occ = (Occurrence.objects.filter(unit=b1, obligation_key="branch_general_meeting", period_start__lte=TODAY)
           .order_by("-period_start").first())
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))

    db = connection.settings_dict
    host, port, name = db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]
    owner_url = f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{name}"
    app_role, app_password = f"qms_app_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    app_url = f"postgres://{app_role}:{app_password}@{host}:{port}/{name}"
    tag = secrets.token_hex(4)
    bucket = f"qms-{tag}"
    moto_port, web_ports = _free_port(), (_free_port(), _free_port())
    procs: list[subprocess.Popen] = []
    outs: list = []
    web = None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    with connection.cursor() as c:
        c.execute(f'CREATE ROLE "{app_role}" LOGIN PASSWORD %s', [app_password])
    try:
        # the operator's script, as written in docs/deploy.md
        subprocess.run(["psql", owner_url, "-q", "-v", "ON_ERROR_STOP=1", "-v", f"app={app_role}",
                        "-f", str(ROOT / "deploy/postgres/grants.sql")], check=True, capture_output=True, text=True)
        moto.start()
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        common = {
            **os.environ, "DATABASE_URL": app_url, "CELERY_BROKER_URL": broker, "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "QMS_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": bucket, "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_S3_REGION_NAME": "us-east-1",
            "QMS_CACHE_URL": re.sub(r"/\d*$", "", broker) + "/3", "QMS_SESSIONS": "cache",
            "QMS_QUEUE_DEFAULT": f"mn-{tag}", "QMS_QUEUE_PACKS": f"mn-{tag}-packs",
            "QMS_PACK_PROCESSES": "1", "CONN_MAX_AGE": "0", "PYTHONUNBUFFERED": "1",
        }
        logs = tmp_path / "logs"
        logs.mkdir()

        def start(label: str, args: list[str], env: dict) -> None:
            var = tmp_path / label  # this "machine"'s own disk: nothing on it is shared
            var.mkdir()
            out = (logs / f"{label}.log").open("w")
            outs.append(out)
            procs.append(subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          env={**env, "QMS_VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media")}))

        for i, p in enumerate(web_ports, 1):
            start(f"web{i}", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                              "qms.wsgi:application"], {**common, "QMS_BIND": f"127.0.0.1:{p}", "WEB_CONCURRENCY": "1"})
        # worker 1 takes the light queue and the packs queue, worker 2 only packs (another machine)
        for i, queues in enumerate((f"mn-{tag},mn-{tag}-packs", f"mn-{tag}-packs"), 1):
            start(f"worker{i}", [sys.executable, "-m", "celery", "-A", "qms", "worker", "--concurrency=1", "--without-mingle",
                                 "--without-gossip", "-Q", queues, "--loglevel=WARNING", "-n", f"mn{i}-{tag}@%h"], common)
        node1, node2 = (f"http://127.0.0.1:{p}" for p in web_ports)
        for node in (node1, node2):
            _wait_http(f"{node}/login/", procs)

        # log in through node 1's form; the same session cookie then works on node 2 (sessions in Redis)
        web = requests.Session()
        login = f"{node1}/login/"
        r = web.post(login, {"csrfmiddlewaretoken": _csrf(web, login), "username": "sec1", "password": "pass-12345"},
                     headers={"Referer": login}, timeout=20)
        assert r.status_code == 200 and "/login/" not in r.url, re.findall(r'class="[^"]*(?:msg|error)[^"]*"[^>]*>([^<]*)', r.text)

        # a record through node 1: planned, an attachment (into the bucket), submitted
        detail = f"/work/{occ.pk}/"
        action = f"{node1}{detail}" + "{}/"
        token = _csrf(web, f"{node1}{detail}")
        post = lambda a, data=None, files=None: web.post(action.format(a), data={"csrfmiddlewaretoken": token, **(data or {})},  # noqa: E731
                                                         files=files, headers={"Referer": f"{node1}{detail}"}, timeout=30)
        assert post("plan", {"planned_date": day.isoformat(), "place": "党员活动室", "topic": "多节点学习"}).ok
        assert post("attach", files={"file": ("会议照片.png", PNG, "image/png")}).ok
        assert post("submit", {"held_on": day.isoformat()}).ok

        # seen through node 2, attachment streamed from the bucket by node 2
        page = web.get(f"{node2}{detail}", timeout=20)
        assert page.status_code == 200 and "多节点学习" in page.text and "会议照片.png" in page.text
        href = re.search(r'href="(/work/attachments/\d+/[^"]*)"', page.text)
        assert href, "记录页上没有附件下载链接"
        got = web.get(f"{node2}{href.group(1)}", timeout=20)
        assert got.status_code == 200 and got.content == PNG
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(k.startswith("attachments/") for k in keys), keys
        assert not any((tmp_path / f"web{i}" / "media").exists() for i in (1, 2)), "上传文件写到了 web 节点的本地磁盘"

        # an evidence pack requested on node 2, built by a worker, downloaded from node 1
        packs_url = f"{node2}/audits/packs/"
        r = web.post(packs_url, {"csrfmiddlewaretoken": _csrf(web, packs_url), "unit": "B1",
                                 "start": f"{TODAY.year}-01-01", "end": TODAY.isoformat()},
                     headers={"Referer": packs_url}, timeout=20)
        pk = int(re.search(r"/packs/(\d+)/", r.url).group(1))
        deadline, state = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            state = web.get(f"{node1}/audits/packs/{pk}/progress.json", timeout=20).json()
            if state["state"] in ("done", "failed"):
                break
            for p in procs:
                assert p.poll() is None, f"进程已退出:{p.args}"
            time.sleep(0.5)
        assert state.get("state") == "done", (state, [(f.name, f.read_text()[-2000:]) for f in logs.iterdir()])
        z = web.get(f"{node1}/audits/packs/{pk}/pack.zip", timeout=30)
        assert z.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
        assert "pack.pdf" in names and any(n.endswith("会议照片.png") for n in names), names
        from audits.evidence.models import EvidencePack

        built = EvidencePack.objects.get(pk=pk)
        assert built.worker_host and built.worker_pid != os.getpid()  # a worker's process, not this one
        assert any(k.startswith("packs/") for k in (o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]))
        # the stored pack re-checked against its hashes, read back from the bucket
        from django.test.utils import override_settings

        from audits.evidence.services import verify_stored

        s3_storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": endpoint, "access_key": "test", "secret_key": "test",
            "region_name": "us-east-1", "addressing_style": "path"}}
        with override_settings(STORAGES={"default": s3_storage,
                                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
            built.refresh_from_db()
            assert verify_stored(built) == []
            s3.put_object(Bucket=bucket, Key=built.zip.name, Body=b"changed")
            assert verify_stored(built) == ["ZIP 文件的 SHA-256 与生成时不符"]

        # the application role works with the ledger but cannot change it
        import psycopg

        with psycopg.connect(app_url.replace("postgres://", "postgresql://")) as app, app.cursor() as cur:
            cur.execute("SELECT count(*) FROM qms_ledgerentry")
            assert cur.fetchone()[0] > 0
            for sql in ("UPDATE qms_ledgerentry SET reason = 'x'", "DELETE FROM qms_ledgerentry",
                        "TRUNCATE qms_ledgerentry", "ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    cur.execute(sql)
                app.rollback()
        assert ledger.verify().ok
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for out in outs:
            out.close()
        moto.stop()
        if web is not None and web.cookies.get("sessionid"):  # the login's session, kept in Redis by the nodes
            import redis

            with redis.Redis.from_url(common["QMS_CACHE_URL"]) as r:
                r.delete(f"qms:1:django.contrib.sessions.cache{web.cookies['sessionid']}")
        with connection.cursor() as c:
            c.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{app_role}"')
            c.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{app_role}"')
            c.execute(f'REVOKE ALL ON SCHEMA public FROM "{app_role}"')
            c.execute(f'DROP ROLE IF EXISTS "{app_role}"')
