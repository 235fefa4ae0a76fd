//! Daily sums: a gauge holding the sum of the current UTC day, the day they
//! belong to, and a line read back (today's file restores them at start-up)
//! seen as an event.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use metrics::Gauge;
use serde_json::Value;

use crate::capture::value::{EventView, FieldValue};
use crate::contract::level::LineLevel;
use crate::contract::read::JsonLine;
use crate::rules::series::{Handle, SeriesTable};

/// One daily-sum series: the gauge and the day its sum belongs to.
#[derive(Debug)]
pub(crate) struct DailyGauge {
    gauge: Gauge,
    state: Mutex<DayState>,
}

#[derive(Debug, Clone, Copy)]
struct DayState {
    day: i64,
    sum: f64,
}

impl DailyGauge {
    pub(crate) fn new(gauge: Gauge) -> Self {
        DailyGauge {
            gauge,
            state: Mutex::new(DayState {
                day: i64::MIN,
                sum: 0.0,
            }),
        }
    }

    /// Adds `value` to the sum of `day`, then zeroes the sum if it belongs
    /// to a day before `today`, under one lock. A later day than the sum's
    /// starts again from zero; an earlier one (a late event) changes nothing.
    ///
    /// `today` is read after the series was placed in its table: a series
    /// created while another thread rolled the day may have been missed by
    /// that roll, and is zeroed here instead.
    pub(crate) fn add(&self, day: i64, value: f64, today: i64) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if day > st.day {
            *st = DayState { day, sum: 0.0 };
        }
        if day == st.day {
            st.sum += value;
        }
        if st.day < today {
            *st = DayState {
                day: today,
                sum: 0.0,
            };
        }
        self.gauge.set(st.sum);
    }

    /// Zeroes the sum if it belongs to a day before `today`.
    pub(crate) fn roll_to(&self, today: i64) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.day < today {
            *st = DayState {
                day: today,
                sum: 0.0,
            };
            self.gauge.set(0.0);
        }
    }
}

/// The current UTC day of the daily sums, and the metrics holding them.
#[derive(Debug)]
pub(crate) struct DailySums {
    metrics: Vec<usize>,
    /// The newest UTC day seen (events or clock); daily sums belong to it.
    today: AtomicI64,
}

impl DailySums {
    /// The day state of the daily-sum metrics `metrics` (indices of tables).
    pub(crate) fn new(metrics: Vec<usize>) -> Self {
        DailySums {
            metrics,
            today: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether no metric is a daily sum.
    pub(crate) fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The newest day seen.
    pub(crate) fn today(&self) -> i64 {
        self.today.load(Ordering::Acquire)
    }

    /// Makes `day` current if it is newer, zeroing the daily sums of
    /// earlier days in `tables`.
    pub(crate) fn advance(&self, day: i64, tables: &[SeriesTable]) {
        let mut current = self.today();
        while day > current {
            match (self.today).compare_exchange(current, day, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return self.roll(day, tables),
                Err(now) => current = now,
            }
        }
    }

    fn roll(&self, today: i64, tables: &[SeriesTable]) {
        for &m in &self.metrics {
            tables[m].for_each(|h| {
                if let Handle::Daily(d) = h {
                    d.roll_to(today);
                }
            });
        }
    }
}

impl EventView for JsonLine {
    fn evt(&self) -> &str {
        &self.evt
    }
    fn level(&self) -> LineLevel {
        self.level
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn ts_unix_ms(&self) -> i64 {
        self.ts_ms
    }
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match self.meta.get(name)? {
            Value::String(s) => Some(FieldValue::Str(s)),
            Value::Bool(b) => Some(FieldValue::Bool(*b)),
            Value::Number(n) => n
                .as_u64()
                .map(FieldValue::U64)
                .or_else(|| n.as_i64().map(FieldValue::I64))
                .or_else(|| n.as_f64().map(FieldValue::F64)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_line_reads_back_with_typed_fields() {
        let line = r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"translation_service","msg":"429 Rate limit","meta":{"status":429,"code":"rate_limited","cost":0.25,"neg":-3}}"#;
        let l = JsonLine::parse(line).expect("valid line");
        assert_eq!(l.ts_unix_ms(), 1_759_758_190_123);
        assert_eq!(
            (l.evt(), l.level(), l.source()),
            ("openrouter_error", LineLevel::Error, "translation_service")
        );
        assert_eq!(l.field("status"), Some(FieldValue::U64(429)));
        assert_eq!(l.field("code"), Some(FieldValue::Str("rate_limited")));
        assert_eq!(l.field("cost"), Some(FieldValue::F64(0.25)));
        assert_eq!(l.field("neg"), Some(FieldValue::I64(-3)));
        assert_eq!(l.field("nope"), None);
    }

    #[test]
    fn broken_lines_are_refused() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"ts":"x","level":"info","evt":"a"}"#,
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"loud","evt":"a"}"#,
        ] {
            assert!(JsonLine::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_daily_gauge_ignores_late_days_and_rolls_over() {
        let g = DailyGauge::new(Gauge::noop());
        g.add(10, 1.5, 10);
        g.add(10, 1.0, 10);
        g.add(9, 100.0, 10);
        assert_eq!(g.state.lock().map(|s| (s.day, s.sum)).ok(), Some((10, 2.5)));
        g.roll_to(10);
        assert_eq!(g.state.lock().map(|s| s.sum).ok(), Some(2.5));
        g.roll_to(11);
        assert_eq!(g.state.lock().map(|s| (s.day, s.sum)).ok(), Some((11, 0.0)));
        g.add(12, 4.0, 12);
        assert_eq!(g.state.lock().map(|s| (s.day, s.sum)).ok(), Some((12, 4.0)));
    }

    #[test]
    fn a_sum_added_for_a_day_already_rolled_past_is_zeroed() {
        let g = DailyGauge::new(Gauge::noop());
        g.add(10, 1.5, 11);
        assert_eq!(g.state.lock().map(|s| (s.day, s.sum)).ok(), Some((11, 0.0)));
        g.add(11, 2.0, 11);
        g.add(10, 7.0, 11);
        assert_eq!(g.state.lock().map(|s| (s.day, s.sum)).ok(), Some((11, 2.0)));
    }
}
