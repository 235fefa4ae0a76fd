//! The help text of the command line (`--help`); the options it lists are
//! parsed in `args`.

/// The help text printed by `--help`.
pub(crate) const USAGE: &str = "\
evt-telemetry: look at evt-telemetry JSONL event files without any server

Usage: evt-telemetry <COMMAND> [OPTIONS] [FILE...]

Commands:
  query    print matching events (JSON lines, or --table/--csv/--tsv)
  tail     print the last events of the newest file, then follow it (and the next day's)
  stats    count events grouped by fields, optionally per time bucket, with percentiles
  costs    cost rollup by UTC day and model, with totals
  report   write a self-contained HTML report with SVG charts
  monitor  write a self-contained status page linking to the Grafana dashboards

Input (every command but tail also reads FILE arguments instead; - is stdin; gzip is detected):
  --dir DIR            log directory [default: data/telemetry]
  --prefix NAME        day files NAME-YYYY-MM-DD.jsonl[.gz] [default: events, else the only prefix in DIR]
  --max-line-bytes N   longer lines are skipped as malformed [default: 1048576]

Output:
  --json               machine-readable output (schemas in docs/CLI.md)
  --csv, --tsv         tables as CSV or TSV (full precision)
  --color WHEN         colour levels in tables: auto, always, never [default: auto: a terminal without NO_COLOR]
  --local              show times in the local time zone (TZ) instead of UTC

Filters (all must hold):
  --since DURATION     only events of the last DURATION (e.g. 30s, 15m, 24h, 7d, 1h30m)
  --from TIME          only events at or after TIME (RFC 3339, or YYYY-MM-DD for its UTC midnight)
  --to TIME            only events before TIME
  --evt NAME[,NAME]    only these events (repeatable; NAME* matches a prefix)
  --level LEVEL        only this level and above (trace, debug, info, warning, error, critical)
  --source NAME[,NAME] only these sources (repeatable; NAME* matches a prefix)
  --where COND         FIELD=VALUE, FIELD!=VALUE, FIELD~REGEX, FIELD!~REGEX, FIELD>N, >=, <, <= (repeatable);
                       FIELD is ts, level, evt, source, msg, meta.KEY or * (any); A || B: either
  --grep TEXT          TEXT appears in msg or any other field (repeatable)
  --now TIME           the time --since counts back from [default: the system clock]

query:   --table (aligned columns)  --limit N (stop after N events)
tail:    --table  --lines N (events shown before following) [default: 10]
         --poll-ms MS (how often to look for new lines and files) [default: 250]
stats:   --by FIELD[,FIELD] [default: evt]  --every DURATION (time buckets)
         --value FIELD (n, P50/P95/P99, min, max, mean, sum of a numeric field)
         --distinct FIELD (distinct values per group)  --error-rate (errors and errors per event)
         --limit N (the N largest groups per bucket)
costs:   --cost-evt NAME [default: openrouter_call]  --cost-field FIELD [default: meta.cost_usd]
         --model-field FIELD [default: meta.model]
report:  --out FILE (required)  --title TEXT  --every DURATION [default: fitted to the time range]
         --grafana-url URL (link each section to its dashboard panel over the report's range)
monitor: --grafana-url URL (required)  --out FILE [default: site/monitor.html]
         --alertmanager-url URL  --explore-url URL (Grafana Explore on Loki)  --now TIME (end of the windows)

Exit codes: 0 ok, 1 runtime failure (e.g. cannot write --out), 2 bad arguments, bad filter or missing directory.
";
