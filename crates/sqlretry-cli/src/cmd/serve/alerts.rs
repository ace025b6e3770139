//! The tick store's three alert rules, each over a sliding window so that it resolves once the
//! window is clear: failed messages in the last `alert_window` (default 1 min) above
//! `alert_batch_failures`, the message success rate over the last `alert_success_window`
//! (default 5 min) below `alert_success_rate`, and writer retries in the last `alert_window`
//! above `alert_retries_per_minute`. Evaluated once a second from cumulative counters: an
//! error-level log and a gauge (`sqlretry_serve_alert{rule}`) while a rule fires, and an optional
//! webhook POST when it starts and when it ends, retried under the library's retry engine.

use std::time::{Duration, Instant, SystemTime};

use sqlretry::{Retry, RetryPolicy};

use super::config::ServeConfig;
use super::window::Window;

/// The rules, by name.
pub const RULES: [&str; 3] = ["batch_failures", "batch_success_rate", "retries_per_minute"];

/// What the monitor last computed: recent rates and the rules firing.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    /// New ticks per second over the last 10 s.
    pub ticks_per_second: f64,
    /// Retries in the last alert window.
    pub retries_per_minute: u64,
    /// Failed messages in the last alert window.
    pub failures_in_window: u64,
    /// Committed / (committed + failed) messages over the success window; `None` without any.
    pub success_rate_in_window: Option<f64>,
    /// Rules firing.
    pub active: Vec<&'static str>,
}

/// The cumulative counters the rules are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The writer's retries.
    pub retries: u64,
    /// New ticks committed.
    pub ticks: u64,
    /// Messages committed.
    pub messages_written: u64,
    /// Messages not committed.
    pub messages_failed: u64,
}

/// The window of samples and the rules' thresholds.
#[derive(Debug)]
pub struct Monitor {
    samples: Window<Counts>,
    window: Duration,
    success_window: Duration,
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
    /// A monitor with `config`'s thresholds and windows.
    pub fn new(config: &ServeConfig) -> Self {
        let keep = config.alert_window.max(config.alert_success_window).max(Duration::from_secs(10));
        Monitor {
            samples: Window::new(keep),
            window: config.alert_window,
            success_window: config.alert_success_window,
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
    pub fn observe(&mut self, now: Instant, counts: Counts) -> Vec<Transition> {
        self.samples.push(now, counts);
        let since = |span| self.samples.oldest_within(now, span).map_or(counts, |(_, c)| c);
        let minute = since(self.window);
        let retries_per_minute = counts.retries.saturating_sub(minute.retries);
        let failures = counts.messages_failed.saturating_sub(minute.messages_failed);
        let long = since(self.success_window);
        let ok = counts.messages_written.saturating_sub(long.messages_written);
        let failed = counts.messages_failed.saturating_sub(long.messages_failed);
        let rate = (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64);
        let ticks_per_second = self
            .samples
            .oldest_within(now, Duration::from_secs(10))
            .filter(|(at, _)| now > *at)
            .map_or(0.0, |(at, c)| {
                counts.ticks.saturating_sub(c.ticks) as f64 / now.duration_since(at).as_secs_f64()
            });
        let checks = [
            (RULES[0], failures as f64, self.batch_failures as f64, failures > self.batch_failures),
            (RULES[1], rate.unwrap_or(1.0), self.success_rate, rate.is_some_and(|r| r < self.success_rate)),
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
        self.recent = Recent {
            ticks_per_second,
            retries_per_minute,
            failures_in_window: failures,
            success_rate_in_window: rate,
            active,
        };
        changes
    }
}

/// Where an alert comes from, for the webhook's payload.
#[derive(Debug, Clone)]
pub struct Source {
    /// This machine's name.
    pub host: String,
    /// The database file.
    pub database: String,
}

impl Source {
    /// The host name (from the kernel, else `HOSTNAME`, else `unknown`) and `database`.
    pub fn new(database: String) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        Source { host, database }
    }
}

/// The webhook's JSON body.
pub fn payload(
    change: &Transition,
    source: &Source,
    last_error: Option<&str>,
    at: SystemTime,
) -> serde_json::Value {
    serde_json::json!({
        "host": source.host,
        "database": source.database,
        "alert": change.alert,
        "state": change.state,
        "value": change.value,
        "threshold": change.threshold,
        "time": super::health::rfc3339(at),
        "last_error": last_error,
    })
}

/// How the webhook is retried: a few attempts with growing pauses, all within 5 s, so that a
/// receiver restarting or briefly overloaded still hears of the alert.
fn webhook_policy() -> RetryPolicy {
    let delays = [100, 300, 700, 1500].map(Duration::from_millis);
    RetryPolicy::builder()
        .delays(delays)
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| RetryPolicy::from_delays(delays))
}

/// Why one webhook call failed, and whether another try may do better.
#[derive(Debug)]
struct WebhookError {
    message: String,
    retryable: bool,
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Logs a transition (error level when it starts) and POSTs `body` to the webhook, if any:
/// an unreachable receiver or a 5xx/429 answer is retried, another status is not.
pub async fn announce(change: &Transition, webhook: Option<&str>, body: &serde_json::Value) {
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
    let body = body.to_string();
    let attempt = || async {
        match crate::cmd::http_client::request("POST", url, Some(body.as_bytes()), Duration::from_secs(2))
            .await
        {
            Ok((status, _)) if (200..300).contains(&status) => Ok(()),
            Ok((status, _)) => Err(WebhookError {
                message: format!("answered {status}"),
                retryable: status >= 500 || status == 429,
            }),
            Err(message) => Err(WebhookError { message, retryable: true }),
        }
    };
    let sent = Retry::new(webhook_policy())
        .named("alert webhook")
        .when(|e: &WebhookError| e.retryable)
        .call_async(attempt)
        .await;
    if let Err(e) = sent {
        tracing::warn!(url, error = %e, "alert webhook not delivered");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counts(written: u64, failed: u64, retries: u64, ticks: u64) -> Counts {
        Counts { retries, ticks, messages_written: written, messages_failed: failed }
    }

    fn states(changes: &[Transition]) -> Vec<(&'static str, &'static str)> {
        changes.iter().map(|c| (c.alert, c.state)).collect()
    }

    #[test]
    fn failures_fire_then_resolve_when_the_window_clears() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(m.observe(at(0), counts(0, 0, 0, 0)).is_empty());
        // 11 failed messages within a minute (and the 5-minute success rate still above 0.95).
        let fire = m.observe(at(1), counts(1000, 11, 0, 0));
        assert_eq!(states(&fire), [("batch_failures", "firing")]);
        assert!(m.observe(at(30), counts(1300, 11, 0, 0)).is_empty());
        assert_eq!(m.recent().failures_in_window, 11);
        // A minute after the failures, they have left the window: resolved, without a restart.
        let resolved = m.observe(at(62), counts(1600, 11, 0, 0));
        assert_eq!(states(&resolved), [("batch_failures", "resolved")]);
        assert_eq!(m.recent().failures_in_window, 0);
    }

    #[test]
    fn the_success_rate_covers_the_last_five_minutes() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        m.observe(at(0), counts(0, 0, 0, 0));
        let fire = m.observe(at(1), counts(90, 10, 0, 0));
        assert!(states(&fire).contains(&("batch_success_rate", "firing")), "{fire:?}");
        m.observe(at(120), counts(150, 10, 0, 0));
        assert_eq!(m.recent().active, ["batch_success_rate"], "10 of 160 failed: below 0.95");
        let resolved = m.observe(at(302), counts(300, 10, 0, 0));
        assert_eq!(states(&resolved), [("batch_success_rate", "resolved")]);
        assert_eq!(m.recent().success_rate_in_window, Some(1.0));
    }

    #[test]
    fn retries_per_minute_fire_and_resolve() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        m.observe(t0, counts(1, 0, 0, 0));
        let r = m.observe(t0 + Duration::from_secs(3), counts(2, 0, 501, 0));
        assert_eq!(states(&r), [("retries_per_minute", "firing")]);
        let r = m.observe(t0 + Duration::from_secs(70), counts(3, 0, 501, 0));
        assert_eq!(states(&r), [("retries_per_minute", "resolved")]);
    }

    #[test]
    fn no_messages_is_no_success_rate_alert() {
        let mut m = Monitor::new(&ServeConfig::default());
        assert!(m.observe(Instant::now(), Counts::default()).is_empty());
        assert_eq!(m.recent().success_rate_in_window, None);
    }

    #[test]
    fn the_rate_covers_the_last_ten_seconds() {
        let mut m = Monitor::new(&ServeConfig::default());
        let t0 = Instant::now();
        m.observe(t0, counts(1, 0, 0, 0));
        m.observe(t0 + Duration::from_secs(5), counts(1, 0, 0, 500));
        assert!((m.recent().ticks_per_second - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_payload_names_everything_a_pager_needs() {
        let change = Transition { alert: "batch_failures", state: "firing", value: 12.0, threshold: 10.0 };
        let source = Source { host: "desk-1".into(), database: "/var/lib/ticks.db".into() };
        let p = payload(&change, &source, Some("database is locked"), SystemTime::UNIX_EPOCH);
        for key in ["host", "database", "alert", "state", "value", "threshold", "time", "last_error"] {
            assert!(!p[key].is_null(), "{key} missing: {p}");
        }
        assert_eq!(p["time"], "1970-01-01T00:00:00Z");
    }
}
