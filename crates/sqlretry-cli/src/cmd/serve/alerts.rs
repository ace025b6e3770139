//! Spec 002's alert rules — batch_failures > 10, batch_success_rate < 0.95, retries > 500 per
//! minute — evaluated once a second from samples: an error-level log and a gauge
//! (`sqlretry_serve_alert{rule}`) while a rule fires, and an optional webhook POST when it starts
//! and when it ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::config::ServeConfig;
use sqlretry::writer::WriterMetricsSnapshot;

/// The rules, by name.
pub const RULES: [&str; 3] = ["batch_failures", "batch_success_rate", "retries_per_minute"];

/// What the monitor last computed: recent rates and the rules firing.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    /// New ticks per second over the last 10 s.
    pub ticks_per_second: f64,
    /// Retries in the last 60 s.
    pub retries_per_minute: u64,
    /// Rules firing.
    pub active: Vec<&'static str>,
}

/// One sample: when, the writer's cumulative figures, and new ticks so far.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    retries: u64,
    ticks: u64,
}

/// Samples of the last minute and the rules' thresholds.
#[derive(Debug)]
pub struct Monitor {
    samples: VecDeque<Sample>,
    batch_failures: u64,
    success_rate: f64,
    retries_per_minute: u64,
    recent: Recent,
}

/// A change of a rule's state, for the log and the webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transition {
    /// The rule.
    pub alert: &'static str,
    /// `firing` or `resolved`.
    pub state: &'static str,
    /// The value that was compared.
    pub value: f64,
    /// The rule's threshold.
    pub threshold: f64,
}

impl Monitor {
    /// A monitor with `config`'s thresholds.
    pub fn new(config: &ServeConfig) -> Self {
        Monitor {
            samples: VecDeque::new(),
            batch_failures: config.alert_batch_failures,
            success_rate: config.alert_success_rate,
            retries_per_minute: config.alert_retries_per_minute,
            recent: Recent::default(),
        }
    }

    /// The last evaluation.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// Takes a sample at `now` (the caller's clock) and returns the rules that changed state.
    pub fn observe(&mut self, now: Instant, writer: &WriterMetricsSnapshot, ticks: u64) -> Vec<Transition> {
        self.samples.push_back(Sample { at: now, retries: writer.retries_total, ticks });
        while self.samples.front().is_some_and(|s| now.duration_since(s.at) > Duration::from_secs(60)) {
            self.samples.pop_front();
        }
        let first = self.samples.front().copied().unwrap_or(Sample { at: now, retries: 0, ticks: 0 });
        let retries_per_minute = writer.retries_total.saturating_sub(first.retries);
        let ten = self.samples.iter().find(|s| now.duration_since(s.at) <= Duration::from_secs(10)).copied();
        let ticks_per_second = ten
            .filter(|s| now > s.at)
            .map_or(0.0, |s| ticks.saturating_sub(s.ticks) as f64 / now.duration_since(s.at).as_secs_f64());
        let rate = writer.batch_success_rate.unwrap_or(1.0);
        let checks = [
            (
                RULES[0],
                writer.batch_failures as f64,
                self.batch_failures as f64,
                writer.batch_failures > self.batch_failures,
            ),
            (RULES[1], rate, self.success_rate, rate < self.success_rate),
            (
                RULES[2],
                retries_per_minute as f64,
                self.retries_per_minute as f64,
                retries_per_minute > self.retries_per_minute,
            ),
        ];
        let mut changes = Vec::new();
        let mut active = Vec::new();
        for (alert, value, threshold, firing) in checks {
            let was = self.recent.active.contains(&alert);
            if firing {
                active.push(alert);
            }
            metrics::gauge!("sqlretry_serve_alert", "rule" => alert).set(if firing { 1.0 } else { 0.0 });
            if firing != was {
                let state = if firing { "firing" } else { "resolved" };
                changes.push(Transition { alert, state, value, threshold });
            }
        }
        metrics::gauge!("sqlretry_serve_ticks_per_second").set(ticks_per_second);
        metrics::gauge!("sqlretry_serve_retries_per_minute").set(retries_per_minute as f64);
        self.recent = Recent { ticks_per_second, retries_per_minute, active };
        changes
    }
}

/// Logs a transition (error level when it starts) and POSTs it to the webhook, if any, within 2 s.
pub async fn announce(change: &Transition, webhook: Option<&str>) {
    if change.state == "firing" {
        tracing::error!(
            alert = change.alert,
            value = change.value,
            threshold = change.threshold,
            "ALERT firing"
        );
    } else {
        tracing::warn!(
            alert = change.alert,
            value = change.value,
            threshold = change.threshold,
            "alert resolved"
        );
    }
    let Some(url) = webhook else { return };
    let body = serde_json::to_vec(change).unwrap_or_default();
    match crate::cmd::http_client::request("POST", url, Some(&body), Duration::from_secs(2)).await {
        Ok((status, _)) if (200..300).contains(&status) => {}
        Ok((status, _)) => tracing::warn!(url, status, "alert webhook answered with an error status"),
        Err(e) => tracing::warn!(url, error = %e, "alert webhook unreachable"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn snapshot(failures: u64, written: u64, retries: u64) -> WriterMetricsSnapshot {
        let mut s = WriterMetricsSnapshot::default();
        s.batch_failures = failures;
        s.batches_written = written;
        s.retries_total = retries;
        s.batch_success_rate = Some(written as f64 / (written + failures).max(1) as f64);
        s
    }

    #[test]
    fn rules_start_and_end_once_each() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        assert!(m.observe(t0, &snapshot(0, 1000, 0), 0).is_empty());
        let fire = m.observe(t0 + Duration::from_secs(1), &snapshot(11, 1000, 0), 50);
        assert_eq!(
            fire.iter().map(|c| (c.alert, c.state)).collect::<Vec<_>>(),
            [("batch_failures", "firing")]
        );
        assert!(m.observe(t0 + Duration::from_secs(2), &snapshot(11, 1000, 0), 60).is_empty());
        assert_eq!(m.recent().active, ["batch_failures"]);
        // 501 retries within a minute fire; once the window passes them, the rule resolves.
        let r = m.observe(t0 + Duration::from_secs(3), &snapshot(11, 1000, 501), 70);
        assert_eq!(r[0].alert, "retries_per_minute");
        let r = m.observe(t0 + Duration::from_secs(70), &snapshot(11, 1000, 501), 70);
        assert_eq!((r[0].alert, r[0].state), ("retries_per_minute", "resolved"));
    }

    #[test]
    fn a_low_success_rate_fires() {
        let mut m = Monitor::new(&ServeConfig::default());
        let fire = m.observe(Instant::now(), &snapshot(6, 94, 0), 0);
        assert_eq!(fire[0].alert, "batch_success_rate");
    }

    #[test]
    fn the_rate_covers_the_last_ten_seconds() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        m.observe(t0, &snapshot(0, 1, 0), 0);
        m.observe(t0 + Duration::from_secs(5), &snapshot(0, 1, 0), 500);
        assert!((m.recent().ticks_per_second - 100.0).abs() < 1e-9);
    }
}
