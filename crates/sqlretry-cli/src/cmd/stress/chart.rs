//! `--chart FILE.svg`: a hand-written SVG with two bar groups, committed/s and p99 latency per strategy.

use std::fmt::Write as _;

use super::report::{RunReport, ms, thousands};

/// Width of the whole picture, in pixels.
const WIDTH: f64 = 900.0;
/// Height of one panel's plotting area.
const PLOT_H: f64 = 220.0;
/// Bar colours, one per strategy in order.
const COLOURS: [&str; 6] = ["#d62728", "#ff7f0e", "#bcbd22", "#1f77b4", "#2ca02c", "#17becf"];

/// Escapes text for SVG.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One panel: a title and a bar per run with its value on top and its strategy below.
fn panel(
    out: &mut String,
    top: f64,
    title: &str,
    reports: &[RunReport],
    value: impl Fn(&RunReport) -> (f64, String),
) {
    let left = 60.0;
    let plot_w = WIDTH - left - 30.0;
    let base = top + 30.0 + PLOT_H;
    let max = reports.iter().map(|r| value(r).0).fold(0.0f64, f64::max);
    let _ = writeln!(
        out,
        r#"<text x="{left}" y="{y}" font-size="16" font-weight="bold">{t}</text>"#,
        y = top + 18.0,
        t = esc(title)
    );
    let _ = writeln!(
        out,
        r##"<line x1="{left}" y1="{base}" x2="{x2}" y2="{base}" stroke="#333" stroke-width="1"/>"##,
        x2 = left + plot_w
    );
    let slot = plot_w / reports.len().max(1) as f64;
    let bar_w = (slot * 0.6).min(110.0);
    for (i, r) in reports.iter().enumerate() {
        let (v, label) = value(r);
        let h = if max > 0.0 { (v / max) * (PLOT_H - 20.0) } else { 0.0 };
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}"><title>{s}: {l}</title></rect>"#,
            y = base - h,
            s = esc(r.strategy),
            l = esc(&label)
        );
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{y:.1}" font-size="13" text-anchor="middle">{l}</text>"#,
            cx = x + bar_w / 2.0,
            y = base - h - 5.0,
            l = esc(&label)
        );
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{y:.1}" font-size="13" text-anchor="middle">{s}</text>"#,
            cx = x + bar_w / 2.0,
            y = base + 17.0,
            s = esc(r.strategy)
        );
    }
}

/// The SVG document for these runs.
pub fn svg(reports: &[RunReport]) -> String {
    let panel_h = 30.0 + PLOT_H + 40.0;
    let height = 50.0 + 2.0 * panel_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let subtitle = reports
        .first()
        .map(|r| {
            let who = if r.mode == "processes" {
                format!("{} processes × {} writers", r.processes, r.writers)
            } else {
                format!("{} writer threads", r.writers)
            };
            format!("sqlretry stress · workload {} · {who}", r.workload)
        })
        .unwrap_or_else(|| "sqlretry stress".to_owned());
    let _ = writeln!(out, r#"<text x="20" y="28" font-size="18">{}</text>"#, esc(&subtitle));
    panel(&mut out, 40.0, "committed/s (higher is better)", reports, |r| {
        let mut label = thousands(r.committed_per_s.round() as u64);
        if r.failed > 0 {
            let _ = write!(label, " ({} failed)", super::report::pct(r.failed_pct()));
        }
        (r.committed_per_s, label)
    });
    panel(&mut out, 40.0 + panel_h, "p99 write latency (lower is better)", reports, |r| {
        (r.latency_us.p99 as f64, ms(r.latency_us.p99))
    });
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::sample;
    use super::super::strategy::StrategyKind;
    use super::*;

    #[test]
    fn svg_names_every_strategy_and_escapes() {
        let runs = [sample(StrategyKind::None, 10, 5.0), sample(StrategyKind::Immediate, 0, 500.0)];
        let doc = svg(&runs);
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        assert!(doc.contains(">none<") && doc.contains(">immediate<"));
        assert_eq!(esc("a<b&c"), "a&lt;b&amp;c");
    }
}
