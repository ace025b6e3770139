//! The load report: totals over connections, verification against the database (or tick-stats),
//! text or JSON.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::conn::ConnResult;
use crate::args::TickKind;

/// Totals of one load run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Connections.
    pub connections: usize,
    /// Target ticks per second, all connections.
    pub target_rate: u64,
    /// Seconds from the first send to the last ack.
    pub elapsed_seconds: f64,
    /// Ticks sent (first sends).
    pub sent: u64,
    /// Ticks acknowledged.
    pub acknowledged: u64,
    /// Acknowledged ticks that were new rows.
    pub new: u64,
    /// Acknowledged ticks already stored (resends).
    pub duplicates: u64,
    /// Acknowledged ticks found in the database (`null` when not verified).
    pub present: Option<u64>,
    /// Acknowledged ticks missing from the database.
    pub lost: u64,
    /// How `present` was verified: `database`, `tick-stats` or `none`.
    pub verified_by: &'static str,
    /// Ticks never acknowledged.
    pub unacknowledged: u64,
    /// Ticks resent after a reconnect or an error frame.
    pub resent: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Error frames received.
    pub error_frames: u64,
    /// The server's retries during the run (from tick-stats).
    pub server_retries: Option<u64>,
    /// The server's batch success rate (from tick-stats).
    pub success_rate: Option<f64>,
    /// Acknowledged ticks per second achieved.
    pub achieved_rate: f64,
    /// Ack latency p50, ms.
    pub ack_p50_ms: f64,
    /// Ack latency p99, ms.
    pub ack_p99_ms: f64,
    /// Ack latency max, ms.
    pub ack_max_ms: f64,
}

impl Report {
    /// Sums the connections' results.
    pub fn sum(results: &[ConnResult], target_rate: u64, elapsed: Duration) -> Report {
        let mut latency = Histogram::<u64>::new(3).expect("constant, valid precision");
        latency.auto(true);
        for r in results {
            let _ = latency.add(&r.latency);
        }
        let total = |f: fn(&ConnResult) -> u64| results.iter().map(f).sum::<u64>();
        let acknowledged = total(|r| r.acked);
        let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
        Report {
            connections: results.len(),
            target_rate,
            elapsed_seconds: elapsed.as_secs_f64(),
            sent: total(|r| r.sent),
            acknowledged,
            new: total(|r| r.new),
            duplicates: total(|r| r.duplicates),
            present: None,
            lost: 0,
            verified_by: "none",
            unacknowledged: total(|r| r.unacked),
            resent: total(|r| r.resent),
            reconnects: total(|r| r.reconnects),
            error_frames: total(|r| r.errors),
            server_retries: None,
            success_rate: None,
            achieved_rate: acknowledged as f64 / elapsed.as_secs_f64().max(1e-9),
            ack_p50_ms: ms(0.5),
            ack_p99_ms: ms(0.99),
            ack_max_ms: latency.max() as f64 / 1000.0,
        }
    }

    /// Looks up every acknowledged tick of this run in the database file (read-only): by symbol,
    /// timestamp (stored in microseconds) and the run's tag.
    ///
    /// # Errors
    ///
    /// The SQLite error when the file cannot be read.
    pub fn verify_in_file(
        &mut self,
        db: &Path,
        results: &[ConnResult],
        kind: TickKind,
    ) -> rusqlite::Result<()> {
        let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let tagged = match kind {
            TickKind::Quote => "lp_source",
            TickKind::Trade => "side",
        };
        let mut stmt =
            conn.prepare(&format!("SELECT 1 FROM ticks WHERE symbol = ?1 AND ts = ?2 AND {tagged} = ?3"))?;
        let mut present = 0_u64;
        for r in results {
            for ts in &r.acked_timestamps {
                if stmt.exists(rusqlite::params![r.symbol, ts.saturating_mul(1000), r.tag])? {
                    present += 1;
                }
            }
        }
        self.present = Some(present);
        self.lost = self.acknowledged.saturating_sub(present);
        self.verified_by = "database";
        Ok(())
    }

    /// Without the file: new rows the server counted during the run against new acknowledged.
    pub fn verify_by_stats(&mut self, written_during_run: u64) {
        let present = written_during_run.min(self.new) + self.duplicates;
        self.present = Some(present);
        self.lost = self.acknowledged.saturating_sub(present);
        self.verified_by = "tick-stats";
    }

    /// Whether nothing acknowledged is missing and everything was acknowledged.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.unacknowledged == 0
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let present =
            self.present.map_or("not verified".to_owned(), |p| format!("{p} (by {})", self.verified_by));
        let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        format!(
            "load: {} connections, target {} ticks/s, {:.1} s\n\
             sent          {}\nacknowledged  {} ({} new, {} duplicates)\npresent       {present}\n\
             lost          {}\nunacknowledged {}\nresent        {} ({} reconnects, {} error frames)\n\
             server retries {}\nsuccess rate  {}\nachieved      {:.0} ticks/s\n\
             ack latency   p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\nresult        {}\n",
            self.connections,
            self.target_rate,
            self.elapsed_seconds,
            self.sent,
            self.acknowledged,
            self.new,
            self.duplicates,
            self.lost,
            self.unacknowledged,
            self.resent,
            self.reconnects,
            self.error_frames,
            opt(self.server_retries),
            self.success_rate.map_or("?".to_owned(), |r| format!("{r:.4}")),
            self.achieved_rate,
            self.ack_p50_ms,
            self.ack_p99_ms,
            self.ack_max_ms,
            if self.ok() { "OK: every acknowledged tick is stored" } else { "FAILED" },
        )
    }
}
