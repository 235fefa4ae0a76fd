#!/usr/bin/env bash
# `evt-telemetry stats --by evt,meta.code` against the equivalent jq, side by
# side in one run, on a generated 1,000,000-line file (~246 MB) of the
# pipeline catalogue. Prints elapsed time and max RSS of each (/usr/bin/time -v),
# the speed ratio, and checks both give the same counts. Memory stays constant:
# the CLI's max RSS is also measured on a file a tenth the size. Then memory
# bounds: about one group per line (`--by ts,evt`) as a table and as
# `--json` (the JSON must stay within 2x the table's memory), and a 256 MB
# NUL-filled unterminated tail (skipped at the line cap, never buffered).
#
#   benches/cli_vs_jq.sh            # LINES=1000000 by default
#   LINES=200000 benches/cli_vs_jq.sh
#
# Needs jq (Debian: apt-get install -y jq) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-1000000}
WORK=${WORK:-target/cli-bench}
JQ_FILTER='reduce inputs as $e ({}; .[[$e.evt, $e.meta.code] | tostring] += 1)'

for tool in jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

cargo build --quiet --release --features cli --bin evt-telemetry --example gen_events
rm -rf "$WORK/big" "$WORK/small"
mkdir -p "$WORK"
target/release/examples/gen_events --dir "$WORK/big" --lines "$LINES" --interval-ms 40 --seed 42
target/release/examples/gen_events --dir "$WORK/small" --lines $((LINES / 10)) --interval-ms 40 --seed 42
FILE=$(ls "$WORK"/big/events-*.jsonl)
[ "$(ls "$WORK"/big | wc -l)" -eq 1 ] || { echo "expected one day file in $WORK/big" >&2; exit 1; }
cat "$FILE" >/dev/null # warm the page cache for both tools alike

# Runs a command under /usr/bin/time -v; prints "seconds max_rss_kb".
measure() {
    local out=$1
    shift
    /usr/bin/time -v "$@" >"$out" 2>"$out.time"
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; secs = s }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.2f %d\n", secs, rss }' "$out.time"
}

CLI=target/release/evt-telemetry
read -r cli_s cli_kb < <(measure "$WORK/cli.out" "$CLI" stats --by evt,meta.code --dir "$WORK/big")
read -r jq_s jq_kb < <(measure "$WORK/jq.out" jq -n -c "$JQ_FILTER" "$FILE")
read -r small_s small_kb < <(measure "$WORK/cli-small.out" "$CLI" stats --by evt,meta.code --dir "$WORK/small")

# One group per line: the table and the streamed --json document.
read -r many_s many_kb < <(measure "$WORK/many.out" "$CLI" stats --by ts,evt --dir "$WORK/big")
read -r manyj_s manyj_kb < <(measure "$WORK/manyj.out" "$CLI" stats --by ts,evt --json --dir "$WORK/big")
groups=$(($(wc -l <"$WORK/many.out") - 1))
# A crash-left NUL tail after a few good lines.
rm -rf "$WORK/nul" && mkdir -p "$WORK/nul"
head -n 1000 "$FILE" >"$WORK/nul/events-2025-10-06.jsonl"
head -c $((256 * 1024 * 1024)) /dev/zero >>"$WORK/nul/events-2025-10-06.jsonl"
read -r nul_s nul_kb < <(measure "$WORK/nul.out" "$CLI" stats --dir "$WORK/nul")

# Same counts? Normalise both to sorted "evt<TAB>code<TAB>count" lines.
"$CLI" stats --by evt,meta.code --dir "$WORK/big" --json |
    jq -r '.groups[] | [.key.evt, (.key["meta.code"] // "null"), .count] | @tsv' | sort >"$WORK/cli.tsv"
jq -r 'to_entries[] | (.key | fromjson) as $k | [$k[0], ($k[1] // "null"), .value] | @tsv' "$WORK/jq.out" |
    sort >"$WORK/jq.tsv"
if diff -q "$WORK/cli.tsv" "$WORK/jq.tsv" >/dev/null; then same=yes; else same=NO; fi

bytes=$(stat -c %s "$FILE")
echo
echo "file: $FILE ($LINES lines, $((bytes / 1000000)) MB)"
printf '%-44s %9s %12s\n' "command" "elapsed" "max RSS"
row() { awk -v c="$1" -v s="$2" -v kb="$3" 'BEGIN { printf "%-44s %8.2fs %9.1f MB\n", c, s, kb / 1024 }'; }
row "evt-telemetry stats --by evt,meta.code" "$cli_s" "$cli_kb"
row "jq -n 'reduce inputs ...'" "$jq_s" "$jq_kb"
row "evt-telemetry, $((LINES / 10)) lines (memory check)" "$small_s" "$small_kb"
row "stats --by ts,evt ($groups groups), table" "$many_s" "$many_kb"
row "stats --by ts,evt ($groups groups), --json" "$manyj_s" "$manyj_kb"
row "stats, 1000 lines + 256 MB NUL tail" "$nul_s" "$nul_kb"
awk -v a="$jq_s" -v b="$cli_s" 'BEGIN { printf "speed-up: %.1fx faster than jq\n", (b > 0 ? a / b : 0) }'
awk -v j="$manyj_kb" -v t="$many_kb" 'BEGIN { printf "--json / table memory: %.2fx\n", j / t }'
echo "same counts as jq: $same"
[ "$same" = yes ]
awk -v j="$manyj_kb" -v t="$many_kb" 'BEGIN { exit !(j <= 2 * t) }' || { echo "--json over 2x the table's memory" >&2; exit 1; }
