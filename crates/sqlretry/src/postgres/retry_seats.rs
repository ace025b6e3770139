//! The retry seats: after a conflict (40001, 40P01), a write's later attempts run only while it
//! holds one of the store's few retry seats, taken in arrival order and kept until the write ends.
//!
//! # Why
//!
//! On hot rows most attempts conflict. Without the seats every loser retries after a short random
//! sleep and meets the other losers again: an unlucky transaction loses many times in a row, and
//! the tail grows (BENCHMARKS.md, "PostgreSQL at SERIALIZABLE", the retry seats).
//! With seats, the retried transactions stop colliding with each other: with `n` seats, at most
//! `n` retried transactions at a time, the oldest first (tokio's semaphore is fair), competing
//! with first attempts only. A seat holder retries at once, without the policy's backoff (the
//! queue spaced it out already; a sleeping holder idles a seat), so it wins within a few
//! attempts and every queued write makes progress in turn. Two seats are the default: a sweep of
//! 1, 2 and 4 seats is in the same BENCHMARKS.md section.
//!
//! # What it costs
//!
//! Retried transactions wait for a seat: where retried writes touch *different* rows they wait
//! for each other needlessly (add seats, or set it to 0 to turn it off). The wait is
//! bounded by the write's deadline: a write still queued when it passes returns its original
//! conflict error (`StopReason::DeadlineExceeded`). The queue holds no pooled connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;

use super::classify::PgError;
use super::within::within;
use crate::classify::{Class, Classifier};
use crate::deadline::Deadline;

/// A store's retry seats: `None` when turned off (size 0).
#[derive(Debug, Clone)]
pub(crate) struct RetrySeats(Option<Arc<Semaphore>>);

impl RetrySeats {
    /// `size` seats; 0 turns it off.
    pub(crate) fn new(size: usize) -> RetrySeats {
        RetrySeats((size > 0).then(|| Arc::new(Semaphore::new(size))))
    }

    /// After a failed attempt: when `error` is a conflict and `seat` is empty, queues for a seat
    /// until `deadline`. On time out the seat stays empty and the caller returns `error` as it is.
    pub(crate) async fn after(&self, seat: &Seat, error: &PgError, deadline: Deadline) {
        let Some(semaphore) = &self.0 else { return };
        if !is_conflict(error) || seat.holds() {
            return;
        }
        // The semaphore is never closed; a time-out leaves the seat empty.
        if let Ok(Ok(permit)) = within(deadline, "the retry seats", semaphore.clone().acquire_owned()).await {
            seat.take(permit);
        }
    }
}

/// One write's retry seat, released when the write ends (dropped).
#[derive(Debug, Default)]
pub(crate) struct Seat {
    permit: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
    held: AtomicBool,
}

impl Seat {
    fn take(&self, permit: OwnedSemaphorePermit) {
        if let Ok(mut slot) = self.permit.lock() {
            *slot = Some(permit);
            self.held.store(true, Ordering::Release);
        }
    }

    /// Whether this write holds a retry seat.
    pub(crate) fn holds(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }
}

/// 40001 (serialization failure) and 40P01 (deadlock): the conflicts the seats are for.
fn is_conflict(error: &PgError) -> bool {
    matches!(error, PgError::Postgres(_))
        && error.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// `inner`'s answer, except that a seat holder's conflict is retried at once: the queue spaced it
/// out already, and every millisecond it sleeps the seat stands idle.
pub(crate) struct Seated<'a, K> {
    pub(crate) inner: K,
    pub(crate) seat: &'a Seat,
}

impl<K: Classifier<PgError>> Classifier<PgError> for Seated<'_, K> {
    fn classify(&self, error: &PgError) -> Class {
        match self.inner.classify(error) {
            Class::Retryable { .. } if self.seat.holds() && is_conflict(error) => {
                Class::retry_after(Duration::ZERO)
            }
            class => class,
        }
    }
}
