//! Small SVG charts for the HTML report: lines, stacked bars, horizontal
//! bars. Every chart has a title, axis labels with units, and a legend;
//! data marks carry `class="mark"` and a `<title>` tooltip.

use std::fmt::Write;

use super::html::esc;

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 56.0;
/// Width of one character of an 11 px label, a little generous.
const LABEL_CHAR_PX: f64 = 6.5;
/// Okabe–Ito and friends: distinguishable with common colour blindness.
const PALETTE: [&str; 10] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
    "#999999", "#882255",
];

/// Title and axis labels (with units) of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Frame<'a> {
    pub(crate) title: &'a str,
    pub(crate) x_label: &'a str,
    pub(crate) y_label: &'a str,
}

/// One named series of values, one per x category.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<f64>,
}

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A line per series over categories `labels` (time buckets).
pub(crate) fn line_chart(frame: &Frame<'_>, labels: &[String], series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let mut svg = open(frame, series.iter().map(|s| s.name.as_str()));
    let scale = y_axis(&mut svg, max);
    x_labels(&mut svg, labels);
    let step = plot_width() / labels.len().max(1) as f64;
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(j, &v)| format!("{:.1} {:.1}", LEFT + step * (j as f64 + 0.5), scale.y(v)))
            .collect();
        let d = format!("M{}", points.join(" L"));
        let _ = write!(
            svg,
            r#"<path class="mark" d="{d}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>"#,
            color(i),
            esc(&s.name)
        );
    }
    close(svg, labels.is_empty())
}

/// Bars per category, stacked by series.
pub(crate) fn stacked_bars(
    frame: &Frame<'_>,
    labels: &[String],
    series: &[Series],
    fmt: fn(f64) -> String,
) -> String {
    let totals: Vec<f64> = (0..labels.len())
        .map(|j| series.iter().map(|s| s.values[j]).sum())
        .collect();
    let mut svg = open(frame, series.iter().map(|s| s.name.as_str()));
    let scale = y_axis(&mut svg, totals.iter().copied().fold(0.0, f64::max));
    x_labels(&mut svg, labels);
    let step = plot_width() / labels.len().max(1) as f64;
    let bar = (step * 0.8).max(1.0);
    for (j, label) in labels.iter().enumerate() {
        let x = LEFT + step * j as f64 + (step - bar) / 2.0;
        let mut base = 0.0;
        for (i, s) in series.iter().enumerate().filter(|(_, s)| s.values[j] > 0.0) {
            let (top, bottom) = (scale.y(base + s.values[j]), scale.y(base));
            base += s.values[j];
            let tip = format!("{label} · {}: {}", s.name, fmt(s.values[j]));
            let _ = write!(
                svg,
                r#"<rect class="mark" x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                (bottom - top).max(0.5),
                color(i),
                esc(&tip)
            );
        }
    }
    close(svg, totals.iter().all(|&t| t == 0.0))
}

/// One horizontal bar per label; `legend` names what the bars measure.
pub(crate) fn hbars(
    frame: &Frame<'_>,
    labels: &[String],
    values: &[f64],
    legend: &str,
    fmt: fn(f64) -> String,
) -> String {
    let mut svg = open(frame, [legend]);
    let max = values.iter().copied().fold(0.0, f64::max);
    let scale = Scale::new(max, plot_width());
    let row = (HEIGHT - TOP - BOTTOM) / labels.len().max(1) as f64;
    let bar = (row * 0.7).min(28.0);
    for t in scale.ticks() {
        let x = LEFT + scale.len(t);
        let _ = write!(
            svg,
            r#"<path class="grid" d="M{x:.1} {TOP} V{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            scale.label(t)
        );
    }
    for (j, (label, &v)) in labels.iter().zip(values).enumerate() {
        let y = TOP + row * j as f64 + (row - bar) / 2.0;
        let w = scale.len(v).max(1.0);
        let _ = write!(
            svg,
            r#"<rect class="mark" x="{LEFT}" y="{y:.1}" width="{w:.1}" height="{bar:.1}" fill="{}"><title>{}: {}</title></rect>"#,
            color(0),
            esc(label),
            fmt(v)
        );
        // Inside the bar when it fits, else just past its end in dark text.
        let text = format!("{label} · {}", fmt(v));
        let (class, x) = if LABEL_CHAR_PX * text.chars().count() as f64 + 12.0 <= w {
            ("bar-label", LEFT + 6.0)
        } else {
            ("bar-label-out", LEFT + w + 6.0)
        };
        let _ = write!(
            svg,
            r#"<text class="{class}" x="{x:.1}" y="{:.1}">{}</text>"#,
            y + bar / 2.0 + 4.0,
            esc(&text)
        );
    }
    let _ = write!(
        svg,
        r#"<path class="axis" d="M{LEFT} {TOP} V{:.1} H{:.1}"/>"#,
        HEIGHT - BOTTOM,
        WIDTH - RIGHT
    );
    close(svg, labels.is_empty())
}

// === frame pieces ===

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

/// Starts a chart: background, title, legend, axis labels.
fn open<'n>(frame: &Frame<'_>, names: impl IntoIterator<Item = &'n str>) -> String {
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMinYMin meet" role="img"><title>{t}</title><rect class="bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/><text class="title" x="{LEFT}" y="22">{t}</text>"#,
        t = esc(frame.title)
    );
    let mut x = LEFT;
    for (i, name) in names.into_iter().enumerate() {
        let _ = write!(
            svg,
            r#"<g class="legend"><rect x="{x:.1}" y="34" width="12" height="12" fill="{}"/><text x="{:.1}" y="44">{}</text></g>"#,
            color(i),
            x + 16.0,
            esc(name)
        );
        x += 28.0 + 7.0 * name.chars().count() as f64;
    }
    let _ = write!(
        svg,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-label" transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LEFT + plot_width() / 2.0,
        HEIGHT - 10.0,
        esc(frame.x_label),
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        esc(frame.y_label)
    );
    svg
}

fn close(mut svg: String, empty: bool) -> String {
    if empty {
        let _ = write!(
            svg,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">no data in range</text>"#,
            LEFT + plot_width() / 2.0,
            TOP + (HEIGHT - TOP - BOTTOM) / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Draws the y axis with grid lines and tick labels; returns its scale.
fn y_axis(svg: &mut String, max: f64) -> Scale {
    let scale = Scale::new(max, HEIGHT - TOP - BOTTOM);
    for t in scale.ticks() {
        let y = scale.y(t);
        let _ = write!(
            svg,
            r#"<path class="grid" d="M{LEFT} {y:.1} H{:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            scale.label(t)
        );
    }
    let _ = write!(
        svg,
        r#"<path class="axis" d="M{LEFT} {TOP} V{:.1} H{:.1}"/>"#,
        HEIGHT - BOTTOM,
        WIDTH - RIGHT
    );
    scale
}

/// Category labels under the x axis, thinned to about eight.
fn x_labels(svg: &mut String, labels: &[String]) {
    let step = plot_width() / labels.len().max(1) as f64;
    let every = labels.len().div_ceil(8).max(1);
    for (j, label) in labels.iter().enumerate().filter(|(j, _)| j % every == 0) {
        let x = LEFT + step * (j as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - BOTTOM + 16.0,
            esc(label)
        );
    }
}

/// A linear scale from 0 to a "nice" top value over `len` pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    top: f64,
    step: f64,
    len: f64,
}

impl Scale {
    fn new(max: f64, len: f64) -> Self {
        let step = nice_step(max / 5.0);
        let top = (max / step).ceil().max(1.0) * step;
        Scale { top, step, len }
    }

    /// Pixels from the axis for value `v`.
    fn len(&self, v: f64) -> f64 {
        v / self.top * self.len
    }

    /// The y pixel of value `v` on a vertical scale.
    fn y(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - self.len(v)
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = (self.top / self.step).round() as usize;
        (0..=n).map(move |i| i as f64 * self.step)
    }

    /// Tick text with just the decimals the step needs.
    fn label(&self, v: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// The smallest 1, 2 or 5 × 10^k at least `raw` (1 for nothing).
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame<'static> {
        Frame {
            title: "T <1>",
            x_label: "time (UTC)",
            y_label: "events per 1m",
        }
    }

    #[test]
    fn nice_steps_are_1_2_5_times_a_power_of_ten() {
        let steps: Vec<f64> = [0.0, 0.7, 3.0, 12.0, 0.013]
            .iter()
            .map(|&r| nice_step(r))
            .collect();
        assert_eq!(steps, [1.0, 1.0, 5.0, 20.0, 0.02]);
        let s = Scale::new(0.043, 100.0);
        assert_eq!(
            s.ticks().map(|t| s.label(t)).collect::<Vec<_>>(),
            ["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"]
        );
    }

    #[test]
    fn charts_have_title_axis_labels_legend_and_marks() {
        let labels = vec!["10:00".to_string(), "10:01".to_string()];
        let series = [
            Series {
                name: "429".into(),
                values: vec![1.0, 0.0],
            },
            Series {
                name: "500".into(),
                values: vec![2.0, 3.0],
            },
        ];
        for svg in [
            line_chart(&frame(), &labels, &series),
            stacked_bars(&frame(), &labels, &series, |v| format!("{v}")),
            hbars(&frame(), &labels, &[1.5, 3.0], "P95 latency (s)", |v| {
                format!("{v} s")
            }),
        ] {
            assert!(svg.starts_with(r#"<svg class="chart""#) && svg.ends_with("</svg>"));
            assert!(
                svg.contains("T &lt;1&gt;")
                    && svg.contains("time (UTC)")
                    && svg.contains("events per 1m")
            );
            assert!(svg.contains(r#"class="legend""#) && svg.contains(r#"class="mark""#));
            assert!(!svg.contains("no data"));
        }
        let bars = stacked_bars(&frame(), &labels, &series, |v| format!("{v}"));
        assert_eq!(bars.matches(r#"<rect class="mark""#).count(), 3);
    }

    #[test]
    fn charts_scale_with_the_page_and_short_bars_keep_readable_labels() {
        let labels = vec!["long-model-name".to_string(), "m".to_string()];
        let svg = hbars(&frame(), &labels, &[100.0, 1.0], "n", |v| format!("{v}"));
        assert!(svg.starts_with(
            r#"<svg class="chart" viewBox="0 0 880 320" preserveAspectRatio="xMinYMin meet" role="img">"#
        ));
        assert!(svg.contains(r#"<text class="bar-label" x="84.0" y="#));
        assert!(svg.contains(r#"<text class="bar-label-out" x="#));
        assert!(svg.contains(">m · 1</text>"));
    }

    #[test]
    fn empty_charts_say_so() {
        let svg = stacked_bars(&frame(), &[], &[], |v| format!("{v}"));
        assert!(svg.contains("no data in range") && !svg.contains(r#"class="mark""#));
    }
}
