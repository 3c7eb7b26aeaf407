#!/bin/sh
# T21: mutation testing (mutmut 3, configured in pyproject.toml [tool.mutmut]) of the ledger
# (qms/ledger.py), the permission matrix (qms/permissions.py) and scoping (qms/scoping.py).
# Every mutant runs only the tests that reach the mutated function, against a PostgreSQL test
# database built once and reused (pytest-django --reuse-db): without it each forked child
# migrates a database of its own within mutmut's time budget, and nearly every mutant "times out".
#   DATABASE_URL=postgres://qms:…@127.0.0.1:5432/qms_mut sh bench/mutation.sh      # from the repository root
# Prints the counts by outcome and module and the score, killed / (killed + survived + no test);
# the surviving mutants are listed in var/mutation/survived.txt (`mutmut show NAME` shows one).
set -eu
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database of its own}"
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
OUT=${OUT:-var/mutation}
mkdir -p "$OUT"
export CELERY_BROKER_URL=""
rm -rf mutants
"$BIN/mutmut" run --max-children "${CHILDREN:-1}" >"$OUT/run.log" 2>&1 || true
"$BIN/mutmut" results --all true >"$OUT/results.txt" 2>/dev/null || "$BIN/mutmut" results >"$OUT/results.txt"
"$PY" - "$OUT" <<'PY'
import collections, re, sys
out = sys.argv[1]
rows = [re.match(r"\s*(\S+?)__mutmut_\d+:\s*(.+)", line) for line in open(f"{out}/results.txt", encoding="utf-8")]
rows = [(m[1], m[2].strip()) for m in rows if m]
by = collections.Counter((name.rsplit(".", 1)[0].replace(".x_", ".").split(".x")[0], status) for name, status in rows)
modules = sorted({m for m, _ in by})
statuses = sorted({s for _, s in by})
print(f"{'module':<20}" + "".join(f"{s:>12}" for s in statuses) + f"{'score':>8}")
for mod in modules:
    killed = by[(mod, "killed")]
    scored = killed + by[(mod, "survived")] + by[(mod, "no tests")]
    print(f"{mod:<20}" + "".join(f"{by[(mod, s)]:>12}" for s in statuses) + f"{killed / scored:>8.0%}" if scored else "")
with open(f"{out}/survived.txt", "w", encoding="utf-8") as f:
    f.writelines(f"{name}: {status}\n" for name, status in rows if status in ("survived", "no tests"))
PY
