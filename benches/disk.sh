#!/usr/bin/env bash
# Case 4 of the performance issue, one process per case for peak RSS:
# lines on disk per second and peak RSS above the idle process (VmHWM after
# the burst minus VmRSS before anything is built, as the bench prints them),
# ours vs fmt json + tracing-appender.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench disk --no-run 2>/dev/null
bin=$(ls -t target/release/deps/disk-* | grep -v '\.d$' | head -1)
printf '%-9s %-7s %12s %8s %14s\n' mode threads lines/s lost RSS_above_idle_MB
declare -A rate rss
for threads in 1 2; do
  for mode in appender ours; do
    sync  # write back the previous case's dirty pages first: each case starts alike
    out=$("$bin" "$mode" "$threads" --bench)
    r=$(sed -n 's/.*"lines_per_sec":\([0-9]*\).*/\1/p' <<<"$out")
    lost=$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' <<<"$out")
    idle=$(sed -n 's/.*"rss_idle_kb":\([0-9]*\).*/\1/p' <<<"$out")
    peak=$(sed -n 's/.*"rss_peak_kb":\([0-9]*\).*/\1/p' <<<"$out")
    kb=$(( peak - idle ))
    rate[$mode$threads]=$r; rss[$mode$threads]=$kb
    printf '%-9s %-7s %12s %8s %14.1f\n' "$mode" "$threads" "$r" "$lost" "$(echo "$kb/1024" | bc -l)"
  done
  printf 'threads=%s  lines/s ratio ours/appender: %.2fx   peak RSS above idle ratio: %.2fx\n' "$threads" \
    "$(echo "${rate[ours$threads]}/${rate[appender$threads]}" | bc -l)" \
    "$(echo "${rss[ours$threads]}/${rss[appender$threads]}" | bc -l)"
done
