#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Sources/Fuzz, Swift -sanitize=fuzzer with AddressSanitizer) into
# .build/fuzz and runs each on its seed corpus in Fuzz/corpus/HARNESS for SECONDS seconds
# (default 30), or for RUNS executions with FUZZ_RUNS=N. New interesting inputs go to a scratch
# copy of the corpus; a crash leaves crash-* reproducers in Fuzz/findings and fails the script.
# Replay a reproducer with a plain build: .build/release/Fuzz HARNESS FILE.
#
#     scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
harnesses=("$@")
[ "${#harnesses[@]}" -gt 0 ] || harnesses=(nifti safetensors model-json results-csv label-table pth)

# lld links it (gold fails on the instrumented objects); Fuzz/lld-toolset.json passes -use-ld=lld.
swift build -c release --product Fuzz --scratch-path .build/fuzz --toolset Fuzz/lld-toolset.json \
    -Xswiftc -sanitize=fuzzer -Xswiftc -sanitize=address -Xswiftc -DFUZZING \
    -Xcc -fsanitize=fuzzer-no-link -Xcc -fsanitize=address
bin=.build/fuzz/release/Fuzz
mkdir -p Fuzz/findings
status=0
for h in "${harnesses[@]}"; do
    work="$(mktemp -d)"
    cp -r "Fuzz/corpus/$h/." "$work/"
    limit=(-max_total_time="$seconds")
    [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
    echo "== $h"
    # detect_leaks=0: Foundation leaks a read buffer for empty files (readBytesFromFile), which is
    # not ours to fix; crashes, hangs (-timeout) and allocations past -rss_limit_mb still fail.
    if AGG2EXP_FUZZ_HARNESS="$h" ASAN_OPTIONS=detect_leaks=0 "$bin" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -artifact_prefix="Fuzz/findings/$h-" -print_final_stats=1 "$work" 2>"$work.log"; then
        grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -2
    else
        status=1
        tail -40 "$work.log"
        echo "FAIL: $h found a crash; reproducer in Fuzz/findings/" >&2
    fi
    rm -rf "$work" "$work.log"
    # The harness's scratch files (one per fuzzer process).
    rm -f /dev/shm/agg2exp-fuzz-* "${TMPDIR:-/tmp}"/agg2exp-fuzz-*
done
exit "$status"
