//! [`within`]: a future cut off at a call's deadline, naming what was waited for.

use std::future::Future;
use std::time::Instant;

use super::classify::PgError;
use crate::deadline::Deadline;

/// `future`, cut off at the deadline.
pub(crate) async fn within<F: Future>(
    deadline: Deadline,
    waiting_for: &'static str,
    future: F,
) -> Result<F::Output, PgError> {
    match deadline.remaining(Instant::now()) {
        None => Ok(future.await),
        Some(left) => tokio::time::timeout(left, future)
            .await
            .map_err(|_| PgError::TimedOut { waiting_for, waited: left }),
    }
}
