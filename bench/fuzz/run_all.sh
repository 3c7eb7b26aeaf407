#!/bin/sh
# T19: the three harnesses one after another, MINUTES each (default 20: 3 × 20 = 60 min on one
# core), at low priority. A harness that stops on a finding is started again on its corpus
# until its time is used; findings go to $OUT/<target>/crash-*, logs to $OUT/<target>-<n>.log.
#   sh bench/fuzz/run_all.sh            # from the repository root
#   MINUTES=1 sh bench/fuzz/run_all.sh  # a smoke run
set -u
PY=${PY:-.venv/bin/python}
MINUTES=${MINUTES:-20}
OUT=${OUT:-var/fuzz}
for target in ${TARGETS:-upload canonical verify}; do
  mkdir -p "$OUT/$target" "bench/fuzz/corpus/$target"
  case $target in
    upload) extra="-dict=bench/fuzz/upload.dict" ;;
    *) extra="-len_control=0 -max_len=1024" ;;
  esac
  end=$(( $(date +%s) + MINUTES * 60 ))
  n=0
  while [ $(( end - $(date +%s) )) -gt 5 ]; do
    n=$((n + 1))
    left=$(( end - $(date +%s) ))
    nice -n 10 "$PY" "bench/fuzz/fuzz_$target.py" $extra -max_total_time="$left" -print_final_stats=1 \
      -artifact_prefix="$OUT/$target/" "bench/fuzz/corpus/$target" >"$OUT/$target-$n.log" 2>&1
    echo "$target run $n ended (exit $?) at $(date -u +%H:%M:%S)"
  done
done
