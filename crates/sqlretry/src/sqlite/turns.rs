//! [`WriteQueue`]: the in-process queue in front of a store's write connection.
//!
//! Writers of one process need not fight over SQLite's lock: they take turns here, and SQLite's
//! lock is left to other processes. The queue is FIFO with a short *barging window*: a writer that
//! arrives while the lock is free takes it at once if the oldest waiter has been at the head of the
//! queue for less than the window; after that, the lock is handed to the head waiter. So a busy
//! writer can commit back to back without a thread hand-off each time (hand-offs cost a wake-up,
//! longer than a small transaction), and no waiter waits more than about one window per writer
//! ahead of it, plus the time those writers waited for SQLite's lock.
//!
//! *Streaks across processes.* When a holder had to wait for another process's lock
//! ([`Turn::contended`]), the window is renewed from that moment and, for the next
//! [`STREAK_MEMORY`], is [`STREAK_WINDOW`] long instead: every hand-off between this process's
//! writers costs a thread wake-up (tens of microseconds with several processes on few cores), and a
//! moment in which another process may take SQLite's lock, after which the newcomer re-reads its
//! pages. Writers of a process that alone writes the file keep the short window.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The barging window while other processes contend for SQLite's lock (unless the configured window
/// is zero, i.e. strict first come, first served): longer streaks let SQLite's lock change hands
/// less often; past a few ms they only add to the worst wait (BENCHMARKS.md, "SQLite layer: the
/// Store").
pub(crate) const STREAK_WINDOW: Duration = Duration::from_millis(2);
/// How long after a wait for another process's lock [`STREAK_WINDOW`] applies.
pub(crate) const STREAK_MEMORY: Duration = Duration::from_millis(100);

/// A fair lock (see the module docs). No data inside: the holder of a [`Turn`] may use what the
/// queue guards.
#[derive(Debug)]
pub(crate) struct WriteQueue {
    state: Mutex<State>,
    window: Duration,
    streak_window: Duration,
}

#[derive(Debug)]
struct State {
    held: bool,
    next_id: u64,
    waiters: VecDeque<(u64, Arc<Condvar>)>,
    head_since: Instant,
    /// Until when [`STREAK_WINDOW`] applies.
    streak_until: Option<Instant>,
}

/// A writer's turn; the next writer's turn starts when it is dropped.
#[derive(Debug)]
pub(crate) struct Turn<'a>(&'a WriteQueue);

/// The deadline passed while waiting in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueTimeout;

impl WriteQueue {
    pub(crate) fn new(window: Duration) -> Self {
        WriteQueue {
            state: Mutex::new(State {
                held: false,
                next_id: 0,
                waiters: VecDeque::new(),
                head_since: Instant::now(),
                streak_until: None,
            }),
            window,
            streak_window: if window.is_zero() { Duration::ZERO } else { window.max(STREAK_WINDOW) },
        }
    }

    /// The barging window in force at `now`.
    fn window_at(&self, state: &State, now: Instant) -> Duration {
        if state.streak_until.is_some_and(|until| now < until) { self.streak_window } else { self.window }
    }

    /// Whether the head waiter has been at the head for a whole window at `now`.
    fn head_due(&self, state: &State, now: Instant) -> bool {
        now.saturating_duration_since(state.head_since) >= self.window_at(state, now)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock (no code under the lock panics).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this writer's turn, until `deadline` at most.
    pub(crate) fn acquire(&self, deadline: Option<Instant>) -> Result<Turn<'_>, QueueTimeout> {
        let mut state = self.lock();
        if !state.held && (state.waiters.is_empty() || !self.head_due(&state, Instant::now())) {
            state.held = true;
            return Ok(Turn(self));
        }
        let id = state.next_id;
        state.next_id += 1;
        let signal = Arc::new(Condvar::new());
        if state.waiters.is_empty() {
            state.head_since = Instant::now();
        }
        state.waiters.push_back((id, Arc::clone(&signal)));
        loop {
            let at_head = state.waiters.front().is_some_and(|(head, _)| *head == id);
            if at_head && !state.held {
                state.waiters.pop_front();
                state.held = true;
                state.head_since = Instant::now();
                // The new head starts its window now and must know it (it sleeps without a timeout).
                Self::wake_head(&state);
                return Ok(Turn(self));
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                state.waiters.retain(|(waiter, _)| *waiter != id);
                if at_head {
                    state.head_since = now;
                    Self::wake_head(&state);
                }
                return Err(QueueTimeout);
            }
            // The head wakes by itself when its window ends (from then on, no newcomer goes first and
            // the next release wakes it); the others sleep until they become the head.
            let due =
                at_head.then(|| state.head_since + self.window_at(&state, now)).filter(|due| *due > now);
            let wake_at = match (due, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            state = match wake_at {
                None => signal.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(at) => signal.wait_timeout(state, at - now).unwrap_or_else(PoisonError::into_inner).0,
            };
        }
    }

    fn wake_head(state: &State) {
        if let Some((_, signal)) = state.waiters.front() {
            signal.notify_one();
        }
    }

    fn release(&self) {
        let mut state = self.lock();
        state.held = false;
        // Before the head's window ends a newcomer may go first, and the head wakes by itself at the
        // end of its window: no wake-up (a system call) per release while writers barge.
        if !state.waiters.is_empty() && self.head_due(&state, Instant::now()) {
            Self::wake_head(&state);
        }
    }
}

impl Turn<'_> {
    /// The holder just got SQLite's lock after waiting for another process: this process's writers
    /// may now write back to back for one window, from now, and the window is [`STREAK_WINDOW`] for
    /// the next [`STREAK_MEMORY`] (see the module docs).
    pub(crate) fn contended(&self) {
        let mut state = self.0.lock();
        let now = Instant::now();
        state.streak_until = Some(now + STREAK_MEMORY);
        if !state.waiters.is_empty() {
            state.head_since = now;
            // The head may sleep without a timeout (its window had ended): it must learn of the new one.
            WriteQueue::wake_head(&state);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_at_a_time() {
        let queue = WriteQueue::new(Duration::from_millis(1));
        let inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let _turn = queue.acquire(None).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::hint::spin_loop();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
    }

    #[test]
    fn times_out_and_leaves_the_queue() {
        let queue = WriteQueue::new(Duration::ZERO);
        let turn = queue.acquire(None).unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(queue.acquire(Some(deadline)).unwrap_err(), QueueTimeout);
        drop(turn);
        assert!(queue.acquire(Some(Instant::now())).is_ok(), "the timed-out waiter left the queue");
    }

    #[test]
    fn waiters_are_served_in_arrival_order_without_a_window() {
        let queue = WriteQueue::new(Duration::ZERO);
        let order = Mutex::new(Vec::new());
        let turn = queue.acquire(None).unwrap();
        std::thread::scope(|s| {
            for i in 0..4 {
                let (queue, order) = (&queue, &order);
                s.spawn(move || {
                    let _turn = queue.acquire(None).unwrap();
                    order.lock().unwrap().push(i);
                });
                // Wait until thread i is queued before starting the next.
                while queue.lock().waiters.len() < i + 1 {
                    std::thread::yield_now();
                }
            }
            drop(turn);
        });
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_renewed_window_still_ends_with_the_head_served() {
        let queue = WriteQueue::new(Duration::from_millis(20));
        let turn = queue.acquire(None).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let t = Instant::now();
                let _turn = queue.acquire(Some(Instant::now() + Duration::from_secs(5))).unwrap();
                t.elapsed()
            });
            // The head's window ends while the turn is held: it then sleeps without a timeout.
            std::thread::sleep(Duration::from_millis(60));
            turn.contended();
            drop(turn);
            let waited = waiter.join().unwrap();
            assert!(waited < Duration::from_secs(1), "the head waited {waited:?}");
        });
    }

    #[test]
    fn contention_lengthens_the_window_for_a_while_unless_it_is_zero() {
        let queue = WriteQueue::new(Duration::from_micros(250));
        let now = Instant::now();
        assert_eq!(queue.window_at(&queue.lock(), now), Duration::from_micros(250));
        queue.acquire(None).unwrap().contended();
        let state = queue.lock();
        assert_eq!(queue.window_at(&state, Instant::now()), STREAK_WINDOW);
        assert_eq!(queue.window_at(&state, Instant::now() + STREAK_MEMORY), Duration::from_micros(250));
        drop(state);
        let strict = WriteQueue::new(Duration::ZERO);
        strict.acquire(None).unwrap().contended();
        assert_eq!(strict.window_at(&strict.lock(), Instant::now()), Duration::ZERO);
    }
}
