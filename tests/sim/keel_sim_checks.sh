#!/usr/bin/env bash
# Process-level checks of keel-sim, run by ctest:
#   determinism <keel-sim>            the same seed in two processes gives the same trace hash
#   sweep <keel-sim> A..B             every seed in the range passes
#   planted <keel-sim> NAME MAX       a sweep over seeds 1..MAX with the bug planted fails
#                                     (prints how many seeds it took)
set -euo pipefail
mode=$1
sim=$2
case "$mode" in
  determinism)
    a=$("$sim" run --seed 4242 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    b=$("$sim" run --seed 4242 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    c=$("$sim" run --seed 4243 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    echo "seed 4242: $a / $b; seed 4243: $c"
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]
    ;;
  sweep)
    "$sim" sweep --seeds "$3" --jobs 2 --safety-ms 5000 --liveness-ms 10000
    ;;
  planted)
    set +e
    out=$("$sim" sweep --seeds "1..$4" --jobs 2 --first-failure --safety-ms 5000 --liveness-ms 10000 --plant-bug "$3")
    status=$?
    set -e
    echo "$out" | grep -E '^(sweep|first_failing_seed)'
    if [ "$status" -ne 1 ] || ! echo "$out" | grep -q '^first_failing_seed='; then
      echo "planted bug $3 was NOT caught within $4 seeds"
      exit 1
    fi
    echo "planted bug $3 caught at seed $(echo "$out" | sed -n 's/^first_failing_seed=//p')"
    ;;
  *)
    echo "usage: $0 determinism|sweep|planted ..." >&2
    exit 2
    ;;
esac
