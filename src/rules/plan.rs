//! Where the rules of each `evt` read their inputs: every field any of them
//! needs (conditions, value, labels) is looked up once per event, and each
//! rule reads it by position.
//!
//! Several rules often read the same field (`status` as a label of one
//! metric and the value of another); a lookup scans the event's fields by
//! name, so doing it once per event rather than once per use saves most of
//! the lookups of a typical rule set.

use std::collections::HashMap;

use crate::capture::value::{EventView, FieldValue, FoundAt};
use crate::rules::compile::{LabelSource, MetricDef, RuleDef};
use crate::rules::exemplars::Names;
use crate::rules::rule::Kind;

/// Fields looked up up front per event, without allocating; an `evt` whose
/// rules read more looks the rest up on each use.
pub(crate) const INLINE_FIELDS: usize = 8;

/// The rules of one `evt`, and the fields they read.
#[derive(Debug, Default)]
pub(crate) struct EvtRules {
    pub(crate) fields: Box<[String]>,
    /// The slots of the fields some rule takes a label from.
    pub(crate) label_fields: Box<[usize]>,
    /// Indices into the engine's rules, in rule order.
    pub(crate) rules: Box<[usize]>,
}

/// One rule's inputs, as positions in its [`EvtRules::fields`], and what
/// an event needs of its rule and metric.
#[derive(Debug)]
pub(crate) struct RulePlan {
    pub(crate) metric: usize,
    pub(crate) kind: Kind,
    /// Bit `1 << level as u8` set for each accepted level.
    pub(crate) level_mask: u8,
    pub(crate) when: Box<[(usize, String)]>,
    pub(crate) value: Option<usize>,
    /// One per label of the metric, in the metric's label order.
    pub(crate) labels: Box<[PlanLabel]>,
    /// Each field label's position in [`EvtRules::label_fields`], in label order.
    pub(crate) label_refs: Box<[usize]>,
    /// The slots of the exemplar fields (empty: no exemplars).
    pub(crate) exemplar: Box<[usize]>,
    /// The exemplar fields' names, in the same order.
    pub(crate) exemplar_names: Names,
}

/// Where one label value comes from.
#[derive(Debug)]
pub(crate) enum PlanLabel {
    Field(usize),
    /// Already cleaned (see `crate::rules::series::clean_label`).
    Static(String),
}

/// The rules grouped by `evt`, and each rule's plan (in rule order).
#[derive(Debug, Default)]
pub(crate) struct Plans {
    pub(crate) by_evt: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    pub(crate) groups: Vec<EvtRules>,
    pub(crate) rules: Vec<RulePlan>,
}

impl Plans {
    pub(crate) fn new(rules: &[RuleDef], metrics: &[MetricDef]) -> Self {
        let mut plans = Plans::default();
        let mut groups: Vec<GroupBuilder> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let next = groups.len();
            let g = *plans.by_evt.entry(rule.evt.as_str().into()).or_insert(next);
            if g == next {
                groups.push(GroupBuilder::default());
            }
            groups[g].rules.push(i);
            let kind = metrics
                .get(rule.metric)
                .map_or(Kind::Counter, |m| m.kind.rule_kind());
            plans.rules.push(RulePlan::new(rule, kind, &mut groups[g]));
        }
        plans.groups = groups
            .into_iter()
            .map(|g| EvtRules {
                fields: g.fields.into(),
                label_fields: g.label_fields.into(),
                rules: g.rules.into(),
            })
            .collect();
        plans
    }
}

#[derive(Debug, Default)]
struct GroupBuilder {
    fields: Vec<String>,
    label_fields: Vec<usize>,
    rules: Vec<usize>,
}

/// The position of `item` in `list`, added if new.
fn position_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

impl RulePlan {
    fn new(rule: &RuleDef, kind: Kind, group: &mut GroupBuilder) -> Self {
        let mut slot = |name: &str| position_of(&mut group.fields, name.to_string());
        let when = rule.when.iter().map(|(f, want)| (slot(f), want.clone()));
        let when = when.collect();
        let value = rule.value.as_deref().map(&mut slot);
        let labels: Box<[PlanLabel]> = (rule.sources.iter())
            .map(|s| match s {
                LabelSource::Field(f) => PlanLabel::Field(slot(f)),
                LabelSource::Static(v) => PlanLabel::Static(v.clone()),
            })
            .collect();
        let exemplar = rule.exemplar.iter().map(|f| slot(f)).collect();
        let exemplar_names = rule
            .exemplar
            .iter()
            .map(|f| Box::from(f.as_str()))
            .collect();
        let label_refs = labels.iter().filter_map(|l| match l {
            PlanLabel::Field(slot) => Some(position_of(&mut group.label_fields, *slot)),
            PlanLabel::Static(_) => None,
        });
        RulePlan {
            metric: rule.metric,
            kind,
            level_mask: rule.level_mask,
            when,
            value,
            label_refs: label_refs.collect(),
            labels,
            exemplar,
            exemplar_names,
        }
    }
}

impl EvtRules {
    /// The value of the `i`th of [`label_fields`](Self::label_fields).
    pub(crate) fn label_value<'a>(
        &self,
        fields: &Fields<'_, 'a>,
        i: usize,
    ) -> Option<FieldValue<'a>> {
        fields.get(*self.label_fields.get(i)?)
    }
}

/// The first values of a [`Fields`], kept by the caller (on its stack).
pub(crate) type InlineValues<'a> = [Option<FieldValue<'a>>; INLINE_FIELDS];

/// The fields one event's rules read, looked up once.
pub(crate) struct Fields<'f, 'a> {
    ev: &'a dyn EventView,
    names: &'a [String],
    inline: &'f InlineValues<'a>,
}

impl<'f, 'a> Fields<'f, 'a> {
    /// Looks `names` up in `ev`, the first ones into `inline`; `seen`
    /// (see [`EventView::lookup`]) is this thread's memory of where they
    /// were last time, if it keeps one.
    #[inline]
    pub(crate) fn lookup(
        ev: &'a dyn EventView,
        names: &'a [String],
        inline: &'f mut InlineValues<'a>,
        seen: &mut [Option<FoundAt>],
    ) -> Self {
        let n = names.len().min(INLINE_FIELDS);
        ev.lookup(&names[..n], &mut inline[..n], seen);
        Fields { ev, names, inline }
    }

    /// The value of field `slot` of the event's field list.
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Option<FieldValue<'a>> {
        match self.inline.get(slot) {
            Some(value) => *value,
            None => self.ev.field(self.names.get(slot)?),
        }
    }
}

impl std::fmt::Debug for Fields<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.names.len();
        let values = (0..n).map(|i| (&self.names[i], self.get(i)));
        f.debug_map().entries(values).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::compile;
    use crate::rules::engine::tests::Ev;
    use crate::rules::rule::MetricRule;

    #[test]
    fn each_field_is_listed_once_per_evt_and_read_by_position() {
        let rules = vec![
            MetricRule::counter("a_total")
                .on("e")
                .labels(["status", "model"])
                .static_label("team", "nlp"),
            MetricRule::histogram("b").on("e").value("status"),
            MetricRule::counter("c_total")
                .on("other")
                .when("model", "m"),
            MetricRule::daily_sum("d")
                .on("e")
                .value("cost")
                .labels(["model"]),
        ];
        let compiled = compile(rules, 10).expect("valid");
        let plans = Plans::new(&compiled.rules, &compiled.metrics);
        assert_eq!(plans.groups.len(), 2);
        let e = &plans.groups[plans.by_evt["e"]];
        assert_eq!(&*e.fields, ["status", "model", "cost"]);
        assert_eq!(&*e.label_fields, [0, 1]);
        assert_eq!(&*e.rules, [0, 1, 3]);
        assert_eq!(&*plans.rules[0].label_refs, [0, 1]);
        assert_eq!(&*plans.rules[3].label_refs, [1]);
        assert_eq!(plans.rules[1].value, Some(0));
        assert_eq!(plans.rules[3].value, Some(2));
        let other = &plans.groups[plans.by_evt["other"]];
        assert_eq!(
            (&*other.fields, &*other.rules),
            (&["model".to_string()][..], &[2][..])
        );
        assert_eq!(plans.rules[2].when[0].0, 0);

        let ev = Ev::new("e").u("status", 429).s("cost", "0.5");
        let mut inline = [None; INLINE_FIELDS];
        let fields = Fields::lookup(&ev, &e.fields, &mut inline, &mut []);
        let labels: Vec<_> = (0..2).map(|i| e.label_value(&fields, i)).collect();
        assert_eq!(labels, [Some(FieldValue::U64(429)), None]);
        assert_eq!(fields.get(2), Some(FieldValue::Str("0.5")));
        assert_eq!(fields.get(3), None);
    }

    #[test]
    fn fields_past_the_inline_ones_are_looked_up_on_use() {
        let names: Vec<String> = (0..INLINE_FIELDS + 3).map(|i| format!("f{i}")).collect();
        let ev = Ev::new("e").u("f0", 0).u("f9", 9).u("f10", 10);
        let mut inline = [None; INLINE_FIELDS];
        let fields = Fields::lookup(&ev, &names, &mut inline, &mut []);
        assert_eq!(fields.get(0), Some(FieldValue::U64(0)));
        assert_eq!(fields.get(9), Some(FieldValue::U64(9)));
        assert_eq!(fields.get(10), Some(FieldValue::U64(10)));
        assert_eq!(fields.get(5), None);
        assert_eq!(fields.get(99), None);
    }
}
