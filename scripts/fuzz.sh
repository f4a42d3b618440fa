#!/usr/bin/env bash
# Fuzzing, outside the CI gate (libFuzzer through cargo-fuzz, on the nightly toolchain):
#
#   ./scripts/fuzz.sh                 # a 30-second smoke run of every target
#   ./scripts/fuzz.sh 600             # ten minutes each (the figures in SECURITY.md)
#   ./scripts/fuzz.sh 60 config       # some targets only
#
# Targets (fuzz/fuzz_targets): stripe_signature, stripe_event, config, mapping_template,
# vendor_webhooks. Seeds are in fuzz/corpus/<target>; what a run finds is added there, and a
# crash is saved under fuzz/artifacts/<target> and fails the run. Each target's last libFuzzer
# lines (executions, coverage) are printed, and its whole log kept in fuzz/logs/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(stripe_signature stripe_event config mapping_template vendor_webhooks)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    echo "== $t: ${secs}s"
    # Seeds are copied so the committed corpus stays small; findings go to the work corpus.
    mkdir -p "fuzz/work/$t"
    cp -n fuzz/corpus/"$t"/* "fuzz/work/$t/" 2>/dev/null || true
    if ! cargo +nightly fuzz run "$t" "fuzz/work/$t" -- \
            -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
            > "fuzz/logs/$t.log" 2>&1; then
        tail -n 40 "fuzz/logs/$t.log"
        echo "fuzz.sh: $t failed (crash saved under fuzz/artifacts/$t)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov:' "fuzz/logs/$t.log" | tail -n 3
done
