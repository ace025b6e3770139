//! `--chart FILE.svg`: a hand-written SVG, one row per strategy: committed/s, the share failed, and
//! p50 / p99 / max write latency on a log axis.
//!
//! Every label sits in its own column of its strategy's row, so none can overlap another.

use std::fmt::Write as _;

use crate::report::{RunReport, ms, pct, thousands};

/// Width of the whole picture, in pixels.
const WIDTH: f64 = 1320.0;
/// Height of one strategy's row.
const ROW_H: f64 = 40.0;
/// Top of the first row.
const TOP: f64 = 96.0;
/// Left edge of the strategy column.
const NAME_X: f64 = 20.0;
/// Left edge and longest bar of the committed/s column.
const BAR_X: f64 = 260.0;
const BAR_W: f64 = 210.0;
/// Left edge and widest bar of the failed column.
const FAIL_X: f64 = 575.0;
const FAIL_W: f64 = 70.0;
/// Left edge and width of the latency plot (log axis).
const LAT_X: f64 = 680.0;
const LAT_W: f64 = 330.0;
/// Left edge of the latency figures.
const LAT_TEXT_X: f64 = 1030.0;
/// Bar colour of a strategy that failed nothing, and of one that failed or lost writes.
const CLEAN: &str = "#1f77b4";
const FAILING: &str = "#bbbbbb";
/// Marker colours: p50, p99, max.
const P50: &str = "#2ca02c";
const P99: &str = "#ff7f0e";
const MAX: &str = "#d62728";

/// Escapes text for SVG.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The latency axis: whole decades of microseconds from `lo` to `hi` (10^lo µs .. 10^hi µs).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LogAxis {
    lo: i32,
    hi: i32,
}

impl LogAxis {
    /// The decades that hold every p50, p99 and max of the runs (at least one decade).
    fn fit(reports: &[RunReport]) -> Self {
        let values = reports
            .iter()
            .flat_map(|r| [r.latency_us.p50, r.latency_us.p99, r.latency_us.max])
            .map(|v| (v.max(1) as f64).log10());
        let (min, max) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        if min > max {
            return LogAxis { lo: 0, hi: 1 };
        }
        let lo = min.floor() as i32;
        let hi = (max.ceil() as i32).max(lo + 1);
        LogAxis { lo, hi }
    }

    /// The x position of `us` microseconds.
    fn x(&self, us: u64) -> f64 {
        let v = (us.max(1) as f64).log10().clamp(f64::from(self.lo), f64::from(self.hi));
        LAT_X + (v - f64::from(self.lo)) / f64::from(self.hi - self.lo) * LAT_W
    }
}

/// A decade's label: 1 µs, 10 µs, ..., 1 ms, ..., 1 s, 10 s, ...
fn decade_label(exp: i32) -> String {
    match exp {
        i32::MIN..=2 => format!("{} µs", 10u64.pow(exp.max(0) as u32)),
        3..=5 => format!("{} ms", 10u64.pow((exp - 3) as u32)),
        _ => format!("{} s", 10u64.pow((exp - 6).min(12) as u32)),
    }
}

/// The run's setup in words, for the title.
fn setup(r: &RunReport) -> String {
    let who = match r.mode {
        "processes" => format!("{} processes × {} writers", r.processes, r.writers),
        "tasks" => format!("{} tokio tasks on {} runtime workers", r.writers, crate::tasks::RUNTIME_WORKERS),
        _ => format!("{} writer threads", r.writers),
    };
    format!("sqlretry stress · workload {} · {who}", r.workload)
}

/// The SVG document for these runs.
pub fn svg(reports: &[RunReport]) -> String {
    let rows_h = ROW_H * reports.len().max(1) as f64;
    let height = TOP + rows_h + 50.0;
    let axis = LogAxis::fit(reports);
    let fastest = reports.iter().map(|r| r.committed_per_s).fold(0.0f64, f64::max);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let title = reports.first().map(setup).unwrap_or_else(|| "sqlretry stress".to_owned());
    let _ = writeln!(out, r#"<text x="{NAME_X}" y="30" font-size="18">{}</text>"#, esc(&title));
    // Column headers.
    let head = |out: &mut String, x: f64, text: &str| {
        let _ =
            writeln!(out, r#"<text x="{x}" y="76" font-size="13" font-weight="bold">{}</text>"#, esc(text));
    };
    head(&mut out, NAME_X, "strategy (what it calls)");
    head(&mut out, BAR_X, "committed/s (higher is better)");
    head(&mut out, FAIL_X, "failed");
    head(&mut out, LAT_X, "write latency, log scale (lower is better)");
    // Legend of the latency markers, under the title.
    let _ = writeln!(
        out,
        r##"<g font-size="12"><circle cx="{a}" cy="50" r="5" fill="{P50}"/><text x="{at}" y="54">p50</text><path d="M{b} 45 L{b2} 55 L{b0} 55 Z" fill="{P99}"/><text x="{bt}" y="54">p99</text><rect x="{c}" y="44" width="4" height="12" fill="{MAX}"/><text x="{ct}" y="54">max</text></g>"##,
        a = LAT_X + 5.0,
        at = LAT_X + 14.0,
        b = LAT_X + 60.0,
        b2 = LAT_X + 66.0,
        b0 = LAT_X + 54.0,
        bt = LAT_X + 72.0,
        c = LAT_X + 112.0,
        ct = LAT_X + 120.0,
    );
    // Row backgrounds first, so that the grid lines show through them.
    for i in (0..reports.len()).step_by(2) {
        let _ = writeln!(
            out,
            r##"<rect x="10" y="{y}" width="{w}" height="{ROW_H}" fill="#f4f6f8"/>"##,
            y = TOP + ROW_H * i as f64,
            w = WIDTH - 20.0
        );
    }
    // Decade grid lines and their labels below the rows.
    for exp in axis.lo..=axis.hi {
        let x = axis.x(10u64.saturating_pow(exp.max(0) as u32));
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{y2}" stroke="#dddddd" stroke-width="1"/><text x="{x:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#555555">{l}</text>"##,
            y2 = TOP + rows_h,
            ty = TOP + rows_h + 16.0,
            l = decade_label(exp)
        );
    }
    for (i, r) in reports.iter().enumerate() {
        row(&mut out, TOP + ROW_H * i as f64, r, &axis, fastest);
    }
    out.push_str("</svg>\n");
    out
}

/// One strategy's row: name and API, committed/s bar, failed share, latency markers and figures.
fn row(out: &mut String, top: f64, r: &RunReport, axis: &LogAxis, fastest: f64) {
    let cy = top + ROW_H / 2.0;
    let _ = writeln!(
        out,
        r#"<text x="{NAME_X}" y="{y:.1}" font-size="14" font-weight="bold">{s}</text>"#,
        y = cy - 3.0,
        s = esc(r.strategy)
    );
    let mut api = r.api.clone();
    if r.in_flight > 1 {
        let _ = write!(api, " ×{} in flight", r.in_flight);
    }
    let _ = writeln!(
        out,
        r##"<text x="{NAME_X}" y="{y:.1}" font-size="10" fill="#555555">{a}</text>"##,
        y = cy + 12.0,
        a = esc(&api)
    );
    // committed/s
    let w = if fastest > 0.0 { r.committed_per_s / fastest * BAR_W } else { 0.0 };
    let colour = if r.is_clean() { CLEAN } else { FAILING };
    let label = format!("{}/s", thousands(r.committed_per_s.round() as u64));
    let _ = writeln!(
        out,
        r#"<rect x="{BAR_X}" y="{y:.1}" width="{w:.1}" height="18" fill="{colour}"><title>{s}: {l} committed</title></rect><text x="{lx:.1}" y="{ty:.1}" font-size="12">{l}</text>"#,
        y = cy - 9.0,
        s = esc(r.strategy),
        l = esc(&label),
        lx = BAR_X + w + 6.0,
        ty = if r.rows_committed == r.committed { cy + 4.0 } else { cy }
    );
    if r.rows_committed != r.committed && r.wall_s > 0.0 {
        // An operation wrote several rows (a batch of ticks): rows/s under the operations.
        let _ = writeln!(
            out,
            r##"<text x="{lx:.1}" y="{ty:.1}" font-size="10" fill="#555555">{rows} rows/s</text>"##,
            lx = BAR_X + w + 6.0,
            ty = cy + 12.0,
            rows = thousands((r.rows_committed as f64 / r.wall_s).round() as u64)
        );
    }
    // failed share
    if r.failed == 0 {
        let _ = writeln!(
            out,
            r##"<text x="{FAIL_X}" y="{y:.1}" font-size="12" fill="#555555">0</text>"##,
            y = cy + 4.0
        );
    } else {
        let p = r.failed_pct();
        let _ = writeln!(
            out,
            r##"<rect x="{FAIL_X}" y="{y:.1}" width="{w:.1}" height="18" fill="#f4b6b6"/><text x="{tx}" y="{ty:.1}" font-size="12" font-weight="bold" fill="#b00000">{l}</text>"##,
            y = cy - 9.0,
            w = (p / 100.0 * FAIL_W).max(2.0),
            tx = FAIL_X + 3.0,
            ty = cy + 4.0,
            l = esc(&pct(p))
        );
    }
    // latency: p50 to max on the log axis
    let l = r.latency_us;
    let (x50, x99, xmax) = (axis.x(l.p50), axis.x(l.p99), axis.x(l.max));
    let _ = writeln!(
        out,
        r##"<g><title>{s}: p50 {a}, p99 {b}, max {c}</title><line x1="{x50:.1}" y1="{cy}" x2="{xmax:.1}" y2="{cy}" stroke="#888888" stroke-width="2"/><rect x="{mx:.1}" y="{my:.1}" width="4" height="16" fill="{MAX}"/><path d="M{x99:.1} {t:.1} L{r99:.1} {b99:.1} L{l99:.1} {b99:.1} Z" fill="{P99}"/><circle cx="{x50:.1}" cy="{cy}" r="5" fill="{P50}"/></g>"##,
        s = esc(r.strategy),
        a = ms(l.p50),
        b = ms(l.p99),
        c = ms(l.max),
        mx = xmax - 2.0,
        my = cy - 8.0,
        t = cy - 6.0,
        b99 = cy + 5.0,
        r99 = x99 + 6.0,
        l99 = x99 - 6.0,
    );
    let _ = writeln!(
        out,
        r#"<text x="{LAT_TEXT_X}" y="{y:.1}" font-size="12">p50 {a} · p99 {b} · max {c}</text>"#,
        y = cy + 4.0,
        a = esc(&ms(l.p50)),
        b = esc(&ms(l.p99)),
        c = esc(&ms(l.max))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;
    use crate::strategy_kind::StrategyKind;

    #[test]
    fn svg_names_every_strategy_and_escapes() {
        let runs = [sample(StrategyKind::None, 10, 5.0), sample(StrategyKind::Immediate, 0, 500.0)];
        let doc = svg(&runs);
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        assert!(doc.contains(">none<") && doc.contains(">immediate<"));
        assert!(doc.contains("p50 40 µs · p99 1.50 ms · max 20 ms"), "{doc}");
        assert!(doc.contains(">1.0%<"), "the failed share: {doc}");
        assert_eq!(esc("a<b&c"), "a&lt;b&amp;c");
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let runs = [sample(StrategyKind::None, 0, 5.0)]; // p50 40 µs .. max 20 ms
        let axis = LogAxis::fit(&runs);
        assert_eq!(axis, LogAxis { lo: 1, hi: 5 });
        assert!((axis.x(10) - LAT_X).abs() < 1e-9);
        assert!((axis.x(100_000) - (LAT_X + LAT_W)).abs() < 1e-9);
        assert!((axis.x(1_000) - (LAT_X + LAT_W / 2.0)).abs() < 1e-9, "1 ms is halfway on 10 µs..100 ms");
        assert_eq!([decade_label(0), decade_label(3), decade_label(7)], ["1 µs", "1 ms", "10 s"]);
    }
}
