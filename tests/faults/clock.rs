//! A clock that jumps backwards and forwards across midnight (and by a
//! year): lines go to the file of their own `ts` date, retention never
//! deletes the current day's file, and daily sums ignore late events.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use evt_telemetry::MetricRule;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::info;

const DAY_MS: u64 = 86_400_000;
/// 2025-10-06T00:00:00.000Z
const OCT_06: u64 = 1_759_708_800_000;
/// 2024-10-06T00:00:00.000Z (365 days earlier).
const OCT_06_2024: u64 = OCT_06 - 365 * DAY_MS;

/// The lines of every day file in `dir`, by file name.
fn all_files(dir: &Path) -> BTreeMap<String, Vec<String>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                lines(&p),
            )
        })
        .collect()
}

#[test]
fn lines_follow_their_own_ts_date_when_the_clock_jumps_back_and_forth() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(OCT_06 + 12 * 3_600_000);
    let moments = [
        OCT_06 + 12 * 3_600_000, // 10-06 noon
        OCT_06 + DAY_MS,         // 10-07 00:00:00.000
        OCT_06 + DAY_MS - 1,     // back to 10-06 23:59:59.999
        OCT_06 + 3 * DAY_MS,     // forward two days
        OCT_06_2024 + 5,         // back a year
        OCT_06 + DAY_MS + 1,     // 10-07 again
        OCT_06 - 1,              // 10-05 23:59:59.999
        OCT_06 + DAY_MS - 1,     // 10-06 23:59:59.999
        OCT_06 + 2 * DAY_MS - 1, // 10-07 23:59:59.999
        OCT_06 + 2 * DAY_MS,     // 10-08 00:00:00.000
    ];
    let c = clock.clone();
    run_with(builder(dir.path(), &clock).keep_all_files(), move || {
        for (seq, &ms) in moments.iter().enumerate() {
            c.set_ms(ms);
            info!(evt = "tick", seq);
            info!(evt = "tock", seq);
        }
    });
    let files = all_files(dir.path());
    let mut seen = Vec::new();
    for (name, lines) in &files {
        let date = &name["events-".len().."events-".len() + 10];
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(&v["ts"].as_str().unwrap()[..10], date, "{line} in {name}");
            seen.push((
                v["meta"]["seq"].as_u64().unwrap(),
                v["evt"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let counts: BTreeMap<&str, usize> = files.iter().map(|(n, l)| (&n[7..17], l.len())).collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("2024-10-06", 2),
            ("2025-10-05", 2),
            ("2025-10-06", 6),
            ("2025-10-07", 6),
            ("2025-10-08", 2),
            ("2025-10-09", 2),
        ])
    );
    seen.sort();
    assert_eq!(seen.len(), 2 * moments.len());
    seen.dedup();
    assert_eq!(seen.len(), 2 * moments.len(), "a line written twice");
}

#[test]
fn retention_never_deletes_the_current_days_file_when_the_clock_jumps_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let old_2024 = day_file(dir.path(), "2024-09-01");
    std::fs::write(&old_2024, "{}\n").unwrap();
    let clock = ManualClock::at_ms(OCT_06 + 1000);
    let (layer, guard) = builder(dir.path(), &clock).build().unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    let today_2025 = day_file(dir.path(), "2025-10-06");
    let today_2024 = day_file(dir.path(), "2024-10-06");
    tracing::subscriber::with_default(subscriber, || {
        info!(evt = "in_2025");
        guard.flush().unwrap();
        // 2024-09-01 is 400 days old: deleted at start-up.
        assert!(!old_2024.exists());
        // Back a year: today's (2025) file is in the future now, and kept.
        clock.set_ms(OCT_06_2024 + 1000);
        info!(evt = "in_2024");
        guard.flush().unwrap();
        assert!(today_2025.exists(), "a future-dated file was deleted");
        assert!(today_2024.exists());
        // Forward again: the 2024 file is a year old and goes, today's stays.
        clock.set_ms(OCT_06 + 2000);
        info!(evt = "in_2025_again");
        guard.flush().unwrap();
        assert!(today_2025.exists(), "today's file was deleted");
        assert!(!today_2024.exists(), "retention did not run");
    });
    let stats = guard.shutdown();
    assert_eq!(stats.files_deleted, 2);
    let today = lines(&today_2025);
    assert_eq!(today.len(), 2);
    assert!(today[1].contains(r#""evt":"in_2025_again""#));
}

fn daily_value(text: &str, model: &str) -> Option<f64> {
    let prefix = format!("daily_cost_usd{{model=\"{model}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.parse().unwrap())
}

#[test]
fn a_late_event_never_shows_in_todays_daily_sum_even_for_a_new_label_set() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(OCT_06 + DAY_MS + 10_000); // 10-07 00:00:10
    let b = builder(dir.path(), &clock).rule(
        MetricRule::daily_sum("daily_cost_usd")
            .on("call")
            .value("cost_usd")
            .labels(["model"]),
    );
    let recorder = PrometheusBuilder::new().build_recorder();
    let c = clock.clone();
    metrics::with_local_recorder(&recorder, || {
        run_with(b, move || {
            info!(evt = "call", model = "a", cost_usd = 1.0);
            // The clock steps back 20 s, before midnight: late events.
            c.set_ms(OCT_06 + DAY_MS - 10_000);
            info!(evt = "call", model = "a", cost_usd = 2.0);
            info!(evt = "call", model = "b", cost_usd = 5.0);
            c.set_ms(OCT_06 + DAY_MS + 20_000);
            info!(evt = "call", model = "a", cost_usd = 0.5);
        })
    });
    let text = recorder.handle().render();
    assert_eq!(daily_value(&text, "a"), Some(1.5), "{text}");
    assert!(
        matches!(daily_value(&text, "b"), None | Some(0.0)),
        "yesterday's cost shown as today's: {text}"
    );
    // The late lines are still logged, in their own day's file.
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 2);
    assert_eq!(lines(day_file(dir.path(), "2025-10-07")).len(), 2);
}
