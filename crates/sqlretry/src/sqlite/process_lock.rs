//! [`ProcessLock`]: the file lock that orders sqlretry's writers of one database across processes.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long after a wait for another process's lock this process counts as contended.
pub(crate) const CONTENDED_MEMORY: Duration = Duration::from_millis(100);
/// The first pause between tries of a deadline-bounded [`ProcessLock::acquire_until`]; each
/// later pause doubles, up to [`TRY_PAUSE_MAX`]. A try is one `flock` system call (about a
/// microsecond), far cheaper than polling SQLite's `BEGIN IMMEDIATE`.
const TRY_PAUSE_FIRST: Duration = Duration::from_micros(1);
/// The longest pause between tries of [`ProcessLock::acquire_until`].
const TRY_PAUSE_MAX: Duration = Duration::from_micros(50);

/// An exclusive `flock` on `<db>.writer-lock`, taken by sqlretry's writers of that database (the
/// [`Writer`](crate::writer::Writer) and [`Store::write_grouped`](super::Store::write_grouped))
/// before each transaction attempt and let go after it. Writers in other processes then queue for
/// it instead of polling SQLite's busy handler, and a process that dies lets go of it (the kernel
/// releases the lock with the file). Best effort: if locking fails, SQLite's own locking still
/// decides. Only the user of the write connection takes or lets go of it, so the state's own
/// mutex is never contended.
pub(crate) struct ProcessLock {
    file: std::fs::File,
    state: Mutex<LockState>,
}

struct LockState {
    held: bool,
    /// Until when this process counts as contended (its last wait for another process's lock,
    /// plus [`CONTENDED_MEMORY`]).
    contended_until: Option<Instant>,
}

impl std::fmt::Debug for ProcessLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessLock").field("held", &self.state().held).finish_non_exhaustive()
    }
}

impl ProcessLock {
    /// Opens (creating it if needed) the lock file beside `db`; `None`, with a warning, if it
    /// cannot be opened (a read-only directory): SQLite's locking alone then orders the writers.
    pub(crate) fn beside(db: &Path) -> Option<ProcessLock> {
        let mut lock_path = db.as_os_str().to_owned();
        lock_path.push(".writer-lock");
        let file = super::permissions::open_beside(db, Path::new(&lock_path));
        match file {
            Ok(file) => Some(ProcessLock {
                file,
                state: Mutex::new(LockState { held: false, contended_until: None }),
            }),
            Err(error) => {
                tracing::warn!(%error, path = %Path::new(&lock_path).display(), "no cross-process writer lock file; relying on SQLite's locking");
                None
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, LockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lock unless held already, waiting only until `until` (tries spaced 1 µs doubling
    /// to 50 µs, the last cut short to end at `until`); past it, goes on without the lock, so that
    /// SQLite's own lock (waited for under the same bound) decides. Never a bare blocking
    /// `flock`: a stopped process holding the lock costs others a bounded wait, not a freeze.
    pub(crate) fn acquire_until(&self, until: Instant) {
        let mut st = self.state();
        if st.held {
            return;
        }
        let mut pause = TRY_PAUSE_FIRST;
        let taken = loop {
            match self.file.try_lock() {
                Ok(()) => break Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => {
                    st.contended_until = Some(Instant::now() + CONTENDED_MEMORY);
                    let now = Instant::now();
                    if now >= until {
                        return;
                    }
                    std::thread::sleep(pause.min(until - now));
                    pause = (pause * 2).min(TRY_PAUSE_MAX);
                }
                Err(std::fs::TryLockError::Error(error)) => break Err(error),
            }
        };
        Self::note(&mut st, taken);
    }

    fn note(st: &mut LockState, taken: std::io::Result<()>) {
        match taken {
            Ok(()) => st.held = true,
            Err(error) => tracing::debug!(%error, "cannot take the writers' file lock; relying on SQLite's"),
        }
    }

    /// [`acquire_until`](ProcessLock::acquire_until), let go when the guard is dropped.
    pub(crate) fn hold_until(&self, until: Instant) -> Held<'_> {
        self.acquire_until(until);
        Held(self)
    }

    /// Lets the lock go if held.
    pub(crate) fn unlock(&self) {
        let mut st = self.state();
        if std::mem::take(&mut st.held) {
            let _ = self.file.unlock();
        }
    }

    /// Whether another process made this one wait for the lock within [`CONTENDED_MEMORY`].
    pub(crate) fn contended(&self) -> bool {
        self.state().contended_until.is_some_and(|until| Instant::now() < until)
    }
}

/// The [`ProcessLock`] taken by [`ProcessLock::hold_until`]; let go on drop.
pub(crate) struct Held<'a>(&'a ProcessLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}
