//! Every metric `/metrics` shows, with its HELP text, and the counters a dashboard or an alert
//! rule reads registered at zero from the start: a series that appears only after its first
//! event makes `rate()` and `absent()` lie, and panels show "no data" when the truth is 0.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// The writer's name in the `writer` label of its series.
pub const WRITER: &str = "serve";

/// Describes every metric; registers the ones that must exist before their first event.
pub fn describe() {
    for (name, help) in COUNTERS {
        describe_counter!(*name, *help);
    }
    for (name, help) in GAUGES {
        describe_gauge!(*name, *help);
    }
    for (name, help) in HISTOGRAMS {
        describe_histogram!(*name, *help);
    }
    for name in [
        "sqlretry_serve_ticks_written_total",
        "sqlretry_serve_ticks_duplicate_total",
        "sqlretry_serve_ticks_dead_lettered_total",
        "sqlretry_serve_ticks_lost_total",
        "sqlretry_serve_ticks_failed_total",
        "sqlretry_serve_messages_written_total",
        "sqlretry_serve_messages_failed_total",
        "sqlretry_serve_messages_dead_lettered_total",
        "sqlretry_serve_rejected_total",
        "sqlretry_serve_busy_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for name in ["sqlretry_writer_retries_total", "sqlretry_writer_batch_failures_total"] {
        metrics::counter!(name, "writer" => WRITER).increment(0);
    }
    metrics::gauge!("sqlretry_serve_connections_open").set(0.0);
    for rule in super::alerts::RULES {
        metrics::gauge!("sqlretry_serve_alert", "rule" => rule).set(0.0);
    }
}

const COUNTERS: &[(&str, &str)] = &[
    ("sqlretry_serve_ticks_written_total", "Ticks committed as new rows."),
    ("sqlretry_serve_ticks_duplicate_total", "Ticks committed that were already stored (exact resends)."),
    (
        "sqlretry_serve_ticks_dead_lettered_total",
        "Ticks not committed, kept in the dead-letter store for replay.",
    ),
    (
        "sqlretry_serve_ticks_lost_total",
        "Ticks neither committed nor kept (the dead-letter store refused them). Must stay 0.",
    ),
    (
        "sqlretry_serve_ticks_failed_total",
        "Ticks of messages that were not committed (dead-lettered or lost).",
    ),
    (
        "sqlretry_serve_messages_written_total",
        "Messages (HTTP bodies, WebSocket messages) committed and acknowledged.",
    ),
    (
        "sqlretry_serve_messages_failed_total",
        "Messages not committed (dead-lettered or lost); the failures alert counts these.",
    ),
    (
        "sqlretry_serve_messages_dead_lettered_total",
        "Messages not committed and kept in the dead-letter store.",
    ),
    ("sqlretry_serve_rejected_total", "Messages refused for bad input (400, 413)."),
    ("sqlretry_serve_busy_total", "HTTP bodies refused with 503 because ingest was full."),
    ("sqlretry_writer_retries_total", "Retries of whole transactions by the writer."),
    ("sqlretry_writer_batch_failures_total", "Group transactions that gave up after their retries."),
    ("sqlretry_writer_groups_committed_total", "Group transactions committed."),
    ("sqlretry_writer_batches_written_total", "Ingest batches committed."),
    ("sqlretry_writer_requests_committed_total", "Requests (closures) committed in a group."),
    ("sqlretry_writer_requests_failed_total", "Requests whose group gave up."),
    ("sqlretry_writer_requests_rejected_total", "Requests refused before running (queue closed or full)."),
    ("sqlretry_writer_rows_written_total", "Rows written through the writer's ingest path."),
    ("sqlretry_writer_rows_dead_lettered_total", "Rows of the writer's ingest path kept as dead letters."),
    ("sqlretry_writer_rows_lost_total", "Rows of the writer's ingest path neither written nor kept."),
    ("sqlretry_writer_rows_replayed_total", "Dead-lettered rows replayed."),
    ("sqlretry_writer_alerts_total", "Times the writer's own failure alert threshold was crossed."),
    ("sqlretry_calls_total", "Operations run under a retry policy."),
    ("sqlretry_retries_total", "Retries made by retry policies."),
    ("sqlretry_successes_after_retry_total", "Operations that succeeded after at least one retry."),
    ("sqlretry_give_ups_total", "Operations that gave up after their retries."),
    ("sqlretry_commit_outcome_unknown_total", "COMMITs whose outcome could not be known (connection lost)."),
];

const GAUGES: &[(&str, &str)] = &[
    ("sqlretry_serve_alert", "1 while the alert rule in the `rule` label fires, else 0."),
    ("sqlretry_serve_connections_open", "Open connections, HTTP and WebSocket."),
    ("sqlretry_serve_ticks_per_second", "New ticks per second over the last 10 s."),
    ("sqlretry_serve_retries_per_minute", "Writer retries in the last alert window."),
    ("sqlretry_writer_queue_depth", "Requests waiting for the writer."),
    ("sqlretry_writer_healthy", "1 while the writer thread runs, 0 once it stopped."),
    ("sqlretry_writer_ingest_buffered", "Rows buffered by the writer's ingest path."),
    ("sqlretry_wal_bytes", "Size of the database's write-ahead log."),
];

const HISTOGRAMS: &[(&str, &str)] = &[
    ("sqlretry_serve_ack_seconds", "Time from a message's validation to its COMMIT (its acknowledgement)."),
    ("sqlretry_writer_flush_seconds", "Time the writer took to commit one group."),
    ("sqlretry_sqlite_lock_hold_seconds", "Time the write lock was held per transaction."),
];
