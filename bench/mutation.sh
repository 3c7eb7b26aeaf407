#!/usr/bin/env bash
# T21: mutation testing (mutmut 3) of what is committed (HEAD), in a scratch copy under
# var/mutation/SET/ — the working tree gets no mutants/ folder.
#   DATABASE_URL=postgres://qms:…@127.0.0.1:5432/qms_mut bash bench/mutation.sh [core|fsm]
#   core: the ledger, the permission matrix and scoping (pyproject.toml's [tool.mutmut]);
#   fsm:  the state machines' models (bench/mutation.py lists the files and the tests).
# Every mutant runs only the tests that reach the mutated function, against a PostgreSQL test
# database built once and reused (--reuse-db). The mutants are dealt into PARTS parts (default:
# the number of processors), each run by its own mutmut on its own database (<name>_p1, …), so
# that no part's transactional tests meet another's rows. Prints the counts by module and
# outcome and the score, killed / (killed + survived + no test); the mutants left alive are
# listed in var/mutation/SET/survived.txt (`cd var/mutation/SET/src && mutmut show NAME`).
# A run cut short (a machine restarted) is taken up again with RESUME=1: the same scratch copy
# (the commit it was made from is in var/mutation/SET/commit), each part running only the mutants
# of its list that have no verdict yet.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database of its own}"
SET=${1:-core}
ROOT=$(pwd)
PY=${PY:-$ROOT/.venv/bin/python}
MUTMUT=$(dirname "$PY")/mutmut
PARTS=${PARTS:-$(nproc)}
OUT=$ROOT/var/mutation/$SET
BASE=${DATABASE_URL%/*}
NAME=${DATABASE_URL##*/}
export CELERY_BROKER_URL=""

if [ "${RESUME:-0}" = 1 ]; then
  [ -d "$OUT/part1" ] || { echo "nothing to resume in $OUT" >&2; exit 1; }
  PARTS=$(find "$OUT" -maxdepth 1 -name 'part*.txt' ! -name '*.left.txt' | wc -l)
  echo "$(date +%T) resuming $SET at commit $(cat "$OUT/commit") in $PARTS parts"
else
  rm -rf "$OUT" && mkdir -p "$OUT/src"
  git rev-parse HEAD >"$OUT/commit"
  git archive HEAD | tar -x -C "$OUT/src"
  "$PY" bench/mutation.py configure "$SET" "$OUT/src/pyproject.toml"
  cd "$OUT/src"

  # 1. the mutants and which tests reach each function: mutmut makes both before it looks for the
  #    mutants asked for, so asking for none that exists stops it right there
  echo "$(date +%T) preparing the mutants and the test map ($SET)"
  DATABASE_URL=$BASE/${NAME}_p1 "$MUTMUT" run --max-children 1 "no-such-mutant" >"$OUT/prepare.log" 2>&1 || true
  "$PY" "$ROOT/bench/mutation.py" split "$PARTS" "$OUT/src" "$OUT/part"
  for k in $(seq 1 "$PARTS"); do cp -a "$OUT/src" "$OUT/part$k"; done
fi

# 2. the parts, side by side, each on the mutants of its list still without a verdict (all of
#    them on a fresh run: named mutants are always run again, so a resumed part names only those)
pids=()
for k in $(seq 1 "$PARTS"); do
  "$PY" "$ROOT/bench/mutation.py" left "$OUT/part$k" "$OUT/part$k.txt" >"$OUT/part$k.left.txt"
  [ -s "$OUT/part$k.left.txt" ] || continue
  (cd "$OUT/part$k" && DATABASE_URL=$BASE/${NAME}_p$k xargs -a "$OUT/part$k.left.txt" \
     "$MUTMUT" run --max-children 1 >>"$OUT/run$k.log" 2>&1 || true) &
  pids+=($!)
done
echo "$(date +%T) ${#pids[@]} of $PARTS parts running: $OUT/run*.log"
[ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"

# 3. the verdicts in one place, and the figures
parts=()
for k in $(seq 1 "$PARTS"); do parts+=("$OUT/part$k"); done
"$PY" "$ROOT/bench/mutation.py" merge "$OUT/src" "${parts[@]}"
echo "$(date +%T) done (commit $(cat "$OUT/commit"))"
"$PY" "$ROOT/bench/mutation.py" summary "$OUT/src"
