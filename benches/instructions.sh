#!/usr/bin/env bash
# Instructions per event (callgrind) for cases 1 and 2 of benches/layer.rs,
# and case 2 with exemplars: on its counter (case 4), on its counter and its
# histogram (case 5); then per Redactor::redact call on the texts of
# benches/redact.rs:
# steady where times are not (a shared or busy machine). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo bench --bench instructions --no-run 2>/dev/null
bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
for case in 1 2 4 5; do
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect='instructions::run_events' "$bin" "$case" "$n" 2>&1)
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
  # run_events runs 1,000 warm-up events plus n.
  printf 'case %s: %s instructions per event\n' "$case" "$(( ir / (n + 1000) ))"
done
# Redactor::redact alone on the texts of benches/redact.rs.
for k in $(seq 0 $(( $("$bin" redact-count) - 1 ))); do
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect='instructions::run_redactions' "$bin" redact "$k" "$n" 2>&1)
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
  label=$(sed -n 's/^text: //p' <<<"$out")
  printf '%s: %s instructions per call\n' "$label" "$(( ir / n ))"
done
