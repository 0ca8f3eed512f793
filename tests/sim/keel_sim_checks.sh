#!/usr/bin/env bash
# Process-level checks of keel-sim, run by ctest:
#   determinism <keel-sim>            the same seed in two processes gives the same trace hash,
#                                     with or without a trace written
#   sweep <keel-sim> A..B             every seed in the range passes
#   planted <keel-sim> NAME MAX       a sweep over seeds 1..MAX with the bug planted fails
#                                     (prints how many seeds it took)
#   shrink <keel-sim>                 a failing seed shrinks to a smaller run whose printed
#                                     replay command fails with the same trace hash
#   history <keel-sim> <keel-check>   keel-check on the --history of a run gives the run's
#                                     verdict: linearizable for passing seeds, not for a seed
#                                     that apply-twice breaks
#   history-catches <keel-sim> NAME MAX   with the engine's own checks off, the clients'
#                                     history alone exposes planted engine bug NAME within
#                                     seeds 1..MAX
#   worker-crash <keel-sim>           a sweep whose worker dies at one seed reports that seed
#                                     as crashed and still runs every other seed
#   bench <keel-sim>                  bench --repeat prints each repetition and a summary, and
#                                     fails (exit 1) when a benched run fails its checks
set -euo pipefail
mode=$1
sim=$2
case "$mode" in
  determinism)
    a=$("$sim" run --seed 4242 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    b=$("$sim" run --seed 4242 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    c=$("$sim" run --seed 4243 --quiet --safety-ms 5000 --liveness-ms 10000 | grep -o 'trace_hash=[0-9a-f]*')
    trace=$(mktemp)
    d=$("$sim" run --seed 4242 --quiet --safety-ms 5000 --liveness-ms 10000 --trace "$trace" | grep -o 'trace_hash=[0-9a-f]*')
    lines=$(grep -c ' history {:process ' "$trace" || true)
    rm -f "$trace"
    echo "seed 4242: $a / $b / with a trace of $lines history lines: $d; seed 4243: $c"
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$d" ] && [ "$a" != "$c" ] && [ "$lines" -gt 0 ]
    ;;
  bench)
    out=$("$sim" bench --timing production --seconds 2 --repeat 2)
    echo "$out"
    [ "$(echo "$out" | grep -c '^bench timing=production runs=3 ')" -eq 2 ] || { echo "expected 2 bench lines"; exit 1; }
    echo "$out" | grep -q '^bench_summary timing=production repeats=2 sim_per_wall_best=[0-9]* median=[0-9]* worst=[0-9]*$' \
      || { echo "no summary line"; exit 1; }
    set +e
    planted=$("$sim" bench --seconds 5 --plant-bug apply-twice)
    status=$?
    set -e
    echo "$planted" | head -3
    [ "$status" -eq 1 ] || { echo "a failing benched run must exit 1, got $status"; exit 1; }
    echo "$planted" | grep -q '^bench seed [0-9]* failed: ' || { echo "the failure was not reported"; exit 1; }
    ;;
  worker-crash)
    set +e
    out=$("$sim" sweep --seeds 1..12 --jobs 2 --safety-ms 1000 --liveness-ms 5000 --crash-worker-at-seed 5 2>&1)
    status=$?
    set -e
    echo "$out"
    [ "$status" -eq 1 ] || { echo "expected exit 1, got $status"; exit 1; }
    echo "$out" | grep -q '^FAIL seed=5 the simulation process crashed' || { echo "seed 5 not reported as crashed"; exit 1; }
    [ "$(echo "$out" | grep -c '^FAIL seed=')" -eq 1 ] || { echo "expected exactly one failing seed"; exit 1; }
    echo "$out" | grep -q ' runs=11 failed=1 worker_crashes=1 ' || { echo "the other 11 seeds did not all run"; exit 1; }
    # With --first-failure the crash stops the hand-out of seeds, and every seed below the
    # crashed one still runs to its verdict.
    set +e
    out=$("$sim" sweep --seeds 1..12 --jobs 2 --first-failure --safety-ms 1000 --liveness-ms 5000 --crash-worker-at-seed 5 2>&1)
    status=$?
    set -e
    echo "$out"
    [ "$status" -eq 1 ] || { echo "expected exit 1, got $status"; exit 1; }
    echo "$out" | grep -q '^first_failing_seed=5$' || { echo "seed 5 not reported as the first failure"; exit 1; }
    runs=$(echo "$out" | sed -n 's/.* runs=\([0-9]*\) .*/\1/p')
    # Seeds 1..4 run; the other worker may take a few more before the crash is noticed.
    [ "$runs" -ge 4 ] && [ "$runs" -le 11 ] || { echo "expected seeds 1..4 and fewer than all 11 others to run, got runs=$runs"; exit 1; }
    echo "$out" | grep -q ' failed=1 ' || { echo "only seed 5 may fail"; exit 1; }
    # One worker: nothing is handed out after the crash (runs=4, seeds 1..4), and nothing after
    # a failing verdict either (runs = the first failing seed's number, in a range from 1).
    set +e
    out=$("$sim" sweep --seeds 1..12 --jobs 1 --first-failure --safety-ms 1000 --liveness-ms 5000 --crash-worker-at-seed 5 2>&1)
    set -e
    echo "$out" | grep -q ' runs=4 failed=1 worker_crashes=1 ' || { echo "$out"; echo "seeds after the crash ran"; exit 1; }
    set +e
    out=$("$sim" sweep --seeds 1..400 --jobs 1 --first-failure --safety-ms 5000 --liveness-ms 10000 --plant-bug commit-old-term 2>&1)
    set -e
    echo "$out" | grep -E '^(sweep|first_failing_seed)'
    failing=$(echo "$out" | sed -n 's/^first_failing_seed=//p')
    [ -n "$failing" ] || { echo "the planted bug was not caught"; exit 1; }
    echo "$out" | grep -q " runs=$failing failed=1 " || { echo "seeds after the first failure ran"; exit 1; }
    ;;
  sweep)
    # The safety-phase length is drawn from each seed (1 s to 40 s): short and long runs.
    "$sim" sweep --seeds "$3" --jobs 2 --safety-ms seed --liveness-ms 10000
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
  shrink)
    seed=$("$sim" sweep --seeds 1..2000 --jobs 2 --first-failure --safety-ms 5000 --liveness-ms 10000 \
             --plant-bug commit-old-term | sed -n 's/^first_failing_seed=//p' || true)
    [ -n "$seed" ] || { echo "no failing seed to shrink"; exit 1; }
    set +e
    out=$("$sim" run --seed "$seed" --safety-ms 5000 --liveness-ms 10000 --plant-bug commit-old-term --shrink)
    status=$?
    set -e
    echo "$out"
    [ "$status" -eq 1 ] || { echo "shrink did not end on a failing run"; exit 1; }
    shrunk=$(echo "$out" | grep -o 'trace_hash=[0-9a-f]*' | head -1)
    replay=$(echo "$out" | sed -n 's/^replay: keel-sim //p' | sed 's/ --trace trace.txt//')
    # shellcheck disable=SC2086
    replayed=$("$sim" $replay --quiet | grep -o 'trace_hash=[0-9a-f]*' || true)
    echo "shrunk: $shrunk replayed: $replayed"
    [ -n "$shrunk" ] && [ "$shrunk" = "$replayed" ]
    ;;
  history)
    check=$3
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    for seed in 11 12 13; do
      verdict=$("$sim" run --seed "$seed" --quiet --safety-ms 5000 --liveness-ms 10000 \
                  --history "$dir/h.edn" | grep -o 'history=[a-z-]*')
      report=$("$check" --model kvstate "$dir/h.edn" | head -1)
      echo "seed $seed: run says $verdict; keel-check: $report"
      [ "$verdict" = "history=linearizable" ] && [[ "$report" == LINEARIZABLE* ]]
    done
    seed=$("$sim" sweep --seeds 1..2000 --jobs 2 --first-failure --safety-ms 5000 --liveness-ms 10000 \
             --plant-bug apply-twice | sed -n 's/^first_failing_seed=//p' || true)
    [ -n "$seed" ] || { echo "apply-twice was not caught"; exit 1; }
    set +e
    verdict=$("$sim" run --seed "$seed" --quiet --safety-ms 5000 --liveness-ms 10000 --plant-bug apply-twice \
                --history "$dir/h.edn" | grep -o 'history=[a-z-]*')
    "$check" --model kvstate "$dir/h.edn" > "$dir/report.txt"
    status=$?
    set -e
    echo "apply-twice seed $seed: run says $verdict, keel-check exit $status: $(head -1 "$dir/report.txt")"
    [ "$verdict" = "history=not-linearizable" ] && [ "$status" -eq 1 ]
    ;;
  history-catches)
    set +e
    # Every seed of the range runs (no --first-failure): a seed may fail some other way first
    # (liveness, diverging states), and the claim is that some history exposes the bug.
    out=$("$sim" sweep --seeds "1..$4" --jobs 2 --safety-ms 5000 --liveness-ms 10000 \
            --no-engine-checks --plant-bug "$3")
    set -e
    echo "$out" | grep -E '^sweep'
    seed=$(echo "$out" | sed -n 's/^FAIL seed=\([0-9]*\) history not linearizable.*/\1/p' | head -1 || true)
    [ -n "$seed" ] || { echo "with engine checks off, no history exposed $3 within $4 seeds"; exit 1; }
    echo "planted bug $3 exposed by a history at seed $seed"
    ;;
  *)
    echo "usage: $0 determinism|sweep|planted|shrink|history|history-catches ..." >&2
    exit 2
    ;;
esac
