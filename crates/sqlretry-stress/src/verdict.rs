//! The verdict under the table: the runs' trade-offs in a sentence.

use std::fmt::Write as _;

use crate::report::{RunReport, ms, pct, thousands};

/// The trade-offs in a sentence: who loses writes, who is fastest with zero failures, and whose
/// worst wait is how much longer than another clean strategy's.
pub fn verdict(reports: &[RunReport]) -> String {
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.is_clean())
        .map(|r| {
            let mut what = Vec::new();
            if r.failed > 0 {
                what.push(format!("{} failed", pct(r.failed_pct())));
            }
            if r.lost > 0 {
                what.push(format!("{} lost", thousands(r.lost)));
            }
            if r.duplicates > 0 {
                what.push(format!("{} duplicated", thousands(r.duplicates)));
            }
            if !r.integrity_ok {
                what.push("integrity_check FAILED".to_owned());
            }
            format!("{} {}", r.strategy, what.join(", "))
        })
        .collect();
    let clean: Vec<&RunReport> = reports.iter().filter(|r| r.is_clean()).collect();
    let mut out = String::from("verdict: ");
    if bad.is_empty() {
        let _ = write!(out, "every strategy committed every write; ");
    } else {
        let _ = write!(out, "{} of {} lose writes ({}); ", bad.len(), reports.len(), bad.join("; "));
    }
    let Some(best) = clean.iter().copied().max_by(|a, b| a.committed_per_s.total_cmp(&b.committed_per_s))
    else {
        out.push_str("no strategy completed without failures");
        return out;
    };
    let _ = write!(
        out,
        "fastest with zero failures: {} at {} committed/s (p99 {}, max {})",
        best.strategy,
        thousands(best.committed_per_s.round() as u64),
        ms(best.latency_us.p99),
        ms(best.latency_us.max)
    );
    if let Some(slowest) =
        clean.iter().copied().min_by(|a, b| a.committed_per_s.total_cmp(&b.committed_per_s))
        && slowest.committed_per_s > 0.0
        && best.committed_per_s >= 1.2 * slowest.committed_per_s
    {
        let _ = write!(
            out,
            ", {} that of {}",
            ratio(best.committed_per_s, slowest.committed_per_s),
            slowest.strategy
        );
    }
    // The longest worst wait among the clean strategies against the shortest one.
    let by_max = |a: &&RunReport, b: &&RunReport| a.latency_us.max.cmp(&b.latency_us.max);
    if let (Some(worst), Some(calmest)) =
        (clean.iter().copied().max_by(by_max), clean.iter().copied().min_by(by_max))
        && worst.latency_us.max >= 2 * calmest.latency_us.max.max(1)
    {
        let _ = write!(
            out,
            "; {} fails none but its worst wait, {}, is {} {}'s {}",
            worst.strategy,
            ms(worst.latency_us.max),
            ratio(worst.latency_us.max as f64, calmest.latency_us.max.max(1) as f64),
            calmest.strategy,
            ms(calmest.latency_us.max)
        );
    }
    out.push('.');
    out
}

/// `a / b` as a ratio for the verdict: `3.2×`, `85×`.
fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if r < 10.0 { format!("{r:.1}×") } else { format!("{r:.0}×") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;
    use crate::strategy_kind::StrategyKind;

    #[test]
    fn verdict_names_the_trade_offs() {
        let mut slow_tail = sample(StrategyKind::Immediate, 0, 900.0);
        slow_tail.latency_us.max = 1_600_000;
        let mut writer = sample(StrategyKind::Writer, 0, 2700.0);
        writer.latency_us.max = 19_000;
        let runs = [sample(StrategyKind::None, 980, 10.0), slow_tail, writer];
        let v = verdict(&runs);
        assert!(v.contains("1 of 3 lose writes (none 98.0% failed)"), "{v}");
        assert!(v.contains("fastest with zero failures: writer at 2,700 committed/s (p99 1.50 ms, max 19 ms), 3.0× that of immediate"), "{v}");
        assert!(v.contains("immediate fails none but its worst wait, 1.60 s, is 84× writer's 19 ms."), "{v}");
    }
}
