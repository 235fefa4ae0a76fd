#!/usr/bin/env bash
# Case 4 of the performance issue, one process per case for peak RSS:
# lines on disk per second and max RSS, ours vs fmt json + tracing-appender.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench disk --no-run 2>/dev/null
bin=$(ls -t target/release/deps/disk-* | grep -v '\.d$' | head -1)
printf '%-9s %-7s %12s %8s %10s\n' mode threads lines/s lost maxRSS_MB
declare -A rate rss
for threads in 1 2; do
  for mode in appender ours; do
    sync  # write back the previous case's dirty pages first: each case starts alike
    out=$( { /usr/bin/time -v "$bin" "$mode" "$threads" --bench; } 2>&1 )
    r=$(sed -n 's/.*"lines_per_sec":\([0-9]*\).*/\1/p' <<<"$out")
    lost=$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' <<<"$out")
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' <<<"$out")
    rate[$mode$threads]=$r; rss[$mode$threads]=$kb
    printf '%-9s %-7s %12s %8s %10.1f\n' "$mode" "$threads" "$r" "$lost" "$(echo "$kb/1024" | bc -l)"
  done
  printf 'threads=%s  lines/s ratio ours/appender: %.2fx   peak RSS ratio: %.2fx\n' "$threads" \
    "$(echo "${rate[ours$threads]}/${rate[appender$threads]}" | bc -l)" \
    "$(echo "${rss[ours$threads]}/${rss[appender$threads]}" | bc -l)"
done
