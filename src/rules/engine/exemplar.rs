//! Keeping an event as the exemplar of the series (or bucket) it updated,
//! for rules that name exemplar fields.

use super::*;

impl MetricsEngine {
    /// Keeps the event as the exemplar of its series (or bucket), when one
    /// of the rule's exemplar fields is present. `known`: the series' handle
    /// was this thread's remembered one.
    #[inline(never)]
    pub(super) fn keep_exemplar(
        &self,
        i: usize,
        plan: &RulePlan,
        fields: &Fields<'_, '_>,
        (update, known): (Update, bool),
        at: &At,
        recent: &mut Recent,
    ) {
        let Some(table) = self.exemplars.table(plan.metric) else {
            return;
        };
        let present = (plan.exemplar.iter().enumerate())
            .filter_map(|(k, slot)| Some((k, fields.get(*slot)?)));
        if present.clone().next().is_none() {
            return;
        }
        let value = match update {
            Update::One => 1.0,
            Update::Value(v) => v,
        };
        let names = &plan.exemplar_names;
        let cut = match remembered_exemplars(i, known, recent) {
            Some(slots) => table.record(slots, names, present, value, at.ts_ms),
            None => {
                fill_key(&mut recent.key, plan, fields);
                let Some(slots) = table.slots_for(&recent.key) else {
                    return;
                };
                let cut = table.record(&slots, names, present, value, at.ts_ms);
                // Remembered with the stamp of the handle remembered for the
                // same label values, so one check serves both.
                let stamp = recent.series.get(i).and_then(Option::as_ref).map(|s| s.1);
                if let (Some(stamp), Some(remember)) = (stamp, recent.exemplars.get_mut(i))
                    && (known || Some(stamp) == at.stamp)
                {
                    *remember = Some((slots, stamp));
                }
                cut
            }
        };
        if cut {
            let key = &mut recent.key;
            key.clear();
            key.push_str(&self.metrics[plan.metric].name);
            self.own.exemplars_cut.with_handle(key, increment_by_one);
        }
    }
}

/// Rule `i`'s exemplar slots as this thread last found them, if they were
/// found with the handle it remembers and that handle is `known` (current).
#[inline]
fn remembered_exemplars(i: usize, known: bool, recent: &Recent) -> Option<&Slots> {
    if !known {
        return None;
    }
    let (_, handle_at) = recent.series.get(i)?.as_ref()?;
    let (slots, made_at) = recent.exemplars.get(i)?.as_ref()?;
    (made_at == handle_at).then_some(slots)
}
