//! The bench event under callgrind: instructions per event are steady on a
//! busy machine where times are not. `bash benches/instructions.sh` builds
//! this and prints the count per event for cases 1 and 2 of `layer.rs`.
//!
//! Usage: `instructions CASE N` emits the event N times (after 1,000 to warm
//! up) through our layer with discarded lines; CASE 1 has no rules, CASE 2
//! the three rules of `layer.rs`'s case 2 under a local Prometheus recorder,
//! CASE 4 the same with exemplars (labelled `model`) on the counter, as the
//! preset keeps them for this event, CASE 5 on the counter and the histogram.
//! `instructions redact K N` redacts bench text K (`common/redact_texts.rs`)
//! N times. Without arguments (as `cargo bench` runs it) it does a few of each.

mod common;
#[path = "common/redact_texts.rs"]
mod redact_texts;

/// The emitting loop, the one function callgrind counts (`--toggle-collect`).
#[inline(never)]
fn run_events(n: u64) {
    for _ in 0..n {
        common::the_event!();
    }
}

/// `Redactor::redact` on one text, the function callgrind counts for the
/// redaction figures.
#[inline(never)]
fn run_redactions(r: &evt_telemetry::Redactor, text: &str, n: u64) {
    for _ in 0..n {
        std::hint::black_box(r.redact(std::hint::black_box(text)));
    }
}

/// Prints the label of text `k` and redacts it `n` times.
fn run_redact(k: usize, n: u64) {
    let texts = redact_texts::redact_texts();
    let (label, text) = &texts[k];
    println!("text: redact/{label}/{}B", text.len());
    run_redactions(&evt_telemetry::Redactor::default(), text, n);
}

fn run_case(case: u32, n: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let exemplars = (case as usize).saturating_sub(3);
    let (dispatch, guard) = match exemplars {
        0 => common::ours(dir.path(), case == 2),
        n => common::ours_with(dir.path(), true, n),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        run_events(1_000);
        run_events(n);
    });
    drop(guard);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        [mode, k, n] if mode == "redact" => run_redact(
            k.parse().expect("K: a text index"),
            n.parse().expect("N: a count"),
        ),
        [mode] if mode == "redact-count" => println!("{}", redact_texts::redact_texts().len()),
        [case, n] => run_case(
            case.parse().expect("CASE: 1 or 2"),
            n.parse().expect("N: a count"),
        ),
        _ => {
            [1, 2, 4, 5]
                .into_iter()
                .for_each(|case| run_case(case, 100));
            (0..redact_texts::redact_texts().len()).for_each(|k| run_redact(k, 100));
        }
    }
}
