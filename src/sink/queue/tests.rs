//! The shared queue: runs, drops and markers, waiting, growth, closing.

use super::*;

fn no_marker(_: u64) -> Vec<u8> {
    unreachable!("no drops in this test")
}

fn no_drops(_: u64) -> (i64, Vec<u8>) {
    unreachable!("no drops in this test")
}

#[test]
fn lines_of_different_days_become_separate_runs() {
    let q = Queue::new(1024, 1024, false);
    q.push(1, b"a\n", no_marker);
    q.push(1, b"b\n", no_marker);
    q.push(2, b"c\n", no_marker);
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Lines);
    let runs: Vec<_> = batch
        .slices()
        .map(|(r, b)| (r.day, r.lines, b.to_vec()))
        .collect();
    assert_eq!(
        runs,
        vec![(1, 2, b"a\nb\n".to_vec()), (2, 1, b"c\n".to_vec())]
    );
    assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Idle);
}

fn marker(n: u64) -> Vec<u8> {
    format!("dropped {n}\n").into_bytes()
}

#[test]
fn drops_after_the_last_accepted_line_are_marked_when_the_writer_takes() {
    let q = Queue::new(4, 4, true);
    assert_eq!(
        q.push(1, b"abc\n", no_marker),
        Pushed::Queued {
            after_drops: 0,
            waited: false
        }
    );
    assert_eq!(q.push(1, b"x\n", no_marker), Pushed::Full { lines: 1 });
    assert_eq!(q.push(1, b"y\n", no_marker), Pushed::Full { lines: 1 });
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, |n| (2, marker(n)));
    assert_eq!(batch.buf, b"abc\ndropped 2\n");
    assert_eq!(batch.runs.iter().map(|r| r.day).collect::<Vec<_>>(), [1, 2]);
    let pushed = q.push(1, b"z\n", no_marker);
    assert_eq!(
        pushed,
        Pushed::Queued {
            after_drops: 0,
            waited: false
        }
    );
    q.take(&mut batch, Duration::ZERO, no_drops);
    assert_eq!(batch.buf, b"z\n");
    assert_eq!(q.accepted(), 3);
}

#[test]
fn a_line_that_still_fits_after_drops_is_preceded_by_their_marker() {
    let q = Queue::new(8, 8, true);
    q.push(1, b"abcdef\n", no_marker);
    assert_eq!(q.push(1, b"xy\n", no_marker), Pushed::Full { lines: 1 });
    assert_eq!(q.push(1, b"zz\n", no_marker), Pushed::Full { lines: 1 });
    assert_eq!(
        q.push(1, b"q", marker),
        Pushed::Queued {
            after_drops: 2,
            waited: false
        }
    );
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, no_drops);
    assert_eq!(batch.buf, b"abcdef\ndropped 2\nq");
    assert_eq!(q.accepted(), 3);
}

#[test]
fn while_writes_fail_a_full_lossless_queue_lets_callers_go_at_once() {
    let q = std::sync::Arc::new(Queue::new(4, 4, false));
    q.push(1, b"abc\n", no_marker);
    let q2 = q.clone();
    let waiting = std::thread::spawn(move || q2.push(1, b"def\n", no_marker));
    q.set_failing(true);
    assert_eq!(waiting.join().unwrap(), Pushed::Failing { lines: 1 });
    assert_eq!(q.push(1, b"ghi\n", no_marker), Pushed::Failing { lines: 1 });
    // Room in the queue: lines are still taken, so the writer can try them.
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, no_drops);
    assert_eq!(
        q.push(1, b"jkl\n", no_marker),
        Pushed::Queued {
            after_drops: 0,
            waited: false
        }
    );
    q.set_failing(false);
    assert_eq!(q.accepted(), 2);
}

#[test]
fn a_full_lossless_queue_makes_the_caller_wait_for_the_writer() {
    let q = std::sync::Arc::new(Queue::new(4, 4, false));
    q.push(1, b"abc\n", no_marker);
    let q2 = q.clone();
    let caller = std::thread::spawn(move || q2.push(1, b"def\n", no_marker));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!caller.is_finished());
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, no_drops);
    assert_eq!(
        caller.join().unwrap(),
        Pushed::Queued {
            after_drops: 0,
            waited: true
        }
    );
    q.take(&mut batch, Duration::from_secs(1), no_drops);
    assert_eq!(batch.buf, b"def\n");
}

#[test]
fn a_full_queue_grows_by_its_base_up_to_the_max_while_the_writer_sleeps() {
    let q = Queue::new(4, 12, true);
    q.lock().writer_asleep = true; // woken, but not running yet
    for line in [b"abc\n", b"def\n", b"ghi\n"] {
        assert_eq!(q.push(1, line, no_marker), QUEUED);
    }
    // 12 bytes queued: the max is reached, so a lossy queue drops now.
    assert_eq!(q.push(1, b"jkl\n", no_marker), Pushed::Full { lines: 1 });
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, |n| (1, marker(n)));
    assert_eq!(batch.buf, b"abc\ndef\nghi\ndropped 1\n");
    // The writer took the backlog: back to the base size.
    assert_eq!(q.lock().room, 4);
}

#[test]
fn while_the_writer_is_awake_a_full_queue_stays_at_its_base() {
    let q = Queue::new(4, 12, true);
    assert_eq!(q.push(1, b"abc\n", no_marker), QUEUED);
    assert_eq!(q.push(1, b"def\n", no_marker), Pushed::Full { lines: 1 });
    q.lock().writer_asleep = true; // woken, but not running yet
    assert_eq!(
        q.push(1, b"ghi\n", marker),
        Pushed::Queued {
            after_drops: 1,
            waited: false
        }
    );
}

#[test]
fn a_buffer_a_backlog_grew_is_given_back_after_a_small_batch() {
    let mut batch = Batch::default();
    batch.push(1, &[b'x'; 4096]);
    batch.recycle(256);
    assert!(
        batch.buf.capacity() >= 4096,
        "a large batch keeps its buffer"
    );
    batch.clear();
    batch.push(1, b"small\n");
    batch.recycle(256);
    assert!(batch.buf.capacity() <= 512, "{}", batch.buf.capacity());
}

#[test]
fn closing_wakes_the_writer_and_refuses_new_lines() {
    let q = Queue::new(64, 64, false);
    q.push(1, b"a\n", no_marker);
    q.close();
    assert_eq!(q.push(1, b"b\n", no_marker), Pushed::Closed { lines: 1 });
    let mut batch = Batch::default();
    assert_eq!(
        q.take(&mut batch, Duration::from_secs(5), no_drops),
        Taken::Lines
    );
    assert_eq!(
        q.take(&mut batch, Duration::from_secs(5), no_drops),
        Taken::Closed
    );
}

#[test]
fn abandoning_gives_up_pending_lines_and_counts_them_finished() {
    let q = Queue::new(64, 64, false);
    q.push(1, b"a\n", no_marker);
    let mut batch = Batch::default();
    q.take(&mut batch, Duration::ZERO, no_drops);
    q.push(1, b"b\n", no_marker);
    q.push(2, b"c\n", no_marker);
    assert!(!q.is_abandoned());
    assert_eq!(q.abandon(), 2);
    assert!(q.is_abandoned());
    assert_eq!(q.push(1, b"d\n", no_marker), Pushed::Closed { lines: 1 });
    // Only the batch the writer holds is outstanding.
    assert_eq!(q.wait_finished(3, Duration::ZERO), 1);
    assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Closed);
}

#[test]
fn waiting_for_progress_reports_what_is_outstanding() {
    let q = Queue::new(64, 64, false);
    q.push(1, b"a\n", no_marker);
    q.push(1, b"b\n", no_marker);
    q.finished(1);
    assert_eq!(q.wait_finished(2, Duration::from_millis(10)), 1);
    q.finished(1);
    assert_eq!(q.wait_finished(2, Duration::from_millis(10)), 0);
}
