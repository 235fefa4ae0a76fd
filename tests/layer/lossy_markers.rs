//! Lossy mode: every drop leaves a marker. After each burst has drained and
//! at shutdown, the `meta.dropped` of the `telemetry_dropped` lines add up
//! to exactly `Stats::dropped_queue_full`, with no event after the burst.

use crate::common;

use std::path::Path;

use common::*;
use tracing::info;

/// (burst lines, sum of `meta.dropped`) in the day file.
fn count(dir: &Path) -> (u64, u64) {
    let (mut burst, mut marked) = (0, 0);
    for line in lines(day_file(dir, "2025-10-06")) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        match v["evt"].as_str().unwrap() {
            "burst" => burst += 1,
            "telemetry_dropped" => marked += v["meta"]["dropped"].as_u64().unwrap(),
            other => panic!("unexpected {other}"),
        }
    }
    (burst, marked)
}

fn burst(threads: u64, per_thread: u64, dispatch: &tracing::Dispatch) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..per_thread {
                        info!(evt = "burst", t, i);
                    }
                })
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn markers_add_up_to_the_drops_after_every_drained_burst_and_at_shutdown() {
    const ROUNDS: u64 = 5;
    const PER_THREAD: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let (layer, guard) = builder(dir.path(), &clock)
        .lossy(true)
        .max_line_bytes(1024)
        .queue_capacity_bytes(4096)
        .queue_max_bytes(4096)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    let mut per_round = Vec::new();
    for round in 1..=ROUNDS {
        burst(2, PER_THREAD, &dispatch);
        // The last drops of the burst have no line after them: the writer
        // marks them when it takes the queue.
        guard.flush().unwrap();
        let stats = guard.stats();
        let (lines, marked) = count(dir.path());
        assert_eq!(marked, stats.dropped_queue_full, "round {round}: {stats:?}");
        assert_eq!(lines + marked, round * 2 * PER_THREAD, "round {round}");
        per_round.push(stats.dropped_queue_full);
    }
    // A last burst, then shutdown at once: its markers are written too.
    burst(2, PER_THREAD, &dispatch);
    drop(dispatch);
    let stats = guard.shutdown();
    let (lines, marked) = count(dir.path());
    assert!(
        stats.dropped_queue_full > 0,
        "nothing was dropped: {stats:?}"
    );
    assert_eq!(marked, stats.dropped_queue_full, "at shutdown: {stats:?}");
    assert_eq!(lines + marked, (ROUNDS + 1) * 2 * PER_THREAD);
    assert_eq!(stats.lines_written, stats.lines_queued);
    eprintln!(
        "lossy markers: drops after each round {per_round:?}, {} in all; markers sum to the same",
        stats.dropped_queue_full
    );
}
