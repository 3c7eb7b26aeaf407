#!/usr/bin/env bash
# Install (Debian 12, as root) and start the real services the suite runs against:
# PostgreSQL 15 and Redis on loopback. Source it: it exports DATABASE_URL and CELERY_BROKER_URL.
# Idempotent: safe to run again on a machine where they already run.
set -euo pipefail

PG_USER=${PG_USER:-qms}
PG_PASS=${PG_PASS:-qms-ci-pass}
PG_DB=${PG_DB:-qms}

need=""
for p in postgresql redis-server; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASS' CREATEDB CREATEROLE;
  END IF;
END \$\$;
SQL
runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 \
  || runuser -u postgres -- createdb -O "$PG_USER" "$PG_DB"

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# ---- Production deployment files (tests/test_deploy_files.py, docs/deploy.md): `nginx -t` on the
# site file and `systemd-analyze verify` on the units need nginx and systemd installed (not running).
need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
# ---- end of the deployment block
# ---- 企业目录登录 (tests/test_ldap.py): OpenLDAP's slapd and the headers python-ldap compiles against.
# The test starts and stops its own slapd (generated configuration, a temporary folder, a loopback port);
# the Debian service itself is not used. Installed non-interactively (debconf's defaults).
ldap_need=""
for p in slapd ldap-utils libldap2-dev libsasl2-dev; do dpkg -s "$p" >/dev/null 2>&1 || ldap_need="$ldap_need $p"; done
if [ -n "$ldap_need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $ldap_need >/dev/null
fi

export DATABASE_URL="postgres://$PG_USER:$PG_PASS@127.0.0.1:5432/$PG_DB"
export CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
echo "PostgreSQL $ver 与 Redis 已就绪:DATABASE_URL=$DATABASE_URL CELERY_BROKER_URL=$CELERY_BROKER_URL"
