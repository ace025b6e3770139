//! [`ProcessLock`]: the file lock that orders sqlretry's writers of one database across processes.
//!
//! A contended wait is woken by the kernel, not by polling, and still ends at the caller's
//! deadline. An owned helper thread (the lock waiter) asks, in a blocking call, for a *shared*
//! lock on a second open file description of the lock file: the kernel grants it the moment the
//! exclusive holder lets go. The waiter lets it go at once and wakes the caller, which sleeps on a
//! condition variable until then or until its deadline, and which then tries the exclusive lock
//! itself — so that the lock is only ever held by the thread that writes (a lock taken by the
//! helper and handed over would lie idle until the writing thread is scheduled). A stopped or
//! killed holder therefore costs a caller at most its deadline, as before.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long after a wait for another process's lock this process counts as contended.
pub(crate) const CONTENDED_MEMORY: Duration = Duration::from_millis(100);
/// How long dropping a [`ProcessLock`] waits for its lock waiter to come back from the kernel.
/// The waiter can only be blocked behind a holder that keeps the lock (a stopped process): then
/// the thread is left to finish on its own — it lets go of its shared lock the moment it gets
/// it, and exits — rather than making the drop (and whoever drops) wait for that process.
const WAITER_JOIN_BOUND: Duration = Duration::from_millis(200);

/// An exclusive `flock` on `<db>.writer-lock`, taken by sqlretry's writers of that database (the
/// [`Writer`](crate::writer::Writer) and [`Store::write_grouped`](super::Store::write_grouped))
/// before each transaction attempt and let go after it. Writers in other processes then queue for
/// it in the kernel instead of polling SQLite's busy handler, and a process that dies lets go of
/// it (the kernel releases the lock with the file). Best effort: if locking fails, SQLite's own
/// locking still decides. Only the user of the write connection takes or lets go of it.
pub(crate) struct ProcessLock {
    shared: Arc<Shared>,
    /// The lock waiter, started at the first contended wait.
    waiter: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    /// The lock file. The lock belongs to this open file description, whichever thread took it:
    /// the caller's try, or the lock waiter's blocking call.
    file: std::fs::File,
    /// The same file opened again (its own open file description), on which the lock waiter
    /// asks for a shared lock: the kernel grants it when the exclusive holder lets go. It is let
    /// go at once and the caller tries the exclusive lock itself, so that the lock is only ever
    /// held by the thread that writes (a lock handed to a helper thread would lie idle until the
    /// writing thread is scheduled).
    watch: std::fs::File,
    state: Mutex<LockState>,
    /// Signalled on every change of `state` that a waiting caller or the lock waiter acts on.
    changed: Condvar,
}

#[derive(Default)]
struct LockState {
    held: bool,
    /// The lock waiter's kernel call failed: callers no longer queue (SQLite's lock decides).
    broken: bool,
    /// The lock waiter is asked to, or does, block in the kernel until the lock is free.
    queued: bool,
    /// The lock waiter is to exit once back from the kernel.
    closing: bool,
    /// The lock waiter has exited.
    exited: bool,
    /// Until when this process counts as contended (its last wait for another process's lock,
    /// plus [`CONTENDED_MEMORY`]).
    contended_until: Option<Instant>,
}

impl std::fmt::Debug for ProcessLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessLock").field("held", &self.shared.state().held).finish_non_exhaustive()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, LockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, st: MutexGuard<'a, LockState>) -> MutexGuard<'a, LockState> {
        self.changed.wait(st).unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock waiter's loop: whenever a caller queues, block in the kernel until the exclusive
    /// holder lets go (a shared lock on [`Shared::watch`], let go at once), then wake the caller.
    fn run_waiter(&self) {
        let mut st = self.state();
        loop {
            while !st.queued && !st.closing {
                st = self.wait(st);
            }
            if !st.queued {
                break;
            }
            drop(st);
            let freed = self.watch.lock_shared().and_then(|()| self.watch.unlock());
            st = self.state();
            st.queued = false;
            if let Err(error) = freed {
                tracing::debug!(%error, "cannot wait for the writers' file lock; relying on SQLite's");
                st.broken = true;
            }
            self.changed.notify_all();
        }
        st.exited = true;
        self.changed.notify_all();
    }
}

impl ProcessLock {
    /// Opens (creating it if needed) the lock file beside `db`; `None`, with a warning, if it
    /// cannot be opened (a read-only directory): SQLite's locking alone then orders the writers.
    pub(crate) fn beside(db: &Path) -> Option<ProcessLock> {
        let mut lock_path = db.as_os_str().to_owned();
        lock_path.push(".writer-lock");
        let open = || super::permissions::open_beside(db, Path::new(&lock_path));
        match open().and_then(|file| Ok((file, open()?))) {
            Ok((file, watch)) => Some(ProcessLock {
                shared: Arc::new(Shared { file, watch, state: Mutex::default(), changed: Condvar::new() }),
                waiter: Mutex::new(None),
            }),
            Err(error) => {
                tracing::warn!(%error, path = %Path::new(&lock_path).display(), "no cross-process writer lock file; relying on SQLite's locking");
                None
            }
        }
    }

    /// Takes the lock unless held already, waiting only until `until`: a try, and while another
    /// process holds it, a wait for the lock waiter's news that the kernel saw it let go, then
    /// another try. Past `until`, goes on without the lock, so that SQLite's own lock (waited for under
    /// the same bound) decides: a stopped process holding the lock costs others a bounded wait,
    /// not a freeze.
    pub(crate) fn acquire_until(&self, until: Instant) {
        let shared = &*self.shared;
        let mut st = shared.state();
        if st.held {
            return;
        }
        loop {
            if !st.queued {
                match shared.file.try_lock() {
                    Ok(()) => {
                        st.held = true;
                        return;
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {}
                    Err(std::fs::TryLockError::Error(error)) => {
                        tracing::debug!(%error, "cannot take the writers' file lock; relying on SQLite's");
                        return;
                    }
                }
                st.contended_until = Some(Instant::now() + CONTENDED_MEMORY);
                if Instant::now() >= until || st.broken || !self.start_waiter() {
                    return;
                }
                st.queued = true;
                shared.changed.notify_all();
            }
            while st.queued {
                let now = Instant::now();
                if now >= until {
                    return;
                }
                st = shared.changed.wait_timeout(st, until - now).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
    }

    /// Starts the lock waiter unless it runs; `false` if no thread could be started.
    fn start_waiter(&self) -> bool {
        let mut waiter = self.waiter.lock().unwrap_or_else(PoisonError::into_inner);
        if waiter.is_some() {
            return true;
        }
        let shared = Arc::clone(&self.shared);
        match std::thread::Builder::new()
            .name("sqlretry-lock-waiter".into())
            .spawn(move || shared.run_waiter())
        {
            Ok(handle) => {
                *waiter = Some(handle);
                true
            }
            Err(error) => {
                tracing::debug!(%error, "cannot start the writers' lock waiter; relying on SQLite's lock");
                false
            }
        }
    }

    /// [`acquire_until`](ProcessLock::acquire_until), let go when the guard is dropped.
    pub(crate) fn hold_until(&self, until: Instant) -> Held<'_> {
        self.acquire_until(until);
        Held(self)
    }

    /// Lets the lock go if held.
    pub(crate) fn unlock(&self) {
        let mut st = self.shared.state();
        if std::mem::take(&mut st.held) {
            let _ = self.shared.file.unlock();
        }
    }

    /// Whether another process made this one wait for the lock within [`CONTENDED_MEMORY`].
    pub(crate) fn contended(&self) -> bool {
        self.shared.state().contended_until.is_some_and(|until| Instant::now() < until)
    }
}

impl Drop for ProcessLock {
    /// Stops the lock waiter and joins it — unless it stays blocked in the kernel past
    /// [`WAITER_JOIN_BOUND`] (behind a stopped holder): then it is left to exit by itself when
    /// the lock reaches it, which it lets go at once.
    fn drop(&mut self) {
        let Some(handle) = self.waiter.get_mut().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        let shared = &*self.shared;
        let mut st = shared.state();
        st.closing = true;
        shared.changed.notify_all();
        let until = Instant::now() + WAITER_JOIN_BOUND;
        while !st.exited {
            let now = Instant::now();
            if now >= until {
                tracing::debug!("the writers' lock waiter is blocked behind another process; not joined");
                return;
            }
            st = shared.changed.wait_timeout(st, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(st);
        let _ = handle.join();
    }
}

/// The [`ProcessLock`] taken by [`ProcessLock::hold_until`]; let go on drop.
pub(crate) struct Held<'a>(&'a ProcessLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two `ProcessLock`s on one file are two open file descriptions: their `flock`s exclude each
    // other exactly as two processes' do.
    fn two(dir: &tempfile::TempDir) -> (ProcessLock, ProcessLock) {
        let db = dir.path().join("a.db");
        (ProcessLock::beside(&db).unwrap(), ProcessLock::beside(&db).unwrap())
    }

    fn held(lock: &ProcessLock) -> bool {
        lock.shared.state().held
    }

    #[test]
    fn a_wait_ends_at_its_deadline_and_a_lock_that_comes_later_is_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(&dir);
        a.acquire_until(Instant::now());
        assert!(held(&a));
        b.acquire_until(Instant::now() + Duration::from_millis(20));
        assert!(!held(&b), "the deadline ended the wait");
        assert!(b.contended());
        a.unlock();
        // b's waiter, still queued, sees the release for nobody: a takes the lock again.
        a.acquire_until(Instant::now() + Duration::from_secs(10));
        assert!(held(&a), "the abandoned wait left the lock free");
        a.unlock();
    }

    #[test]
    fn a_waiter_is_woken_by_the_release() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(&dir);
        a.acquire_until(Instant::now());
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                b.acquire_until(Instant::now() + Duration::from_secs(60));
                let got = held(&b);
                b.unlock();
                got
            });
            // Let the waiter reach the kernel (not required for the outcome).
            std::thread::sleep(Duration::from_millis(20));
            a.unlock();
            assert!(waiting.join().unwrap(), "the release handed the lock to the waiter");
        });
        a.acquire_until(Instant::now());
        assert!(held(&a));
    }

    #[test]
    fn dropping_a_lock_whose_waiter_is_blocked_does_not_wait_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(&dir);
        a.acquire_until(Instant::now());
        b.acquire_until(Instant::now() + Duration::from_millis(5));
        assert!(!held(&b));
        let started = Instant::now();
        drop(b); // its waiter stays blocked behind `a`, which never lets go before the drop returns
        assert!(started.elapsed() < Duration::from_secs(30), "the drop waited for the holder");
        a.unlock();
        // The left waiter sees the release, lets its shared lock go and exits: `a` takes it again.
        a.acquire_until(Instant::now() + Duration::from_secs(10));
        assert!(held(&a));
    }
}
