//! Days: the daily sums follow the clock, and are read back from today's
//! file at start-up.

use super::*;

impl MetricsEngine {
    /// Called by the writer thread at least every 500 ms: at midnight UTC,
    /// daily sums drop to zero.
    pub(crate) fn tick(&self, now_unix_ms: i64) {
        self.daily.advance(day_of(now_unix_ms), &self.tables);
    }

    /// The text `"evt":"<evt>"` of each event a daily-sum rule reads: a
    /// line without any of them cannot change a daily sum.
    pub(crate) fn daily_needles(&self) -> Vec<String> {
        (self.rules.iter())
            .filter(|r| self.metrics[r.metric].kind == MetricKind::DailySum)
            .map(|r| evt_needle(&r.evt))
            .collect()
    }

    /// Re-adds today's daily sums from the lines of today's event file, at
    /// start-up. Returns the number of lines naming a daily-sum event that
    /// do not parse as contract lines (skipped). Lines of other days and
    /// rejected values are skipped silently (they were counted when first
    /// logged).
    pub(crate) fn restore_daily_sums(
        &self,
        today: i64,
        lines: &mut dyn Iterator<Item = String>,
    ) -> u64 {
        self.daily.advance(today, &self.tables);
        let needles = self.daily_needles();
        if needles.is_empty() {
            return 0;
        }
        let (mut recent, mut unparsable) = (Recent::default(), 0);
        for line in lines {
            if !needles.iter().any(|n| line.contains(n.as_str())) {
                continue;
            }
            let Some(ev) = JsonLine::parse(&line) else {
                unparsable += 1;
                continue;
            };
            if day_of(ev.ts_unix_ms()) != today {
                continue;
            }
            self.restore_line(&ev, today, &mut recent);
        }
        unparsable
    }

    fn restore_line(&self, ev: &JsonLine, today: i64, recent: &mut Recent) {
        let Some(&group) = self.plans.by_evt.get(ev.evt()) else {
            return;
        };
        let rules = &self.plans.groups[group];
        let mut inline = [None; INLINE_FIELDS];
        let fields = Fields::lookup(ev, &rules.fields, &mut inline, &mut []);
        let at = At {
            level: ev.level(),
            day: today,
            mode: Mode::Restore,
            group,
            stamp: None,
            ts_ms: ev.ts_unix_ms(),
        };
        let daily = |i: &&usize| self.metrics[self.rules[**i].metric].kind == MetricKind::DailySum;
        for &i in rules.rules.iter().filter(daily) {
            self.apply(i, &fields, &at, recent);
        }
    }
}

/// The text `"evt":"<evt>"` as the line encoder writes it.
fn evt_needle(evt: &str) -> String {
    let quoted = serde_json::to_string(evt).unwrap_or_default();
    format!("\"evt\":{quoted}")
}
