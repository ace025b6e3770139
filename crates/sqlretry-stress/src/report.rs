//! What one strategy run produced, and how it is shown: a table, JSON lines, a one-line verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Latency percentiles of the measured writes, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// One strategy run; serialises to exactly the fields `--json` promises.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Strategy name.
    pub strategy: &'static str,
    /// Workload name.
    pub workload: &'static str,
    /// `threads`, `processes` or `tasks`.
    pub mode: &'static str,
    /// What one operation called (`Writer::enqueue`, `Store::write via spawn_blocking`, ...).
    pub api: String,
    /// Writes each writer kept in flight (`--in-flight`; 1 for strategies that cannot pipeline).
    pub in_flight: u32,
    /// Writer threads per process, or tokio tasks in tasks mode.
    pub writers: u32,
    /// Processes (1 in threads mode).
    pub processes: u32,
    /// Operations started.
    pub attempted: u64,
    /// Operations acknowledged to the worker (a `ticks` operation is one batch of `--batch` rows).
    pub committed: u64,
    /// Units the acknowledged operations wrote: rows (`kv`, `ticks`), version increments (`entries`).
    pub rows_committed: u64,
    /// Operations that returned an error.
    pub failed: u64,
    /// Acknowledged units (rows, or version increments for `entries`) missing from the file.
    pub lost: u64,
    /// Units present beyond what was acknowledged.
    pub duplicates: u64,
    /// `PRAGMA integrity_check` returned `ok` after the run.
    pub integrity_ok: bool,
    /// Retries spent (attempts after the first).
    pub retries: u64,
    /// Wall-clock seconds of the run: from the workers' common start to the last one's finish (in processes
    /// mode, the longest worker process's own span).
    pub wall_s: f64,
    /// Committed operations per second of wall time.
    pub committed_per_s: f64,
    /// Write latency percentiles.
    pub latency_us: Latency,
    /// Final errors of failed operations, by SQLite extended code name.
    pub errors: BTreeMap<String, u64>,
    /// Whether the strategy is one of the library's own, which decide the exit code (not
    /// serialised).
    #[serde(skip)]
    pub sqlretry_family: bool,
}

impl RunReport {
    /// Nothing failed, nothing lost or duplicated, and the file is intact.
    pub fn is_clean(&self) -> bool {
        self.failed == 0 && self.lost == 0 && self.duplicates == 0 && self.integrity_ok
    }

    /// Failed operations as a percentage of attempted ones.
    pub fn failed_pct(&self) -> f64 {
        if self.attempted == 0 { 0.0 } else { self.failed as f64 * 100.0 / self.attempted as f64 }
    }
}

/// The exit status the runs call for: `true` when every sqlretry-family run is clean and every run's
/// file passed integrity_check.
pub fn all_good(reports: &[RunReport]) -> bool {
    reports.iter().all(|r| r.integrity_ok && (!r.sqlretry_family || r.is_clean()))
}

/// The JSON lines, one per run.
///
/// # Errors
/// Serialisation failed (it does not for these types).
pub fn json_lines(reports: &[RunReport]) -> serde_json::Result<String> {
    let mut out = String::new();
    for report in reports {
        out.push_str(&serde_json::to_string(report)?);
        out.push('\n');
    }
    Ok(out)
}

/// Formats a count with thousands separators.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a latency given in microseconds: µs below 1 ms, then ms, then s.
pub fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if us < 1000 {
        format!("{us} µs")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Formats a percentage, with enough digits that a handful of failures is not shown as 0.0 %.
pub fn pct(p: f64) -> String {
    if p > 0.0 && p < 0.1 { format!("{p:.3}%") } else { format!("{p:.1}%") }
}

/// The table of runs, with a header line describing the setup.
pub fn table(reports: &[RunReport]) -> String {
    let headers = [
        "strategy",
        "attempted",
        "committed",
        "failed",
        "lost",
        "retries",
        "committed/s",
        "p50",
        "p95",
        "p99",
        "max",
        "errors",
    ];
    let mut rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let failed = if r.failed == 0 {
                "0".to_owned()
            } else {
                format!("{} ({})", thousands(r.failed), pct(r.failed_pct()))
            };
            let mut lost = thousands(r.lost);
            if r.duplicates > 0 {
                let _ = write!(lost, " +{} dup", thousands(r.duplicates));
            }
            if !r.integrity_ok {
                lost.push_str(" CORRUPT");
            }
            let errors = if r.errors.is_empty() {
                "-".to_owned()
            } else {
                r.errors.iter().map(|(k, v)| format!("{k}×{}", thousands(*v))).collect::<Vec<_>>().join(", ")
            };
            vec![
                r.strategy.to_owned(),
                thousands(r.attempted),
                thousands(r.committed),
                failed,
                lost,
                thousands(r.retries),
                thousands(r.committed_per_s.round() as u64),
                ms(r.latency_us.p50),
                ms(r.latency_us.p95),
                ms(r.latency_us.p99),
                ms(r.latency_us.max),
                errors,
            ]
        })
        .collect();
    // A `ticks` operation writes a batch: the rows column says how many rows that made.
    let mut headers: Vec<&str> = headers.to_vec();
    if reports.iter().any(|r| r.rows_committed != r.committed) {
        headers.insert(3, "rows");
        for (row, r) in rows.iter_mut().zip(reports) {
            row.insert(3, thousands(r.rows_committed));
        }
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if let Some(first) = reports.first() {
        let procs = match first.mode {
            "processes" => format!("{} processes × {} writers", first.processes, first.writers),
            "tasks" => {
                format!("{} tokio tasks on {} runtime workers", first.writers, crate::tasks::RUNTIME_WORKERS)
            }
            _ => format!("{} writer threads", first.writers),
        };
        let pipelined = reports.iter().filter(|r| r.in_flight > 1).map(|r| r.in_flight).max();
        let in_flight = match pipelined {
            Some(n) => format!(" · up to {n} writes in flight each (where the strategy pipelines)"),
            None => String::new(),
        };
        let _ = writeln!(out, "workload {} · {}{in_flight} · WAL, synchronous=NORMAL", first.workload, procs);
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            if i == 0 || i == cells.len() - 1 {
                l.push_str(cell);
                l.push_str(&" ".repeat(pad));
            } else {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            }
            l.push_str("  ");
        }
        l.trim_end().to_owned()
    };
    out.push_str(&line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::strategy_kind::StrategyKind;

    /// A report for tests.
    pub(crate) fn sample(kind: StrategyKind, failed: u64, cps: f64) -> RunReport {
        RunReport {
            strategy: kind.name(),
            workload: "kv",
            mode: "threads",
            api: "BEGIN IMMEDIATE".to_owned(),
            in_flight: 1,
            writers: 16,
            processes: 1,
            attempted: 1000,
            committed: 1000 - failed,
            rows_committed: 1000 - failed,
            failed,
            lost: 0,
            duplicates: 0,
            integrity_ok: true,
            retries: 3,
            wall_s: 1.0,
            committed_per_s: cps,
            latency_us: Latency { p50: 40, p95: 900, p99: 1500, max: 20_000 },
            errors: if failed > 0 {
                BTreeMap::from([("SQLITE_BUSY".to_owned(), failed)])
            } else {
                BTreeMap::new()
            },
            sqlretry_family: kind.is_sqlretry_family(),
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(pct(12.0 / 96_000.0 * 100.0), "0.013%");
        assert_eq!(pct(98.04), "98.0%");
        assert_eq!(ms(40), "40 µs");
        assert_eq!(ms(1500), "1.50 ms");
    }

    #[test]
    fn exit_depends_only_on_sqlretry_family() {
        let plain = [sample(StrategyKind::None, 980, 10.0), sample(StrategyKind::Immediate, 0, 900.0)];
        assert!(all_good(&plain));
        let mut with_family = plain.to_vec();
        with_family.push(sample(StrategyKind::Sqlretry, 1, 800.0));
        assert!(!all_good(&with_family));
    }

    #[test]
    fn json_has_exactly_the_promised_fields() {
        let line = json_lines(&[sample(StrategyKind::Immediate, 0, 1.0)]).expect("json");
        let value: serde_json::Value = serde_json::from_str(line.trim()).expect("parse");
        let mut keys: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = [
            "strategy",
            "workload",
            "mode",
            "api",
            "in_flight",
            "writers",
            "processes",
            "attempted",
            "committed",
            "rows_committed",
            "failed",
            "lost",
            "duplicates",
            "integrity_ok",
            "retries",
            "wall_s",
            "committed_per_s",
            "latency_us",
            "errors",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
    }

    #[test]
    fn table_and_verdict_name_strategies() {
        let runs = [sample(StrategyKind::BusyTimeout, 980, 10.0), sample(StrategyKind::Immediate, 0, 900.0)];
        let t = table(&runs);
        assert!(t.contains("busy-timeout") && t.contains("immediate") && t.contains("98.0%"));
        let v = crate::verdict::verdict(&runs);
        assert!(v.contains("fastest with zero failures: immediate"), "{v}");
        assert!(v.contains("busy-timeout 98.0% failed"), "{v}");
    }
}
