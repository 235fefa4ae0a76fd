//! Metric rules: which logged events update which metric, and how.
//!
//! A rule says: *on events with `evt = X` (optionally only at some levels, or
//! when a field has a given value), update metric `M` of kind counter / gauge /
//! histogram / daily sum, taking the value from field `F`, with labels taken
//! from an allowlist of event or span fields plus static labels.*
//!
//! | kind | update per matching event | without `.value(..)` | exposed as |
//! |---|---|---|---|
//! | [`counter`](MetricRule::counter) | `+= value` (or `+1`) | `+1` | `counter` |
//! | [`gauge`](MetricRule::gauge) | `= value` | build error | `gauge` |
//! | [`histogram`](MetricRule::histogram) | observe `value` | build error | `histogram` (`_bucket`, `_sum`, `_count`) |
//! | [`daily_sum`](MetricRule::daily_sum) | `+= value` for the event's UTC day, `0` at midnight UTC | build error | `gauge` |
//!
//! One event may feed several rules, and several rules may feed one metric
//! when they agree on its kind and label names.

use crate::contract::level::LineLevel;

/// What kind of metric a rule updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    DailySum,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::DailySum => "daily_sum",
        }
    }
}

/// A declarative rule turning logged events into metric updates.
///
/// Build one with [`counter`](Self::counter), [`gauge`](Self::gauge),
/// [`histogram`](Self::histogram) or [`daily_sum`](Self::daily_sum), then chain
/// setters. Setters never fail: every rule is checked once when telemetry is
/// built, and the first problem is returned as [`Error::Rule`](crate::Error::Rule)
/// naming the metric and the bad value.
///
/// | setter | default |
/// |---|---|
/// | [`on`](Self::on) | none: required |
/// | [`levels`](Self::levels) | all levels |
/// | [`when`](Self::when) | no condition |
/// | [`value`](Self::value) | counters `+1` per event; required for the other kinds |
/// | [`labels`](Self::labels) | no labels |
/// | [`static_label`](Self::static_label) | none |
/// | [`help`](Self::help) | generated from the rule, e.g. `Count of openrouter_error events` |
/// | [`unit`](Self::unit) | none |
/// | [`buckets`](Self::buckets) | by unit or name: seconds → 0.05 … 300, `usd` → 0.0001 … 10, else 1 … 100,000 |
/// | [`max_series`](Self::max_series) | the telemetry builder's default (1,000) |
/// | [`precreate`](Self::precreate) | none |
/// | [`exemplar`](Self::exemplar) | none: no exemplars |
///
/// # Names
///
/// Metric names match `[a-zA-Z_][a-zA-Z0-9_]*` and follow the rules
/// `promtool check metrics` enforces, so the exposition never warns:
/// counters end in `_total`, other kinds do not; no kind ends in `_bucket`,
/// `_sum` or `_count`; no `:`, camelCase, abbreviated units (`_ms`, `_s`, ...),
/// non-base units (`_milliseconds`, ...) or kind names (`_gauge`, ...).
/// Label names match `[a-zA-Z_][a-zA-Z0-9_]*`, do not start with `__`, are
/// not `le` or `quantile` and not camelCase.
///
/// # Values
///
/// A value field may hold any integer or float, or text that parses as one.
/// Bad values are never applied: a missing field, a non-numeric value, a
/// negative value for a counter or daily sum, NaN and ±infinity are each
/// counted in `telemetry_rejected_values_total{metric,reason}` with reason
/// `missing`, `not_numeric`, `negative`, `nan` or `infinite`.
///
/// Counters without a value field count events in an integer counter.
/// Counters with a value field (like `openrouter_cost_usd_total`) keep a
/// floating-point total (exact for integers up to 2^53) and are still exposed
/// with `# TYPE … counter`.
///
/// # Labels
///
/// Label values are the text of the event field (or the field of an enclosing
/// span) of the same name, after redaction; a missing field gives `""`.
/// Values longer than 256 bytes are cut at a character boundary. Each metric
/// keeps at most [`max_series`](Self::max_series) label sets; updates for
/// further ones go to one series whose label values are all `__overflow__`,
/// counted in `telemetry_label_overflow_total{metric}`.
///
/// # From TOML
///
/// The same rules can come from a TOML file, one `[[metric]]` table per rule
/// (unknown keys are errors, reported with line and column):
///
/// ```toml
/// [[metric]]
/// name = "openrouter_errors_total"     # required
/// kind = "counter"                     # required: counter | gauge | histogram | daily_sum
/// evt = "openrouter_error"             # required
/// levels = ["error", "critical"]       # default: all levels
/// when = { outcome = "error" }         # or {field = "outcome", equals = "error"}, or a list of those
/// value = "cost_usd"                   # counters: default +1; required for the other kinds
/// labels = ["status", "code", "model"]
/// static_labels = { team = "nlp" }     # after the field labels, in name order
/// help = "Failed OpenRouter calls"
/// unit = "seconds"
/// buckets = [0.1, 0.5, 1.0]            # histograms only
/// max_series = 1000
/// # A list of values stands for each of them: here 2 label sets.
/// precreate = [{ status = 429, code = "rate_limited", model = ["a", "b"] }]
/// exemplar = ["request_id"]            # counters and histograms only
/// ```
///
/// `when` and `precreate` values may be strings, integers, floats or booleans,
/// compared as the text a field value is written as (`429`, `0.5`, `true`).
///
/// # Example
///
/// ```
/// use evt_telemetry::{LineLevel, MetricRule};
///
/// let rules = vec![
///     MetricRule::counter("openrouter_errors_total")
///         .on("openrouter_error")
///         .labels(["status", "code", "component", "model"])
///         .help("Failed OpenRouter calls by HTTP status and error code")
///         .precreate([[
///             ("status", "429"),
///             ("code", "rate_limited"),
///             ("component", "translation_service"),
///             ("model", "openai/gpt-4o-mini"),
///         ]]),
///     MetricRule::histogram("openrouter_call_latency_seconds")
///         .on("openrouter_call")
///         .value("latency_s")
///         .labels(["model"])
///         .unit("seconds"),
///     MetricRule::counter("openrouter_failed_calls_total")
///         .on("openrouter_call")
///         .levels([LineLevel::Error, LineLevel::Critical])
///         .when("outcome", "error")
///         .static_label("component", "translation_service"),
/// ];
/// assert_eq!(rules.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct MetricRule {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) evt: Option<String>,
    pub(crate) levels: Option<Vec<LineLevel>>,
    pub(crate) when: Vec<(String, String)>,
    pub(crate) value: Option<String>,
    pub(crate) labels: Vec<String>,
    pub(crate) static_labels: Vec<(String, String)>,
    pub(crate) help: Option<String>,
    pub(crate) unit: Option<String>,
    pub(crate) buckets: Option<Vec<f64>>,
    pub(crate) max_series: Option<usize>,
    pub(crate) precreate: Vec<Vec<(String, String)>>,
    pub(crate) exemplar: Vec<String>,
}

// === impl MetricRule: constructors ===

impl MetricRule {
    pub(crate) fn new(kind: Kind, name: impl Into<String>) -> Self {
        MetricRule {
            name: name.into(),
            kind,
            evt: None,
            levels: None,
            when: Vec::new(),
            value: None,
            labels: Vec::new(),
            static_labels: Vec::new(),
            help: None,
            unit: None,
            buckets: None,
            max_series: None,
            precreate: Vec::new(),
            exemplar: Vec::new(),
        }
    }

    /// A counter: `+1` per matching event, or `+value` with [`value`](Self::value).
    ///
    /// The name must end in `_total`.
    pub fn counter(name: impl Into<String>) -> Self {
        Self::new(Kind::Counter, name)
    }

    /// A gauge set to the [`value`](Self::value) of each matching event.
    pub fn gauge(name: impl Into<String>) -> Self {
        Self::new(Kind::Gauge, name)
    }

    /// A Prometheus histogram (with `_bucket`, `_sum` and `_count` series)
    /// observing the [`value`](Self::value) of each matching event.
    pub fn histogram(name: impl Into<String>) -> Self {
        Self::new(Kind::Histogram, name)
    }

    /// A gauge holding the sum of the [`value`](Self::value) of matching
    /// events whose `ts` falls on the current UTC day.
    ///
    /// It drops to `0` at midnight UTC (on the first event of the new day, or
    /// within half a second by the writer's clock), ignores late events from
    /// earlier days, and is restored from today's event file at start-up, so a
    /// restart does not zero it.
    pub fn daily_sum(name: impl Into<String>) -> Self {
        Self::new(Kind::DailySum, name)
    }
}

// === impl MetricRule: setters ===

impl MetricRule {
    /// The `evt` of the events this rule listens to. Required.
    pub fn on(mut self, evt: impl Into<String>) -> Self {
        self.evt = Some(evt.into());
        self
    }

    /// Only events logged at one of these levels update the metric.
    ///
    /// Defaults to all levels. An empty list is a build error.
    pub fn levels(mut self, levels: impl IntoIterator<Item = LineLevel>) -> Self {
        self.levels = Some(levels.into_iter().collect());
        self
    }

    /// Only events whose field `field`, written as text, equals `value` update
    /// the metric (`status` = `429` matches the integer 429). Repeatable: all
    /// conditions must hold. A missing field never matches.
    ///
    /// Defaults to no condition.
    pub fn when(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.when.push((field.into(), value.into()));
        self
    }

    /// The field holding the number to add, set or observe.
    ///
    /// Required for gauges, histograms and daily sums; counters default to
    /// `+1` per event.
    pub fn value(mut self, field: impl Into<String>) -> Self {
        self.value = Some(field.into());
        self
    }

    /// Event or span fields to use as labels, in this order (the label name is
    /// the field name). Appends to earlier calls.
    ///
    /// Defaults to no labels. Only these fields ever become labels.
    pub fn labels<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels.extend(fields.into_iter().map(Into::into));
        self
    }

    /// A label with a fixed value, after the field labels. Repeatable.
    ///
    /// Defaults to none.
    pub fn static_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.static_labels.push((name.into(), value.into()));
        self
    }

    /// The `# HELP` text.
    ///
    /// Defaults to a text generated from the rule, such as
    /// `Count of openrouter_error events`.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// The unit, in words: `seconds`, `bytes`, `usd`, ... It is handed to the
    /// metrics recorder with the description and picks the default buckets.
    ///
    /// Defaults to none. Units are not appended to the name: put them there
    /// yourself (`…_seconds`, `…_usd_total`).
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Histogram bucket upper bounds: finite, strictly increasing, not empty
    /// (`+Inf` is always added).
    ///
    /// Defaults, by unit or else by name:
    /// - seconds (`unit("seconds")` or a name ending in `_seconds`), sized for
    ///   LLM calls: 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300;
    /// - `unit("usd")` or a name ending in `_usd`, sized for per-call costs:
    ///   0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10;
    /// - anything else (token counts, sizes): 1, 2, 5, 10, 20, 50, … 100,000.
    ///
    /// Only valid on histograms.
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = Some(bounds.into_iter().collect());
        self
    }

    /// The most label sets this metric keeps; further ones go to the
    /// `__overflow__` series.
    ///
    /// Defaults to the telemetry builder's default (1,000). Must be at least 1.
    pub fn max_series(mut self, n: usize) -> Self {
        self.max_series = Some(n);
        self
    }

    /// Label sets created at zero when telemetry starts, so `increase()` and
    /// `rate()` see the first real occurrence. Each set names every field
    /// label of the rule exactly once (static labels are added). Appends to
    /// earlier calls; precreated sets count against
    /// [`max_series`](Self::max_series).
    ///
    /// Defaults to none.
    pub fn precreate<I, S, K, V>(mut self, sets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let sets = sets.into_iter().map(|set| {
            set.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect::<Vec<_>>()
        });
        self.precreate.extend(sets);
        self
    }

    /// Event or span fields whose values label this rule's
    /// [OpenMetrics exemplars](crate::PrometheusExporter#exemplars): each
    /// histogram bucket keeps the most recent event that fell into it, each
    /// counter series the most recent event that incremented it, with its
    /// (redacted) field values, the observed value and the event's `ts`.
    /// Appends to earlier calls.
    ///
    /// Defaults to none: the rule records no exemplars and costs nothing
    /// more. Only for counters and histograms; the field names plus one
    /// character per value must fit the 128 characters OpenMetrics allows
    /// an exemplar's labels, or `build()` refuses the rule.
    ///
    /// ```
    /// use evt_telemetry::MetricRule;
    ///
    /// let rule = MetricRule::histogram("translation_latency_seconds")
    ///     .on("translation_done")
    ///     .value("latency_s")
    ///     .exemplar(["paper_id"]);
    /// assert_eq!(rule, rule.clone());
    /// ```
    pub fn exemplar<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exemplar.extend(fields.into_iter().map(Into::into));
        self
    }
}

// === default buckets ===

/// Default buckets for durations in seconds, sized for LLM calls: 50 ms to 5 min.
pub(crate) const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0,
];

/// Default buckets for amounts in US dollars (per-call costs): $0.0001 to $10.
pub(crate) const COST_BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0,
];

/// Default buckets for anything else (counts such as tokens): 1 to 100,000.
pub(crate) const GENERIC_BUCKETS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
    20_000.0, 50_000.0, 100_000.0,
];

impl MetricRule {
    /// The buckets this rule asks for: its own, or the default for its unit/name.
    pub(crate) fn effective_buckets(&self) -> Vec<f64> {
        if let Some(b) = &self.buckets {
            return b.clone();
        }
        let unit = self.unit.as_deref().unwrap_or("").to_ascii_lowercase();
        let name = self.name.to_ascii_lowercase();
        if unit == "seconds" || unit == "s" || name.ends_with("_seconds") {
            LATENCY_BUCKETS.to_vec()
        } else if unit == "usd" || name.ends_with("_usd") {
            COST_BUCKETS.to_vec()
        } else {
            GENERIC_BUCKETS.to_vec()
        }
    }

    /// The help text: the given one, or one generated from the rule.
    pub(crate) fn effective_help(&self) -> String {
        if let Some(h) = &self.help {
            return h.clone();
        }
        let evt = self.evt.as_deref().unwrap_or("?");
        let value = self.value.as_deref().unwrap_or("?");
        match (self.kind, &self.value) {
            (Kind::Counter, None) => format!("Count of {evt} events"),
            (Kind::Counter, Some(_)) => format!("Sum of {value} over {evt} events"),
            (Kind::Gauge, _) => format!("Last {value} of {evt} events"),
            (Kind::Histogram, _) => format!("Distribution of {value} over {evt} events"),
            (Kind::DailySum, _) => {
                format!("Sum of {value} over {evt} events for the current UTC day")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_record_everything_and_append_where_documented() {
        let r = MetricRule::counter("x_total")
            .on("e")
            .labels(["a"])
            .labels(["b"])
            .when("k", "v")
            .when("k2", "v2")
            .static_label("s", "1")
            .precreate([[("a", "1"), ("b", "2")]])
            .precreate([[("a", "3"), ("b", "4")]]);
        assert_eq!(r.labels, ["a", "b"]);
        assert_eq!(r.when.len(), 2);
        assert_eq!(r.precreate.len(), 2);
        assert_eq!(r.static_labels, [("s".to_string(), "1".to_string())]);
    }

    #[test]
    fn default_buckets_follow_unit_then_name() {
        let h = |r: MetricRule| r.effective_buckets();
        assert_eq!(h(MetricRule::histogram("a_seconds")), LATENCY_BUCKETS);
        assert_eq!(
            h(MetricRule::histogram("a").unit("seconds")),
            LATENCY_BUCKETS
        );
        assert_eq!(h(MetricRule::histogram("cost_usd")), COST_BUCKETS);
        assert_eq!(h(MetricRule::histogram("tokens")), GENERIC_BUCKETS);
        assert_eq!(h(MetricRule::histogram("a_seconds").buckets([1.0])), [1.0]);
    }

    #[test]
    fn generated_help_names_the_event_and_field() {
        let c = MetricRule::counter("e_total").on("openrouter_error");
        assert_eq!(c.effective_help(), "Count of openrouter_error events");
        let d = MetricRule::daily_sum("d").on("call").value("cost_usd");
        assert_eq!(
            d.effective_help(),
            "Sum of cost_usd over call events for the current UTC day"
        );
        assert_eq!(c.help("mine").effective_help(), "mine");
    }
}
