//! `/readyz`: whether the service can take writes now. Not while draining; not while writes are
//! failing (the last message did not commit — the reason is given, until one commits again); not
//! while another process holds the database's write lock. The lock is probed on a connection of
//! its own (`BEGIN IMMEDIATE`, then `ROLLBACK`), not through the writer, so that probes are never
//! counted as batches nor move the success rate.

use std::path::PathBuf;
use std::time::Duration;

use super::state::AppState;

/// How long the probe may wait for the write lock.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// Ready, or why not.
///
/// # Errors
///
/// The reason the service is not ready, for the 503 body.
pub async fn check(state: &AppState) -> Result<(), String> {
    if state.is_stopping() {
        return Err("shutting down".to_owned());
    }
    if let Some((error, since)) = state.ticks.health().failing() {
        return Err(format!("writes failing since {since}: {error}"));
    }
    let db = state.ticks.writer().path().to_path_buf();
    let probe = tokio::task::spawn_blocking(move || probe(db));
    match tokio::time::timeout(PROBE_WAIT + Duration::from_secs(1), probe).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("the database's write lock is not available: {e}")),
        Ok(Err(e)) => Err(format!("the probe failed: {e}")),
        Err(_) => Err(format!("the database's write lock was not available within {PROBE_WAIT:?}")),
    }
}

fn probe(db: PathBuf) -> Result<(), rusqlite::Error> {
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(PROBE_WAIT)?;
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
}
