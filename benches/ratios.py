#!/usr/bin/env python3
"""Prints the ratios of the criterion benches in benches/layer.rs.

Run `cargo bench --bench layer` first; this reads criterion's estimates
(target/criterion/<group>/<bench>/new/estimates.json, mean point estimate).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
CASES = [
    ("1_format_only", "evt_layer", "fmt_json", "<= 0.20"),
    ("1_format_only", "floor_noop_layer", "fmt_json", "(floor)"),
    ("2_log_and_3_metrics", "evt_layer", "fmt_json_alone", "<= 0.30"),
    ("2_log_and_3_metrics", "evt_layer", "fmt_json_plus_macros", "(info)"),
    ("3_event_without_evt", "evt_layer", "no_layer_wants_it", "<= 1.25"),
    ("6_format_only_under_load", "evt_layer", "fmt_json", "<= 0.25"),
]


def mean_ns(group, bench):
    path = ROOT / group / bench / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]


def main():
    print(f"{'case':24} {'ours ns':>9} {'anchor':>22} {'anchor ns':>10} {'ratio':>7}  target")
    for group, ours, anchor, target in CASES:
        try:
            a, b = mean_ns(group, ours), mean_ns(group, anchor)
        except FileNotFoundError as e:
            sys.exit(f"missing {e.filename}: run `cargo bench --bench layer` first")
        print(f"{group:24} {a:9.1f} {anchor:>22} {b:10.1f} {a / b:7.3f}  {target}")


if __name__ == "__main__":
    main()
