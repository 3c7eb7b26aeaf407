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

rm -rf "$OUT" && mkdir -p "$OUT/src"
git archive HEAD | tar -x -C "$OUT/src"
"$PY" bench/mutation.py configure "$SET" "$OUT/src/pyproject.toml"
cd "$OUT/src"

# 1. the mutants and which tests reach each function: mutmut makes both before it looks for the
#    mutants asked for, so asking for none that exists stops it right there
echo "$(date +%T) preparing the mutants and the test map ($SET)"
DATABASE_URL=$BASE/${NAME}_p1 "$MUTMUT" run --max-children 1 "no-such-mutant" >"$OUT/prepare.log" 2>&1 || true
"$PY" "$ROOT/bench/mutation.py" split "$PARTS" "$OUT/src" "$OUT/part"

# 2. the parts, side by side
pids=()
for k in $(seq 1 "$PARTS"); do
  cp -a "$OUT/src" "$OUT/part$k"
  (cd "$OUT/part$k" && DATABASE_URL=$BASE/${NAME}_p$k xargs -a "$OUT/part$k.txt" \
     "$MUTMUT" run --max-children 1 >"$OUT/run$k.log" 2>&1 || true) &
  pids+=($!)
done
echo "$(date +%T) $PARTS parts running: $OUT/run*.log"
wait "${pids[@]}"

# 3. the verdicts in one place, and the figures
parts=()
for k in $(seq 1 "$PARTS"); do parts+=("$OUT/part$k"); done
"$PY" "$ROOT/bench/mutation.py" merge "$OUT/src" "${parts[@]}"
echo "$(date +%T) done"
"$PY" "$ROOT/bench/mutation.py" summary "$OUT/src"
