//! The report page: inline CSS, a summary, the charts and tables. No
//! scripts, fonts, images or links to anything outside the file.

use std::fmt::Write;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:920px;color:#222;background:#fafafa}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin:28px 0 8px}
.note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;background:#fff;max-width:100%}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}td:first-child{white-space:nowrap}
section{margin-top:22px}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;width:100%;height:auto;background:#fff;border:1px solid #ddd;margin:4px 0;font-size:12px}
.wide-last{overflow-x:auto}.wide-last td:last-child{min-width:14em}
.links{margin:4px 0;font-size:.9em}a{color:#0b57a4}
svg .bg{fill:#fff}svg .title{font-size:15px;font-weight:600}
svg .axis{fill:none;stroke:#333;stroke-width:1}svg .grid{fill:none;stroke:#e4e4e4;stroke-width:1}
svg .tick{fill:#444;font-size:11px}svg .axis-label{fill:#222;font-size:12px}
svg .bar-label{fill:#fff;font-size:11px;paint-order:stroke;stroke:#0072B2;stroke-width:3px}
svg .bar-label-out{fill:#222;font-size:11px}
svg .empty{fill:#888;font-size:14px}
";

/// Escapes text for HTML and SVG content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table; cells are escaped, and right-aligned where `numeric[i]`.
pub(crate) fn table(header: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><tr>");
    for h in header {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.get(i) == Some(&true) {
                r#" class="num""#
            } else {
                ""
            };
            let _ = write!(html, "<td{class}>{}</td>", esc(cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// A section: a heading, an optional note, then `body` (already HTML).
pub(crate) fn section(heading: &str, note: &str, body: &str) -> String {
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="note">{}</p>"#, esc(note))
    };
    format!("<section><h2>{}</h2>{note}{body}</section>\n", esc(heading))
}

/// The whole page.
pub(crate) fn page(title: &str, subtitle: &str, sections: &[String]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\n{STYLE}</style></head>\n<body><h1>{t}</h1><p class=\"note\">{}</p>\n",
        esc(subtitle),
        t = esc(title)
    );
    for s in sections {
        html.push_str(s);
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let t = table(&["a<b"], &[true], &[vec!["1 & 2".into()]]);
        assert_eq!(
            t,
            r#"<table><tr><th>a&lt;b</th></tr><tr><td class="num">1 &amp; 2</td></tr></table>"#
        );
    }

    #[test]
    fn pages_are_self_contained() {
        let html = page("R", "sub", &[section("S", "n", "<p>x</p>")]);
        for banned in [
            "<script", "<link", "src=", "url(", "http:", "https:", "@import",
        ] {
            assert!(!html.contains(banned), "{banned}");
        }
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<section><h2>S</h2>"));
    }
}
