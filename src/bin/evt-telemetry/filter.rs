//! Which lines a command looks at: time range, `--evt`, `--level` (and
//! above), `--source` and `--where` conditions, all of which must hold.

use evt_telemetry::LineLevel;

use crate::json::{self, JsonStr, JsonValue};
use crate::line::{Field, Line};
use crate::timespec::DAY_MS;

/// The conjunction of all filters given on the command line.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    /// Inclusive lower bound on `ts` (Unix ms).
    pub(crate) from_ms: Option<i64>,
    /// Exclusive upper bound on `ts` (Unix ms).
    pub(crate) to_ms: Option<i64>,
    /// `--evt` names (any may match); a trailing `*` matches a prefix.
    pub(crate) evts: Vec<String>,
    /// `--level`: this level and above.
    pub(crate) min_level: Option<LineLevel>,
    /// `--source` names (any may match); a trailing `*` matches a prefix.
    pub(crate) sources: Vec<String>,
    pub(crate) wheres: Vec<Where>,
}

/// One `--where`: conditions of which at least one must hold (`||`).
#[derive(Debug, Clone)]
pub(crate) struct Where {
    any_of: Vec<Cond>,
}

/// One `FIELD OP VALUE` condition.
#[derive(Debug, Clone)]
struct Cond {
    target: Target,
    op: Op,
    value: String,
    number: Option<f64>,
    /// For `~` and `!~`.
    regex: Option<regex_lite::Regex>,
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Field(Field),
    /// `*`: `msg`, `evt`, `source`, `level` or any member of `meta`.
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NoMatch,
}

// === impl Filter ===

impl Filter {
    /// Whether `line` passes every filter.
    pub(crate) fn matches(&self, line: &Line<'_>) -> bool {
        self.from_ms.is_none_or(|f| line.ts_ms >= f)
            && self.to_ms.is_none_or(|t| line.ts_ms < t)
            && self.min_level.is_none_or(|l| line.level >= l)
            && any_name(&self.evts, line.evt)
            && any_name(&self.sources, line.source)
            && self
                .wheres
                .iter()
                .all(|w| w.any_of.iter().any(|c| c.matches(line)))
    }

    /// Whether a file holding the UTC day `day` can contain matching lines
    /// (files hold the events of their own day, per the line contract).
    pub(crate) fn may_match_day(&self, day: i64) -> bool {
        self.from_ms.is_none_or(|f| (day + 1) * DAY_MS > f)
            && self.to_ms.is_none_or(|t| day * DAY_MS < t)
    }
}

fn any_name(names: &[String], value: JsonStr<'_>) -> bool {
    names.is_empty()
        || names.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => value.text().starts_with(prefix),
            None => value.is(n),
        })
}

// === impl Where ===

impl Where {
    /// Parses one `--where`: conditions separated by `||`, any of which
    /// may hold. A condition is `FIELD=VALUE`, `FIELD!=VALUE`, `FIELD~REGEX`,
    /// `FIELD!~REGEX`, or `FIELD>N` (also `>=`, `<`, `<=`) where N must be a
    /// number; FIELD may be `*` (any field).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let any_of = s
            .split("||")
            .map(|c| Cond::parse(c.trim()).map_err(|why| format!("bad --where {s:?}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Where { any_of })
    }

    /// `--grep TEXT`: TEXT as a substring of any field.
    pub(crate) fn grep(text: &str) -> Result<Self, String> {
        Self::parse(&format!("*~{}", regex_lite::escape(text)))
    }
}

// === impl Cond ===

impl Cond {
    fn parse(s: &str) -> Result<Self, String> {
        let at = s
            .find(['=', '!', '<', '>', '~'])
            .ok_or("no operator (=, !=, ~, !~, >, >=, <, <=)")?;
        let (op, len) = match (s.as_bytes()[at], s.as_bytes().get(at + 1)) {
            (b'!', Some(b'=')) => (Op::Ne, 2),
            (b'!', Some(b'~')) => (Op::NoMatch, 2),
            (b'>', Some(b'=')) => (Op::Ge, 2),
            (b'<', Some(b'=')) => (Op::Le, 2),
            (b'=', Some(b'=')) => return Err("'==' is not an operator: use '='".into()),
            (b'>', _) => (Op::Gt, 1),
            (b'<', _) => (Op::Lt, 1),
            (b'=', _) => (Op::Eq, 1),
            (b'~', _) => (Op::Match, 1),
            _ => return Err("'!' must be followed by '=' or '~'".into()),
        };
        let target = match s[..at].trim() {
            "*" => Target::Any,
            name => Target::Field(Field::parse(name)?),
        };
        let value = s[at + len..].to_owned();
        let number = value.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) && number.is_none() {
            return Err(format!("{value:?} is not a number"));
        }
        let regex = match op {
            Op::Match | Op::NoMatch => Some(
                regex_lite::Regex::new(&value)
                    .map_err(|e| format!("{value:?} is not a regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Cond {
            target,
            op,
            value,
            number,
            regex,
        })
    }

    fn matches(&self, line: &Line<'_>) -> bool {
        match self.op {
            Op::Ne => !self.holds_for(line, Op::Eq),
            Op::NoMatch => !self.holds_for(line, Op::Match),
            op => self.holds_for(line, op),
        }
    }

    /// Whether the target (any field, for `*`) satisfies the positive `op`.
    fn holds_for(&self, line: &Line<'_>, op: Op) -> bool {
        match &self.target {
            Target::Field(f) => line.get(f).is_some_and(|v| self.value_holds(v, op)),
            Target::Any => {
                let top = [Field::Msg, Field::Evt, Field::Source, Field::Level];
                top.iter()
                    .filter_map(|f| line.get(f))
                    .chain(json::members(line.meta).map(|(_, v)| v))
                    .any(|v| self.value_holds(v, op))
            }
        }
    }

    fn value_holds(&self, v: JsonValue<'_>, op: Op) -> bool {
        match op {
            Op::Eq => self.equals(v),
            Op::Match => self.regex.as_ref().is_some_and(|r| r.is_match(&v.text())),
            op => match (v.as_f64(), self.number) {
                (Some(x), Some(n)) => match op {
                    Op::Gt => x > n,
                    Op::Ge => x >= n,
                    Op::Lt => x < n,
                    _ => x <= n,
                },
                _ => false,
            },
        }
    }

    /// Strings compare as text; numbers as text or numerically (`429` equals
    /// `429.0`); booleans, null, objects and arrays as written.
    fn equals(&self, v: JsonValue<'_>) -> bool {
        match v {
            JsonValue::Str(s) => s.is(&self.value),
            JsonValue::Num(raw) => {
                raw == self.value
                    || (self.number.is_some() && raw.parse::<f64>().ok() == self.number)
            }
            other => other.text() == self.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"pipeline::worker","msg":"429 Rate limit","meta":{"status":429,"code":"rate_limited","latency_s":"1.5","ok":false}}"#;

    fn passes(f: &Filter) -> bool {
        f.matches(&Line::parse(LINE).expect("valid"))
    }

    fn wheres(exprs: &[&str]) -> Filter {
        let wheres = exprs
            .iter()
            .map(|e| Where::parse(e).expect("valid"))
            .collect();
        Filter {
            wheres,
            ..Filter::default()
        }
    }

    #[test]
    fn where_conditions_compare_by_type() {
        for yes in [
            "meta.code=rate_limited",
            "meta.status=429",
            "meta.status=429.0",
            "meta.status>=429",
            "meta.status>400",
            "meta.status<500",
            "meta.status<=429",
            "meta.latency_s>1",
            "meta.ok=false",
            "meta.code!=server_error",
            "meta.missing!=x",
            "msg=429 Rate limit",
        ] {
            assert!(passes(&wheres(&[yes])), "{yes}");
        }
        for no in [
            "meta.code=server_error",
            "meta.status>429",
            "meta.status<=428",
            "meta.missing=x",
            "meta.code>1",
            "meta.status!=429",
        ] {
            assert!(!passes(&wheres(&[no])), "{no}");
        }
    }

    #[test]
    fn search_by_regex_on_one_field_or_any_and_alternatives() {
        for yes in [
            "msg~Rate",
            "msg~^429 ",
            "msg~(?i)rate LIMIT",
            "meta.code~limit",
            "*~rate_limited",
            "*~^pipeline::",
            "msg!~timeout",
            "*!~timeout",
            "meta.status=500 || meta.status=429",
            "meta.code=x || *~worker",
        ] {
            assert!(passes(&wheres(&[yes])), "{yes}");
        }
        for no in [
            "msg~timeout",
            "msg!~Rate",
            "*~timeout",
            "*!~limit",
            "meta.missing~.",
            "meta.status=500 || meta.status=502",
        ] {
            assert!(!passes(&wheres(&[no])), "{no}");
        }
        let grep = |t: &str| Filter {
            wheres: vec![Where::grep(t).expect("valid")],
            ..Filter::default()
        };
        assert!(passes(&grep("Rate limit")));
        assert!(passes(&grep("::worker")));
        assert!(!passes(&grep("Rate.limit")), "--grep is a fixed string");
    }

    #[test]
    fn bad_where_expressions_say_what_is_wrong() {
        let err = |s: &str| Where::parse(s).map(|_| ()).expect_err(s);
        assert_eq!(
            err("meta.status>abc"),
            r#"bad --where "meta.status>abc": "abc" is not a number"#
        );
        assert_eq!(
            err("meta.x==1"),
            r#"bad --where "meta.x==1": '==' is not an operator: use '='"#
        );
        assert!(err("msg~(").starts_with(r#"bad --where "msg~(": "(" is not a regex: "#));
        assert!(err("meta.a=1 || meta.b").contains("no operator"));
        for bad in ["meta.code", "code=x", "meta.a!x", "x==1"] {
            err(bad);
        }
        let eq_in_value = Where::parse("msg=a=b").expect("valid");
        assert_eq!(eq_in_value.any_of[0].value, "a=b");
    }

    #[test]
    fn names_levels_and_time_filter_the_line() {
        let level = |l| Filter {
            min_level: Some(l),
            ..Filter::default()
        };
        assert!(passes(&level(LineLevel::Error)));
        assert!(!passes(&level(LineLevel::Critical)));
        let evts = |e: &[&str]| Filter {
            evts: e.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        assert!(passes(&evts(&["translation_done", "openrouter_error"])));
        assert!(passes(&evts(&["openrouter_*"])));
        assert!(!passes(&evts(&["openrouter"])));
        let sources = Filter {
            sources: vec!["pipeline::*".into()],
            ..Filter::default()
        };
        assert!(passes(&sources));
        let ts = 1_759_758_190_123;
        assert!(passes(&Filter {
            from_ms: Some(ts),
            to_ms: Some(ts + 1),
            ..Filter::default()
        }));
        assert!(!passes(&Filter {
            to_ms: Some(ts),
            ..Filter::default()
        }));
    }

    #[test]
    fn whole_days_outside_the_range_are_skipped() {
        let f = Filter {
            from_ms: Some(10 * DAY_MS + 5),
            to_ms: Some(12 * DAY_MS),
            ..Filter::default()
        };
        assert_eq!(
            (9..=12).map(|d| f.may_match_day(d)).collect::<Vec<_>>(),
            [false, true, true, false]
        );
    }
}
