#!/bin/sh
# T20: gunicorn on loopback over a PostgreSQL database with the demo, locust headless (USERS
# secretaries for DURATION), then manage.py verify_ledger. Prints p50/p95, requests, errors and
# the verify result; locust's CSV files go to $OUT.
#   DATABASE_URL=postgres://qms:…@127.0.0.1:5432/qms_load sh bench/load/run.sh     # from the repository root
#   (the database is migrated and given the demo, `manage.py demo --no-history`, when empty)
#   USERS=50 DURATION=10m WORKERS=4 PORT=8766 OUT=var/load sh bench/load/run.sh
set -eu
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database of its own}"
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
USERS=${USERS:-50}
DURATION=${DURATION:-10m}
WORKERS=${WORKERS:-4}
PORT=${PORT:-8766}
OUT=${OUT:-var/load}
mkdir -p "$OUT"
export QMS_ENV="" ALLOWED_HOSTS=127.0.0.1 CELERY_BROKER_URL=""
"$PY" manage.py migrate -v0
"$PY" manage.py demo --no-history >"$OUT/demo.txt"
"$PY" manage.py load_procedures >>"$OUT/demo.txt"  # the procedures library (the demo loads it with its history)
"$PY" manage.py schedule >>"$OUT/demo.txt"  # the current periods' occurrences, as the daily job makes them
"$PY" manage.py verify_ledger >"$OUT/verify_before.txt" 2>&1 || { echo "verify_ledger fails before the load"; exit 1; }
"$PY" -m gunicorn qms.wsgi -w "$WORKERS" -b "127.0.0.1:$PORT" --log-level warning --access-logfile /dev/null \
  >"$OUT/gunicorn.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1)" 2>/dev/null && break
  sleep 0.3
done
"$BIN/locust" -f bench/load/locustfile.py --headless -u "$USERS" -r 5 -t "$DURATION" --host "http://127.0.0.1:$PORT" \
  --csv "$OUT/t20" --only-summary >"$OUT/locust.log" 2>&1 || true
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT
"$PY" - "$OUT/t20_stats.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
print(f"{'page':<32} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
for r in rows:
    print(f"{r['Name'][:32]:<32} {r['Request Count']:>8} {r['Failure Count']:>6} {r['50%']:>7} {r['95%']:>7} {r['99%']:>7}")
PY
grep -A20 "Error report" "$OUT/locust.log" | head -20 || true
if "$PY" manage.py verify_ledger >"$OUT/verify_after.txt" 2>&1; then echo "verify_ledger after the load: passes"; else echo "verify_ledger after the load: FAILS"; fi
tail -3 "$OUT/verify_after.txt"
