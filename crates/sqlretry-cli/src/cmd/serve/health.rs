//! Whether writes are failing now: set when a message is not committed (dead-lettered or lost),
//! cleared when one commits. `/readyz` reports not ready, with the reason, while it is set, and
//! tick-stats keeps the last error and its time (which are not cleared).

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// The last failure, and whether writes have been failing since.
#[derive(Debug, Default)]
pub struct WriteHealth {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failing: bool,
    last_error: Option<(String, SystemTime)>,
}

impl WriteHealth {
    /// A message was not committed because of `error`.
    pub fn failed(&self, error: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.failing = true;
        s.last_error = Some((error.to_owned(), SystemTime::now()));
    }

    /// A message committed: writes work again.
    pub fn committed(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.failing {
            s.failing = false;
            tracing::info!("writes commit again");
        }
    }

    /// While writes fail: the last error and when it happened (RFC 3339).
    pub fn failing(&self) -> Option<(String, String)> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.failing { s.last_error.as_ref().map(|(e, at)| (e.clone(), rfc3339(*at))) } else { None }
    }

    /// The last error ever and its time (RFC 3339), failing now or not.
    pub fn last_error(&self) -> Option<(String, String)> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.last_error.as_ref().map(|(e, at)| (e.clone(), rfc3339(*at)))
    }
}

/// `2026-12-08T02:31:15Z`.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failing_until_a_commit_and_the_last_error_stays() {
        let h = WriteHealth::default();
        assert!(h.failing().is_none());
        h.failed("no such column: bid");
        assert_eq!(h.failing().unwrap().0, "no such column: bid");
        h.committed();
        assert!(h.failing().is_none());
        assert!(h.last_error().unwrap().1.ends_with('Z'));
    }
}
