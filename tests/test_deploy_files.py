"""The files of deploy/ as an operator installs them (docs/deploy.md): the nginx site passes
``nginx -t``, the systemd units pass ``systemd-analyze verify`` without a warning, the upload limit
at nginx matches the product's, and production settings pass ``check --deploy``."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ("qms-web.service", "qms-beat.service", "qms-worker@.service")


def _need(tool: str) -> str:
    path = shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.path.exists(p)), None)
    if path is None:
        if IN_CI:
            pytest.fail(f"CI=true 时必须安装 {tool}(.ci/services.sh)")
        pytest.skip(f"需要 {tool}")
    return path


def _site() -> str:
    return (DEPLOY / "nginx/qms.conf").read_text(encoding="utf-8")


def test_nginx_site_passes_nginx_t(tmp_path):
    nginx, openssl = _need("nginx"), _need("openssl")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=qms.example.org",
                    "-keyout", str(tmp_path / "qms.key"), "-out", str(tmp_path / "qms.crt")], check=True, capture_output=True)
    (tmp_path / "logs").mkdir()
    site = (_site().replace("/etc/qms/tls/", f"{tmp_path}/").replace("/var/log/nginx/", f"{tmp_path}/logs/"))
    (tmp_path / "qms.conf").write_text(site, encoding="utf-8")
    mime = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{}}
http {{
    {mime}
    access_log off;
    client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/qms.conf;
}}
""", encoding="utf-8")
    r = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr
    # a typing mistake in the site file is caught the same way
    (tmp_path / "qms.conf").write_text(site.replace("client_max_body_size 51m;", "client_max_body_size 51 m;"), encoding="utf-8")
    bad = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert bad.returncode != 0


def test_nginx_upload_limit_matches_the_products(settings):
    from qms.uploads import rules

    mib = int(re.search(r"client_max_body_size\s+(\d+)m;", _site()).group(1))
    files = int(rules()["max_files"]) * settings.QMS_MAX_UPLOAD_BYTES
    # the largest post the product accepts passes nginx; nothing much larger reaches a web node
    assert files <= mib * 2**20 <= files + 2 * 2**20, (mib, files)
    site = _site()
    assert re.search(r"location /media/ \{\s*return 404;", site), "上传文件不得由 nginx 按网址直接提供"
    for header in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert f"add_header {header}" in site and f"proxy_hide_header {header};" in site


def test_systemd_units_verify(tmp_path):
    analyze = _need("systemd-analyze")
    venv = Path(sys.executable).resolve().parent.parent if Path(sys.prefix, "bin/gunicorn").exists() else Path(sys.prefix)
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        assert "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text and "User=qms" in text
        text = text.replace("/opt/qms/.venv", str(Path(sys.prefix))).replace("/opt/qms", str(ROOT))
        (tmp_path / name.replace("@.", "@packs.")).write_text(text, encoding="utf-8")
    assert (venv / "bin/gunicorn").exists() or (Path(sys.prefix) / "bin/gunicorn").exists()
    r = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                       capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    # an unknown directive is reported (the check can fail)
    unit = tmp_path / "qms-web.service"
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert "NoNewPrivilege" in r.stdout + r.stderr


def test_production_settings_pass_check_deploy(tmp_path):
    env = {**os.environ, "QMS_ENV": "production", "SECRET_KEY": "k" * 20 + "-production-secret-key-of-fifty-chars",
           "ALLOWED_HOSTS": "qms.example.org", "QMS_BEHIND_PROXY": "1", "QMS_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
           "QMS_CACHE_URL": "redis://127.0.0.1:6379/1", "QMS_SESSIONS": "cache", "QMS_STORAGE": "s3",
           "AWS_STORAGE_BUCKET_NAME": "qms-files", "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000", "DEBUG": "0"}
    # the browser tests' switch (tests/e2e/conftest.py) is in this process's environment when they ran
    # first; a production server never has it (tests/test_security.py does the same)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    r = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    shown = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                            "from django.conf import settings as s; print(s.STORAGES['default']['BACKEND'], s.SESSION_ENGINE, "
                            "s.CACHES['default']['BACKEND'], s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    assert shown.stdout.split() == ["storages.backends.s3.S3Storage", "django.contrib.sessions.backends.cache",
                                    "django.core.cache.backends.redis.RedisCache", "True",
                                    "('HTTP_X_FORWARDED_PROTO',", "'https')"], shown.stdout + shown.stderr
    # the embedded default needs none of it
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("QMS_", "AWS_", "DATABASE_URL", "CELERY_"))}
    shown = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                            "from django.conf import settings as s; print(s.STORAGES['default']['BACKEND'], s.SESSION_ENGINE)"],
                           cwd=ROOT, env={**plain, "QMS_VAR_DIR": str(tmp_path / "plain")}, capture_output=True, text=True)
    assert shown.stdout.split() == ["django.core.files.storage.FileSystemStorage", "django.contrib.sessions.backends.db"]


def test_s3_settings_are_refused_without_a_bucket(tmp_path):
    env = {**os.environ, "QMS_STORAGE": "s3", "QMS_VAR_DIR": str(tmp_path)}
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    r = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in r.stderr


@contextlib.contextmanager
def s3_bucket(settings, bucket: str):
    """A bucket on a local S3-compatible server (moto) and the product's files stored there
    (QMS_STORAGE=s3) for the test; yields the boto3 client. The server stops afterwards."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        settings.QMS_STORAGE = "s3"
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": endpoint, "access_key": "t", "secret_key": "t",
            "region_name": "us-east-1", "addressing_style": "path", "file_overwrite": False}}}
        yield s3
    finally:
        server.stop()


def test_backup_and_restore_with_files_in_object_storage(tmp_path, settings, transactional_db):
    """With QMS_STORAGE=s3 ``backup`` copies the bucket's files with the database; ``restore`` puts back
    the backup's objects (a changed one kept aside first, a later one moved aside), the ledger head is
    the backup's and ``verify`` passes (reliability.md T23)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from qms import backup, ledger
    from qms.models import Unit, UnitKind
    from tests import factories

    settings.MEDIA_ROOT = tmp_path / "node-folder"
    with s3_bucket(settings, "qms-files") as s3:
        default_storage.save("records/会议记录.pdf", ContentFile(b"%PDF-1.4 minutes"))
        default_storage.save("packs/HX-2026.zip", ContentFile(b"PK pack"))
        tree = factories.small_tree()
        head = ledger.head()
        manifest = backup.backup(tmp_path / "b")
        assert set(manifest["files"]) >= {"media/records/会议记录.pdf", "media/packs/HX-2026.zip"}
        assert (tmp_path / "b" / "media" / "records" / "会议记录.pdf").read_bytes() == b"%PDF-1.4 minutes"
        # the system goes on: a unit, a changed object, a new one
        factories.unit("B9", UnitKind.BRANCH, parent=tree["general"], name="第九党支部")
        s3.put_object(Bucket="qms-files", Key="records/会议记录.pdf", Body=b"changed")
        default_storage.save("later.txt", ContentFile(b"after the backup"))

        result = backup.restore(tmp_path / "b")
        assert result.ok and ledger.head() == head and not Unit.objects.filter(code="B9").exists()
        body = lambda key: s3.get_object(Bucket="qms-files", Key=key)["Body"].read()  # noqa: E731
        assert body("records/会议记录.pdf") == b"%PDF-1.4 minutes" and body("packs/HX-2026.zip") == b"PK pack"
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="qms-files")["Contents"]}
        aside = result.media_set_aside
        assert aside.startswith("before-restore-") and "later.txt" not in keys
        assert body(f"{aside}later.txt") == b"after the backup" and body(f"{aside}records/会议记录.pdf") == b"changed"
        assert f"{aside}packs/HX-2026.zip" not in keys  # the backup's own object stayed where it was
        assert not settings.MEDIA_ROOT.exists()  # nothing on the node's own disk


def test_roster_files_between_preview_and_confirm_are_kept_in_object_storage(settings, db, tmp_path):
    """With QMS_STORAGE=s3 a roster file waiting for confirm is in the shared bucket, so the confirm
    may reach another web node than the preview; nothing is written to the node's own folder."""
    from qms import roster_pending
    from tests import factories

    settings.QMS_ROSTER_PENDING_DIR = tmp_path / "node-folder"
    with s3_bucket(settings, "qms-pending") as s3:
        user, other = factories.user("roster-a"), factories.user("roster-b")
        staged = roster_pending.stage(b"name,unit\n", user=user, filename="名单.csv")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="qms-pending")["Contents"])
        assert keys == [f"roster-pending/{staged.token}.data", f"roster-pending/{staged.token}.json"]
        assert not (tmp_path / "node-folder").exists()
        assert roster_pending.load(staged.token, user=other) is None
        pending, data = roster_pending.load(staged.token, user=user)
        assert data == b"name,unit\n" and pending.filename == "名单.csv"
        assert roster_pending.purge_expired(now=pending.uploaded + roster_pending.lifetime() * 2) == 1
        assert "Contents" not in s3.list_objects_v2(Bucket="qms-pending")
