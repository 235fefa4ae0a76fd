//! The last step of rendering `/metrics`: stable order and counter types.
//!
//! metrics-exporter-prometheus renders families and series in hash-map order,
//! and can only render its (integer) counters as `counter`. We keep fractional
//! counters (costs) in gauges, so this step rewrites their `# TYPE` line, and
//! sorts families by name and series by labels so two scrapes of the same
//! state give the same text.

/// One metric family of the exposition text.
#[derive(Debug, Default)]
struct Family<'a> {
    name: &'a str,
    help: Option<&'a str>,
    kind: Option<&'a str>,
    samples: Vec<&'a str>,
}

/// Sorts families and series, and exposes `float_counters` as counters.
pub(crate) fn finish_exposition(raw: &str, float_counters: &[String]) -> String {
    let mut families = parse(raw);
    families.sort_by(|a, b| a.name.cmp(b.name));
    let mut out = String::with_capacity(raw.len() + 64);
    for fam in &mut families {
        sort_samples(fam);
        write_family(&mut out, fam, float_counters.iter().any(|n| n == fam.name));
    }
    out
}

fn parse(raw: &str) -> Vec<Family<'_>> {
    let mut families: Vec<Family<'_>> = Vec::new();
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let (header, name) = match line
            .strip_prefix("# HELP ")
            .or(line.strip_prefix("# TYPE "))
        {
            Some(rest) => (true, rest.split(' ').next().unwrap_or("")),
            None if line.starts_with('#') => continue,
            None => (false, sample_name(line)),
        };
        let fits = families.last().is_some_and(|f| {
            if header {
                f.name == name && f.samples.is_empty()
            } else {
                belongs(f, name)
            }
        });
        if !fits {
            families.push(Family {
                name,
                ..Family::default()
            });
        }
        // Always Some: a family was pushed above if there was none.
        let Some(fam) = families.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            fam.kind = rest.split(' ').nth(1);
        } else if header {
            fam.help = Some(line);
        } else {
            fam.samples.push(line);
        }
    }
    families
}

fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// Whether a sample named `name` is part of family `f`.
fn belongs(f: &Family<'_>, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(f.name) else {
        return false;
    };
    match f.kind {
        Some("histogram") => ["", "_bucket", "_sum", "_count"].contains(&rest),
        Some("summary") => ["", "_sum", "_count"].contains(&rest),
        _ => rest.is_empty(),
    }
}

/// Sorts series by their labels; histogram and summary series stay whole
/// (their lines in order, ending with `_count`).
fn sort_samples(fam: &mut Family<'_>) {
    if !matches!(fam.kind, Some("histogram" | "summary")) {
        fam.samples.sort_unstable();
        return;
    }
    let count_name = format!("{}_count", fam.name);
    let mut groups: Vec<Vec<&str>> = vec![Vec::new()];
    for &line in &fam.samples {
        // Always Some: `groups` starts non-empty and only grows.
        if let Some(g) = groups.last_mut() {
            g.push(line);
        }
        if sample_name(line) == count_name {
            groups.push(Vec::new());
        }
    }
    groups.retain(|g| !g.is_empty());
    groups.sort_by(|a, b| group_labels(a).cmp(group_labels(b)));
    fam.samples = groups.into_iter().flatten().collect();
}

/// The labels of a histogram/summary series: those of its last (`_count`) line.
fn group_labels<'a>(group: &[&'a str]) -> &'a str {
    group
        .last()
        .map(|l| &l[sample_name(l).len()..])
        .unwrap_or("")
}

fn write_family(out: &mut String, fam: &Family<'_>, float_counter: bool) {
    if let Some(help) = fam.help {
        out.push_str(help);
        out.push('\n');
    }
    if let Some(kind) = fam.kind {
        let kind = if float_counter && kind == "gauge" {
            "counter"
        } else {
            kind
        };
        out.push_str("# TYPE ");
        out.push_str(fam.name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
    }
    for s in &fam.samples {
        out.push_str(s);
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RAW: &str = "\
# HELP b_total B
# TYPE b_total counter
b_total{x=\"2\"} 1
b_total{x=\"1\"} 5

# HELP cost_usd_total Cost
# TYPE cost_usd_total gauge
cost_usd_total{m=\"z\"} 0.5
cost_usd_total{m=\"a\"} 1.25

# HELP a_seconds Lat
# TYPE a_seconds histogram
a_seconds_bucket{m=\"z\",le=\"1\"} 0
a_seconds_bucket{m=\"z\",le=\"+Inf\"} 1
a_seconds_sum{m=\"z\"} 3
a_seconds_count{m=\"z\"} 1
a_seconds_bucket{m=\"a\",le=\"1\"} 1
a_seconds_bucket{m=\"a\",le=\"+Inf\"} 1
a_seconds_sum{m=\"a\"} 0.5
a_seconds_count{m=\"a\"} 1

";

    #[test]
    fn families_and_series_are_sorted_and_float_counters_typed_counter() {
        let want = "\
# HELP a_seconds Lat
# TYPE a_seconds histogram
a_seconds_bucket{m=\"a\",le=\"1\"} 1
a_seconds_bucket{m=\"a\",le=\"+Inf\"} 1
a_seconds_sum{m=\"a\"} 0.5
a_seconds_count{m=\"a\"} 1
a_seconds_bucket{m=\"z\",le=\"1\"} 0
a_seconds_bucket{m=\"z\",le=\"+Inf\"} 1
a_seconds_sum{m=\"z\"} 3
a_seconds_count{m=\"z\"} 1

# HELP b_total B
# TYPE b_total counter
b_total{x=\"1\"} 5
b_total{x=\"2\"} 1

# HELP cost_usd_total Cost
# TYPE cost_usd_total counter
cost_usd_total{m=\"a\"} 1.25
cost_usd_total{m=\"z\"} 0.5

";
        assert_eq!(finish_exposition(RAW, &["cost_usd_total".into()]), want);
    }

    #[test]
    fn gauges_not_listed_stay_gauges() {
        let out = finish_exposition(RAW, &[]);
        assert!(out.contains("# TYPE cost_usd_total gauge\n"), "{out}");
    }

    proptest! {
        #[test]
        fn order_of_input_families_does_not_matter(seed in any::<u64>()) {
            let mut blocks: Vec<&str> = RAW.split("\n\n").filter(|b| !b.is_empty()).collect();
            let n = blocks.len();
            blocks.rotate_left((seed % n as u64) as usize);
            if seed % 2 == 1 { blocks.swap(0, n - 1); }
            let shuffled = blocks.join("\n\n") + "\n\n";
            let once = finish_exposition(&shuffled, &[]);
            prop_assert_eq!(&once, &finish_exposition(RAW, &[]));
            prop_assert_eq!(finish_exposition(&once, &[]), once);
        }
    }
}
