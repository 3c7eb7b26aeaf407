"""gunicorn for the product (docs/deploy.md): ``gunicorn -c deploy/gunicorn.conf.py qms.wsgi:application``.

Every value can be set from the environment (``/etc/qms/qms.env`` under systemd), so one file
serves every web node. nginx in front buffers uploads and slow clients; gunicorn's sync workers
then only ever see whole requests.
"""
import multiprocessing
import os

#: where nginx reaches this node: a loopback port on the same machine, or the node's intranet address
bind = os.environ.get("QMS_BIND", "127.0.0.1:8000").split(",")
#: sync workers: 2 per CPU + 1 (gunicorn's rule of thumb), at most 9 unless set
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9)))
worker_class = "sync"
#: a page (or an export) that takes longer is cut off and logged; evidence packs are built by Celery, not here
timeout = int(os.environ.get("QMS_WEB_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
#: a worker is replaced after this many requests (bounded memory over months of uptime)
max_requests = int(os.environ.get("QMS_WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
#: the X-Forwarded-Proto of these addresses (nginx) is trusted; Django trusts it with QMS_BEHIND_PROXY=1
forwarded_allow_ips = os.environ.get("QMS_FORWARDED_ALLOW_IPS", "127.0.0.1")
#: access and error logs to standard output: the journal under systemd (journalctl -u qms-web)
accesslog = os.environ.get("QMS_WEB_ACCESS_LOG", "-")
errorlog = os.environ.get("QMS_WEB_ERROR_LOG", "-")
loglevel = os.environ.get("QMS_WEB_LOG_LEVEL", "info")
# no query string; an external auditor's link in the path is cut to its first characters by the
# filter QmsConfig.ready installs on gunicorn.access (qms/log_filters.py)
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(L)ss'
#: heartbeat files in memory, not on a disk that may stall
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "qms-web"
