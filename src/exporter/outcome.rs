//! `telemetry_exporter_connections_total{outcome}`: how each connection to
//! `/metrics` ended, so an attack shows in Grafana.

use metrics::{Counter, Key, KeyName, Label, Recorder, SharedString};

use crate::self_metrics::EXPORTER_CONNECTIONS as NAME;
const HELP: &str = "Connections to the /metrics listener, by outcome (served, reply_failed, refused_peer, refused_host, overloaded, head_timeout, bad_request, abandoned)";

/// How a connection ended; each connection is counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A request was answered in full (`200`, `404`, `405`).
    Served,
    /// The answer was not taken in time (reply deadline) or the peer left.
    ReplyFailed,
    /// The peer is outside the allowed addresses (`403` at accept).
    RefusedPeer,
    /// The `Host` is not an allowed host (`421`).
    RefusedHost,
    /// Too many connections, in all or from this peer (`503` at accept).
    Overloaded,
    /// No complete request head within the head deadline (`408`).
    HeadTimeout,
    /// Not HTTP/1.x, or a head too large (`400`, `431`).
    BadRequest,
    /// The peer closed before sending a complete head.
    Abandoned,
}

impl Outcome {
    const ALL: [Outcome; 8] = [
        Outcome::Served,
        Outcome::ReplyFailed,
        Outcome::RefusedPeer,
        Outcome::RefusedHost,
        Outcome::Overloaded,
        Outcome::HeadTimeout,
        Outcome::BadRequest,
        Outcome::Abandoned,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Served => "served",
            Outcome::ReplyFailed => "reply_failed",
            Outcome::RefusedPeer => "refused_peer",
            Outcome::RefusedHost => "refused_host",
            Outcome::Overloaded => "overloaded",
            Outcome::HeadTimeout => "head_timeout",
            Outcome::BadRequest => "bad_request",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// One counter per outcome, all created at zero.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionCounters([Counter; 8]);

impl ConnectionCounters {
    /// Describes the metric in `recorder` and creates its series at zero.
    pub(crate) fn register(recorder: &dyn Recorder) -> Self {
        static META: metrics::Metadata<'static> =
            metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
        recorder.describe_counter(KeyName::from(NAME), None, SharedString::from(HELP));
        ConnectionCounters(Outcome::ALL.map(|o| {
            let key = Key::from_parts(NAME, vec![Label::new("outcome", o.label())]);
            recorder.register_counter(&key, &META)
        }))
    }

    /// Counts one connection that ended with `outcome`.
    pub(crate) fn count(&self, outcome: Outcome) {
        self.0[outcome as usize].increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_created_at_zero_and_counted_under_its_label() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let counters = ConnectionCounters::register(&recorder);
        counters.count(Outcome::Overloaded);
        counters.count(Outcome::Overloaded);
        counters.count(Outcome::Served);
        assert!(
            Outcome::ALL
                .iter()
                .enumerate()
                .all(|(i, o)| *o as usize == i)
        );
        let text = crate::exporter::exposition::finish_exposition(&recorder.handle().render(), &[]);
        assert_eq!(
            text,
            format!(
                "# HELP {NAME} {HELP}\n# TYPE {NAME} counter\n\
                 {NAME}{{outcome=\"abandoned\"}} 0\n\
                 {NAME}{{outcome=\"bad_request\"}} 0\n\
                 {NAME}{{outcome=\"head_timeout\"}} 0\n\
                 {NAME}{{outcome=\"overloaded\"}} 2\n\
                 {NAME}{{outcome=\"refused_host\"}} 0\n\
                 {NAME}{{outcome=\"refused_peer\"}} 0\n\
                 {NAME}{{outcome=\"reply_failed\"}} 0\n\
                 {NAME}{{outcome=\"served\"}} 1\n\n"
            )
        );
    }
}
