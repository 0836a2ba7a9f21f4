//! Small inline SVG charts for the report, drawn by hand: interval bars for the leaderboard and a
//! line chart for agreement over time. They use shapes and text labels as well as colour, so they
//! read in black and white, and every string is escaped.

use std::fmt::Write;

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One row of an interval chart.
#[derive(Debug, Clone)]
pub struct IntervalRow {
    /// The label on the left.
    pub label: String,
    /// The point estimate.
    pub value: f64,
    /// The interval, if known.
    pub ci: Option<(f64, f64)>,
}

/// A horizontal interval chart (one row per model: a line from lo to hi and a dot at the value).
pub fn interval_chart(rows: &[IntervalRow], title: &str) -> String {
    let finite: Vec<f64> = rows
        .iter()
        .flat_map(|r| [Some(r.value), r.ci.map(|c| c.0), r.ci.map(|c| c.1)])
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return String::new();
    }
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi - lo < 1e-9 {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
    let label_w = 170.0;
    let plot_w = 460.0;
    let row_h = 26.0;
    let top = 10.0;
    let height = top + row_h * rows.len() as f64 + 34.0;
    let x = |v: f64| label_w + (v - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" class="chart">"#,
        escape(title),
        label_w + plot_w + 20.0,
        height,
        label_w + plot_w + 20.0,
        height
    );
    let _ = write!(s, "<title>{}</title>", escape(title));
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64 + row_h / 2.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" class="lbl">{}</text>"#,
            label_w - 8.0,
            y + 4.0,
            escape(&r.label)
        );
        let _ = write!(
            s,
            r#"<line x1="{}" x2="{}" y1="{y}" y2="{y}" class="grid"/>"#,
            label_w,
            label_w + plot_w
        );
        if let Some((a, b)) = r.ci.filter(|(a, b)| a.is_finite() && b.is_finite()) {
            let _ = write!(
                s,
                r#"<line x1="{:.1}" x2="{:.1}" y1="{y}" y2="{y}" class="ci"/>"#,
                x(a),
                x(b)
            );
            for v in [a, b] {
                let _ = write!(
                    s,
                    r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" class="ci"/>"#,
                    x(v),
                    y - 5.0,
                    y + 5.0
                );
            }
        }
        if r.value.is_finite() {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{y}" r="4.5" class="pt"/>"#,
                x(r.value)
            );
        }
    }
    let axis_y = top + row_h * rows.len() as f64 + 8.0;
    let _ = write!(
        s,
        r#"<line x1="{label_w}" x2="{}" y1="{axis_y}" y2="{axis_y}" class="axis"/>"#,
        label_w + plot_w
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            x(v),
            axis_y + 16.0,
            tick(v)
        );
    }
    s.push_str("</svg>");
    s
}

/// One point of a series over windows.
#[derive(Debug, Clone)]
pub struct SeriesPoint {
    /// The window's label.
    pub label: String,
    /// The value (None: not computable in that window).
    pub value: Option<f64>,
    /// Whether the window is flagged (below the threshold).
    pub flagged: bool,
}

/// A line chart of one statistic over windows, with an optional threshold line; flagged points
/// are drawn as crosses (not only in another colour).
pub fn window_chart(points: &[SeriesPoint], threshold: Option<f64>, title: &str) -> String {
    let values: Vec<f64> = points
        .iter()
        .filter_map(|p| p.value)
        .chain(threshold)
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return String::new();
    }
    let lo = values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = values
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(1.0);
    let (w, h, left, top, bottom) = (640.0, 220.0, 50.0, 12.0, 44.0);
    let plot_w = w - left - 16.0;
    let plot_h = h - top - bottom;
    let n = points.len().max(1);
    // Points stand in from the plot's edges, so the first and last labels fit.
    let inset = 40.0;
    let x = |i: usize| {
        left + if n == 1 {
            plot_w / 2.0
        } else {
            inset + (plot_w - 2.0 * inset) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + plot_h - (v - lo) / (hi - lo) * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{0}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" class="chart"><title>{0}</title>"#,
        escape(title)
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let (x2, gy) = (left + plot_w, y(v));
        let _ = write!(
            s,
            r#"<line x1="{left}" x2="{x2}" y1="{gy:.1}" y2="{gy:.1}" class="grid"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
            left - 6.0,
            gy + 4.0,
            tick(v)
        );
    }
    if let Some(t) = threshold {
        let (x2, ty) = (left + plot_w, y(t));
        let _ = write!(
            s,
            r#"<line x1="{left}" x2="{x2}" y1="{ty:.1}" y2="{ty:.1}" class="threshold"/><text x="{x2}" y="{:.1}" text-anchor="end" class="tick">threshold {}</text>"#,
            ty - 4.0,
            tick(t)
        );
    }
    let mut path = String::new();
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p.value {
            let _ = write!(
                path,
                "{}{:.1},{:.1} ",
                if path.is_empty() { "M" } else { "L" },
                x(i),
                y(v)
            );
        }
    }
    if !path.is_empty() {
        let _ = write!(s, r#"<path d="{}" class="series"/>"#, path.trim_end());
    }
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p.value {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{v:.2}{}</text>"#,
                x(i),
                y(v) - 9.0,
                if p.flagged { " (below)" } else { "" }
            );
            if p.flagged {
                let (cx, cy) = (x(i), y(v));
                let _ = write!(
                    s,
                    r#"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" class="flag"/>"#,
                    cx - 5.0,
                    cy - 5.0,
                    cx + 5.0,
                    cy + 5.0,
                    cx - 5.0,
                    cy + 5.0,
                    cx + 5.0,
                    cy - 5.0
                );
            } else {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="4" class="pt"/>"#,
                    x(i),
                    y(v)
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            x(i),
            h - bottom + 18.0,
            escape(&p.label)
        );
    }
    s.push_str("</svg>");
    s
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = interval_chart(
            &[IntervalRow {
                label: "<script>alert(1)</script>".into(),
                value: 1.0,
                ci: Some((0.5, 1.5)),
            }],
            "t\"",
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("aria-label=\"t&quot;\""));
    }

    #[test]
    fn empty_or_nan_input_draws_nothing_and_never_panics() {
        assert_eq!(interval_chart(&[], "x"), "");
        assert_eq!(
            interval_chart(
                &[IntervalRow {
                    label: "a".into(),
                    value: f64::NAN,
                    ci: None
                }],
                "x"
            ),
            ""
        );
        assert_eq!(
            window_chart(
                &[SeriesPoint {
                    label: "w".into(),
                    value: None,
                    flagged: false
                }],
                None,
                "x"
            ),
            ""
        );
        let one = window_chart(
            &[SeriesPoint {
                label: "w".into(),
                value: Some(0.5),
                flagged: true,
            }],
            Some(0.6),
            "x",
        );
        assert!(one.contains("class=\"flag\""));
    }
}
