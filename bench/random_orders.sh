#!/usr/bin/env bash
# T22 (by hand): the whole suite under several random orders (pytest-randomly), against the real
# services of .ci/services.sh, each order on the product's usual two processes. Prints one line per
# seed (passed / failed, time) and a summary; a failing seed is rerun by giving it alone:
#   sh bench/random_orders.sh 4242            # one seed
#   sh bench/random_orders.sh                 # ten seeds (about 20 minutes each on a 2-core machine)
# Logs: var/random-orders/<seed>.log
set -uo pipefail
cd "$(dirname "$0")/.."
export CI=true
# shellcheck source=/dev/null
source .ci/services.sh >/dev/null
seeds=("$@")
[ ${#seeds[@]} -eq 0 ] && seeds=(11 23 37 101 1009 2027 4242 7919 31337 65537)
mkdir -p var/random-orders
ok=0
for seed in "${seeds[@]}"; do
  start=$(date +%s)
  if make -s test PYTEST_ORDER="-p randomly" PYTEST_ARGS="--randomly-seed=$seed" \
       > "var/random-orders/$seed.log" 2>&1; then result="passed"; ok=$((ok + 1)); else result="FAILED"; fi
  summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed)" "var/random-orders/$seed.log" | tail -1)
  echo "seed $seed: $result in $(( $(date +%s) - start )) s — $summary"
done
echo "$ok/${#seeds[@]} orders green"
