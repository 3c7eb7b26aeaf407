"""Settings, all overridable from the environment.

Embedded default (no variables set): SQLite file in ``var/``, tasks run eagerly, DEBUG off
(``DEBUG=1`` turns it on for development: error pages then show tracebacks), static files
served by WhiteNoise, a secret key generated once and kept in ``var/secret_key``.
Production: set ``QMS_ENV=production``; then ``SECRET_KEY`` and ``ALLOWED_HOSTS`` are required.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("QMS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = os.environ.get("QMS_ENV", "").lower() == "production"


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("生产环境必须设置 SECRET_KEY 环境变量")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DEBUG", "0") == "1"  # never on by default: a 404 must not list the URL patterns
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver").split(",") if h]
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("生产环境必须设置 ALLOWED_HOSTS 环境变量")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "viewflow",
    "viewflow.workflow",
    "qms",
    "procedures",
    "workflows",
    "audits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the local stylesheet, scripts and fonts, without nginx
    "django.contrib.sessions.middleware.SessionMiddleware",
    "qms.i18n.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "qms.scoping.ScopeMiddleware",
    "qms.security.SecurityHeadersMiddleware",
    "qms.security.TamperAlertMiddleware",
    "qms.security.PasswordChangeMiddleware",  # a password set by a manager is changed first (qms/accounts.py)
    "qms.params.BadParameterMiddleware",  # last, so a bad query parameter is answered first (400 page)
]

ROOT_URLCONF = "qms.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qms.site.menu",
                "qms.site.demo_progress",
            ],
        },
    }
]
WSGI_APPLICATION = "qms.wsgi.application"

_DB_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'qms.sqlite3'}")

#: SQLite (the embedded default): seconds a connection waits for the write lock before "database is
#: locked". Writers queue behind a long write (a roster import) instead of failing at once.
SQLITE_BUSY_TIMEOUT = int(os.environ.get("QMS_SQLITE_TIMEOUT", "20"))


def database_settings(url: str) -> dict:
    """One ``DATABASES`` entry for ``url``.

    PostgreSQL connections are kept for a minute between requests (checked before reuse): a new
    connection per request costs the connect, the password exchange and a cold backend's
    catalogue caches on every page (docs/benchmarks.md §3). ``CONN_MAX_AGE=0`` turns it off.

    SQLite runs in WAL mode: readers read the last committed state while a write transaction is
    open, so a long roster import does not lock every page out ("database is locked") — with the
    default rollback journal a writer that spills its cache takes an exclusive lock on the whole
    file. Writers take the write lock when their transaction begins (``IMMEDIATE``), so two
    writers never deadlock on lock upgrades, and wait ``SQLITE_BUSY_TIMEOUT`` seconds for it.
    ``synchronous`` stays FULL (SQLite's default): a committed ledger entry survives a power cut.
    The WAL mode is stored in the file; the pragma on each connection makes an existing file switch.
    """
    db = dj_database_url.parse(
        url,
        conn_max_age=0 if url.startswith("sqlite") else int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {}).update({
            "timeout": SQLITE_BUSY_TIMEOUT,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL",
        })
    return db


DATABASES = {"default": database_settings(_DB_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# AUTH_PASSWORD_VALIDATORS: see the login-protection block below (口令复杂度 from the environment)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
#: ``make run``'s demo history, built in the background: its progress (qms/demo.py)
DEMO_PROGRESS_FILE = VAR_DIR / "demo-history.json"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise looks there too (empty until collectstatic)
#: served from the source folders (no collectstatic needed for ``make run``); behind nginx in
#: production, ``collectstatic`` into STATIC_ROOT and let nginx serve it (docs/operations.md)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"

# Uploads: bounded in memory and size (reliability.md T11).
QMS_MAX_UPLOAD_BYTES = int(os.environ.get("QMS_MAX_UPLOAD_BYTES", 5 * 1024 * 1024))
#: A TOML file replacing any of the input limits of qms/rules/limits.toml (text lengths, unpacked
#: size of Office/ZIP uploads); unset: the shipped defaults.
QMS_LIMITS_FILE = os.environ.get("QMS_LIMITS_FILE") or None
#: Roster files uploaded and previewed but not yet confirmed (qms/roster_pending.py): kept here,
#: one per token, until confirmed, discarded or expired ([roster] pending_hours in limits.toml).
QMS_ROSTER_PENDING_DIR = Path(os.environ.get("QMS_ROSTER_PENDING_DIR", VAR_DIR / "roster-pending"))
#: Worker processes for an evidence pack's layout (0: the CPUs, at most 4; 1: none). docs/operations.md
QMS_PACK_PROCESSES = int(os.environ.get("QMS_PACK_PROCESSES", "0"))
#: ... once the pack's parts hold this much HTML (0: any pack of two parts or more). bench/pack.py,
#: 2026-12-02, 2 processes against one: a 党支部's year (21 pages) 1.26× as fast, a 党总支's year
#: (99 pages) 1.41×; raise it where memory is short (docs/operations.md).
QMS_PACK_PARALLEL_FROM_BYTES = int(os.environ.get("QMS_PACK_PARALLEL_FROM_BYTES", "0"))
#: Seconds the builder waits for one part from a layout worker before it lays out the rest itself
#: (a stuck worker then costs time, never the pack): a part takes seconds.
QMS_PACK_PART_TIMEOUT = float(os.environ.get("QMS_PACK_PART_TIMEOUT", "300"))
#: The years a page, export or report can be asked about (qms/params.py): this product's default,
#: wide enough for any record a committee keeps in it (2000 is before any 党建 information system
#: it replaces) and far from the limits of dates (year 1 and 9999), beyond which a year is a typing
#: mistake or a probe and gets a 400 page instead of a server error.
QMS_YEARS = (2000, 2100)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 100

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if os.environ.get("QMS_BEHIND_PROXY") == "1" else None

# Celery: with no broker configured, tasks run eagerly so the embedded default still works.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "verify-ledger-nightly": {"task": "qms.verify_ledger", "schedule": 24 * 3600.0},
    "publish-due-versions": {"task": "procedures.publish_due", "schedule": 3600.0},
    "schedule-occurrences": {"task": "workflows.schedule", "schedule": 24 * 3600.0},
    "mark-missed-occurrences": {"task": "workflows.mark_missed", "schedule": 24 * 3600.0},
    "send-reminders": {"task": "workflows.send_reminders", "schedule": 24 * 3600.0},
    "send-recruitment-reminders": {"task": "workflows.send_recruitment_reminders", "schedule": 24 * 3600.0},
    "notify-dues-arrears": {"task": "workflows.notify_arrears", "schedule": 24 * 3600.0},
    "escalate-overdue-capa": {"task": "audits.escalate_overdue", "schedule": 24 * 3600.0},
    "raise-missed-targets": {"task": "audits.raise_missed_targets", "schedule": 24 * 3600.0},
    "escalate-overdue-campaign": {"task": "audits.campaign_escalate", "schedule": 24 * 3600.0},
    "notify-certification-audits": {"task": "audits.notify_certification_audits", "schedule": 24 * 3600.0},
    "reap-stale-packs": {"task": "audits.reap_stale_packs", "schedule": 60.0},
}
#: A background job (an evidence pack) with no heartbeat for this many seconds is taken for dead
#: and failed with the reason, so it can be retried (qms/jobs.py). This product's default: five
#: minutes — a heartbeat comes with every part laid out, every few seconds.
QMS_JOB_STALE_SECONDS = int(os.environ.get("QMS_JOB_STALE_SECONDS", "300"))

QMS_SEND_EMAIL = os.environ.get("QMS_SEND_EMAIL", "0") == "1"
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# An external auditor's link carries its credential in the path: every logger that writes request
# paths, and the console, cut it to its first characters (qms/log_filters.py, docs/operations.md).
# ``django.server`` (runserver's access log) keeps Django's own handler and format.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "qms.log_filters.MaskSecrets"}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_secrets"]},
        "django.server": {"class": "logging.StreamHandler", "level": "INFO", "formatter": "django.server",
                          "filters": ["mask_secrets"]},
    },
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False, "filters": ["mask_secrets"]},
        "django.request": {"filters": ["mask_secrets"]},
        "django.security.csrf": {"filters": ["mask_secrets"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# ------------------------------------------------------------------ 登录保护 (TRUST 3; reliability.md T12, T13)
# Sources: GB/T 22239-2019 (等保 2.0) 8.1.4.1 a) 口令复杂度并定期更换, b) 登录失败处理(限制非法登录次数、
# 登录连接超时自动退出), d) 双因素鉴别 (level 3; optional here). The numbers are this product's default
# (本系统默认), each overridable from the environment. qms/lockout.py, qms/otp.py, docs/operations.md.
INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp",
                   "django_otp.plugins.otp_static"]  # 恢复码 (recovery codes), stored as digests: qms/otp.py
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "django_otp.middleware.OTPMiddleware")  # request.user.is_verified()
MIDDLEWARE.insert(MIDDLEWARE.index("qms.security.PasswordChangeMiddleware"),
                  "qms.otp.SecondFactorMiddleware")  # 双因素: the roles of QMS_OTP_REQUIRED_ROLES verify first
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as django-axes asks: turns a lockout into its page
#: django-axes first: a locked-out username + address is refused before the password is checked.
#: Only logins through a web request count (the login form passes it); see qms.lockout.LockoutBackend.
AUTHENTICATION_BACKENDS = ["qms.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
#: 登录失败处理: after this many failed logins of one username from one address, that pair is locked
AXES_FAILURE_LIMIT = int(os.environ.get("QMS_LOGIN_FAILURE_LIMIT", "5"))
#: ... for this many minutes (or until a 体系管理员 unlocks it on 登录锁定 /accounts/lockouts/)
QMS_LOGIN_LOCKOUT_MINUTES = int(os.environ.get("QMS_LOGIN_LOCKOUT_MINUTES", "30"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=QMS_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful login clears that pair's failures
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lock ends at the time the page announced
AXES_LOCKOUT_CALLABLE = "qms.lockout.lockout_response"  # the login page with the Chinese message, HTTP 429
AXES_CLIENT_IP_CALLABLE = "qms.lockout.client_address"  # REMOTE_ADDR, or the proxy's address header (QMS_BEHIND_PROXY=1)
AXES_ENABLE_ADMIN = False  # no Django admin: the 体系管理员 unlocks on the product's page
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
#: 口令复杂度: the minimum length of a password (Django's validators, messages in Chinese: qms/accounts.py)
QMS_PASSWORD_MIN_LENGTH = int(os.environ.get("QMS_PASSWORD_MIN_LENGTH", "8"))
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "qms.accounts.MinimumLengthValidator", "OPTIONS": {"min_length": QMS_PASSWORD_MIN_LENGTH}},
    {"NAME": "qms.accounts.CommonPasswordValidator"},
    {"NAME": "qms.accounts.NumericPasswordValidator"},
    {"NAME": "qms.accounts.UserAttributeSimilarityValidator"},
]
#: 登录连接超时自动退出: a session ends after this many minutes without a request (every request
#: renews it: SESSION_SAVE_EVERY_REQUEST), and when the browser closes.
QMS_SESSION_IDLE_MINUTES = int(os.environ.get("QMS_SESSION_IDLE_MINUTES", "30"))
SESSION_COOKIE_AGE = QMS_SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
#: 双因素 (TOTP, django-otp): roles that must enter a code from their authenticator after the
#: password — "admin" (体系管理员), "auditor" (内审员 and 外部审核员), "officer" (书记/委员);
#: comma-separated; empty: optional for everyone (anyone may still enrol on 我的账号).
QMS_OTP_REQUIRED_ROLES = [r.strip() for r in os.environ.get("QMS_OTP_REQUIRED_ROLES", "").split(",") if r.strip()]
OTP_TOTP_ISSUER = os.environ.get("QMS_OTP_ISSUER", "党建质量管理体系")
# ---- 恢复码 (recovery codes of the authenticator, qms/otp.py) ----
#: how many one-time recovery codes a person receives with the authenticator, and on each
#: regeneration (本系统默认: 10, as the common authenticator services give)
QMS_OTP_RECOVERY_CODES = int(os.environ.get("QMS_OTP_RECOVERY_CODES", "10"))
# ---- Operations: backup/restore and external ledger checkpoints (docs/operations.md) ----
#: The key that signs ``manage.py ledger_checkpoint`` files (HMAC-SHA256): the environment
#: variable QMS_CHECKPOINT_KEY if set, else this file, created with mode 0600 when absent. It is
#: never stored in the database; in production keep it where the database administrators cannot read it.
QMS_CHECKPOINT_KEY_FILE = Path(os.environ.get("QMS_CHECKPOINT_KEY_FILE", VAR_DIR / "checkpoint_key"))

# ------------------------------------------------------------------ 生产部署: several machines (docs/deploy.md)
# Nothing is kept on a web node: sessions in the database (default) or the Redis cache, caches in
# Redis when a cache URL is set, uploaded and generated files in one shared storage — a local folder
# (default, MEDIA_ROOT; on several machines a shared mount) or S3-compatible object storage
# (MinIO, a cloud vendor's private object store) through django-storages. Files are always sent
# through the product's views, which check permission: the bucket stays private (no public URL).
#: "local" (default): MEDIA_ROOT; "s3": the bucket below
QMS_STORAGE = os.environ.get("QMS_STORAGE", "local").strip().lower()
if QMS_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured("QMS_STORAGE 只能是 local 或 s3")
_S3_OPTIONS = {
    "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", ""),
    "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,  # MinIO: http://minio.intranet:9000
    "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
    "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
    "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
    "location": os.environ.get("AWS_LOCATION", ""),  # a prefix inside the bucket
    "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE", "path"),  # MinIO and most private stores
    "default_acl": None,  # the bucket's own policy: private
    "querystring_auth": True,  # a URL, should one ever be asked for, is signed and short-lived
    "file_overwrite": False,  # a name taken gets a suffix, as on a local disk
    "verify": os.environ.get("AWS_S3_VERIFY", "1") != "0",  # "0": an intranet store with its own certificate
}
if QMS_STORAGE == "s3" and not _S3_OPTIONS["bucket_name"]:
    raise ImproperlyConfigured("QMS_STORAGE=s3 时必须设置 AWS_STORAGE_BUCKET_NAME")
STORAGES = {
    "default": ({"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _S3_OPTIONS} if QMS_STORAGE == "s3"
                else {"BACKEND": "django.core.files.storage.FileSystemStorage"}),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
#: Redis for caches (and sessions, below) shared by every web node: QMS_CACHE_URL, e.g. redis://10.0.0.5:6379/1
#: (a database other than the broker's). Unset: each process's own memory (one machine).
QMS_CACHE_URL = os.environ.get("QMS_CACHE_URL", "")
if QMS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": QMS_CACHE_URL,
                          "KEY_PREFIX": "qms", "TIMEOUT": 300}}
#: "db" (default): sessions in the database; "cache": in the Redis cache (needs QMS_CACHE_URL);
#: "cached_db": written to both, read from the cache.
QMS_SESSIONS = os.environ.get("QMS_SESSIONS", "db").strip().lower()
if QMS_SESSIONS not in ("db", "cache", "cached_db"):
    raise ImproperlyConfigured("QMS_SESSIONS 只能是 db、cache 或 cached_db")
if QMS_SESSIONS != "db" and not QMS_CACHE_URL:
    raise ImproperlyConfigured("会话存放在缓存中时必须设置 QMS_CACHE_URL(Redis)")
SESSION_ENGINE = f"django.contrib.sessions.backends.{QMS_SESSIONS}"
#: Celery queues: evidence packs (heavy: minutes of layout, much memory) on their own queue, so a
#: worker on another machine builds them while the light queue's reminders and nightly checks
#: never wait behind a pack (qms/celery.py routes them; deploy/qms-worker@.service runs one per queue).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("QMS_QUEUE_DEFAULT", "celery")
QMS_QUEUE_PACKS = os.environ.get("QMS_QUEUE_PACKS", "packs")
#: The tasks sent to QMS_QUEUE_PACKS; every other task goes to the default queue.
QMS_PACK_TASKS = ("audits.build_evidence_pack",)
CELERY_TASK_ROUTES = ("qms.celery.route_task",)
#: a worker started without -Q (one machine, ``celery -A qms worker``) consumes both queues
from kombu import Queue as _Queue  # noqa: E402

CELERY_TASK_QUEUES = [_Queue(CELERY_TASK_DEFAULT_QUEUE), _Queue(QMS_QUEUE_PACKS)]
#: Origins a form may be posted from besides the page's own, e.g. https://qms.example.org (comma-separated)
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# ---- 通知送达:邮件与群机器人 (qms/channels.py, qms/rules/notices.toml; docs/operations.md "通知与企业目录") ----
#: SMTP from the environment (Django's own names). With no EMAIL_HOST the console backend stays the
#: default: ``make run`` needs no mail server. QMS_SEND_EMAIL=1 turns the 邮件 channel on; each person
#: then keeps or turns off 邮件 on 我的账号 (no choice made yet = 邮件 when an address is on the login).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "0") == "1"
EMAIL_USE_SSL = os.environ.get("EMAIL_USE_SSL", "0") == "1"
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "党建质量管理体系 <noreply@localhost>")
if os.environ.get("EMAIL_HOST") and "EMAIL_BACKEND" not in os.environ:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
#: Group robots' addresses (private installations of 企业微信/钉钉 set their own): a robot given only its
#: key (企业微信) or access_token (钉钉) is sent to this base address with it.
QMS_WECOM_WEBHOOK_BASE = os.environ.get("QMS_WECOM_WEBHOOK_BASE", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
QMS_DINGTALK_WEBHOOK_BASE = os.environ.get("QMS_DINGTALK_WEBHOOK_BASE", "https://oapi.dingtalk.com/robot/send")
#: The product's own address, put before the links in 邮件 and robot messages ("" = links stay relative).
QMS_SITE_URL = os.environ.get("QMS_SITE_URL", "")
QMS_WEBHOOK_TIMEOUT = float(os.environ.get("QMS_WEBHOOK_TIMEOUT", "5"))
#: A failed delivery is tried again this many times, after 1, 2, 4 … × QMS_NOTIFY_BACKOFF_SECONDS
#: (本系统默认: 4 more tries over about 15 minutes, then 发送失败 on the 送达失败 page).
QMS_NOTIFY_RETRIES = int(os.environ.get("QMS_NOTIFY_RETRIES", "4"))
QMS_NOTIFY_BACKOFF_SECONDS = int(os.environ.get("QMS_NOTIFY_BACKOFF_SECONDS", "60"))
CELERY_BEAT_SCHEDULE["resend-deliveries"] = {"task": "qms.resend_deliveries", "schedule": 600.0}

# ---- 企业目录登录 (LDAP / Active Directory; qms/directory.py, docs/operations.md "通知与企业目录") ----
#: Off unless QMS_LDAP_URI is set (then the ``ldap`` extra must be installed). The directory proves who
#: signs in; a directory account is matched to a 党员 by QMS_LDAP_MATCH_ATTRIBUTE = the member's 工号; groups
#: grant nothing. Order: django-axes first, then the directory, then the local accounts.
QMS_LDAP_URI = os.environ.get("QMS_LDAP_URI", "")
QMS_LDAP_MATCH_ATTRIBUTE = os.environ.get("QMS_LDAP_MATCH_ATTRIBUTE", "employeeNumber")
if QMS_LDAP_URI:
    from qms.directory import ldap_settings

    globals().update(ldap_settings(os.environ))
    AUTHENTICATION_BACKENDS = [AUTHENTICATION_BACKENDS[0], "qms.directory_backend.DirectoryBackend",
                               *AUTHENTICATION_BACKENDS[1:]]
# ---- 数据接口 (REST API under /api/v1/: api/README.md) ----
# Django REST framework with per-user and per-integration tokens (api/models.py ApiToken), every
# error as JSON with a stable code and a Chinese message (api/errors.py), the OpenAPI 3 schema at
# /api/schema/ (drf-spectacular) and its docs page at /api/docs/ with local assets (sidecar).
INSTALLED_APPS += ["rest_framework", "drf_spectacular", "drf_spectacular_sidecar", "api"]
#: the largest JSON body the API reads (bytes); an upload may be as large as QMS_MAX_UPLOAD_BYTES
QMS_API_MAX_BODY_BYTES = int(os.environ.get("QMS_API_MAX_BODY_BYTES", 256 * 1024))
# a bulk import (/api/v1/imports/…) carries up to rules/limits.toml's 5,000 rows (~300 bytes a person);
# no more than Django reads into memory (DATA_UPLOAD_MAX_MEMORY_SIZE)
QMS_API_MAX_IMPORT_BYTES = min(int(os.environ.get("QMS_API_MAX_IMPORT_BYTES", 2 * 1024 * 1024)), DATA_UPLOAD_MAX_MEMORY_SIZE)
#: items on one page of a list (``?page_size=`` up to 200)
QMS_API_PAGE_SIZE = int(os.environ.get("QMS_API_PAGE_SIZE", "50"))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.LiveToken"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "PAGE_SIZE": QMS_API_PAGE_SIZE,
    "EXCEPTION_HANDLER": "api.errors.handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "党建质量管理体系 数据接口",
    "DESCRIPTION": "令牌在“数据接口令牌”页面创建(/api/tokens/),请求头 Authorization: Bearer 令牌。错误统一为 "
                   "{code, message, errors}。须电子签名的操作返回 403 signature_required。",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_errors"],
}
