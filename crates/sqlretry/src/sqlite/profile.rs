//! [`ConnectionProfile`]: how every connection to a database file is set up, applied and verified on
//! open, and [`OpenError`], which names the file when that fails.
//!
//! Length: the profile's settings, applying and reading each back, and `OpenError`'s kinds are one
//! idea (what opening a file must check); a tenth of the file is its unit tests.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::classify::{code_name, extended_code};
use crate::classify::{Class, Classify};
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// SQLite's journal mode (`PRAGMA journal_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// Write-ahead log: readers never block the writer and the writer never blocks readers.
    Wal,
    /// The rollback journal, deleted after each transaction (SQLite's own default).
    Delete,
    /// The rollback journal, truncated after each transaction.
    Truncate,
}

impl JournalMode {
    /// The name `PRAGMA journal_mode` takes and reads back.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
        }
    }
}

/// SQLite's durability setting (`PRAGMA synchronous`): what an acknowledgement — `Ok` from
/// [`Store::write`](super::Store::write), a Writer request's `Ok`, an ingest flush — promises.
///
/// | level (WAL mode) | survives a process crash (SIGKILL, panic, OOM kill) | survives power loss or an OS crash |
/// |---|---|---|
/// | `Normal` (the default) | yes: every acknowledged commit | the file is never corrupted, but the last commits before the loss may be gone (WAL frames not yet fsynced; they are synced at checkpoints) |
/// | `Full` | yes | yes: each commit fsyncs the WAL before it is acknowledged |
/// | `Extra` | yes | yes, and the directory is synced too (a newly created file survives) |
/// | `Off` | yes | no: the file can be corrupted |
///
/// Choose per Store or Writer with [`ConnectionProfile::with_synchronous`] (then
/// [`StoreOptions::with_profile`](super::StoreOptions::with_profile) or
/// `WriterOptions::with_profile`), or `sqlite.synchronous` in the configuration file. The cost of
/// `Full` is one fsync per transaction: the group-commit Writer shares it among a group
/// (BENCHMARKS.md, "Durability").
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::{ConnectionProfile, Store, StoreOptions, Synchronous};
///
/// let dir = tempfile::tempdir()?;
/// let profile = ConnectionProfile::default().with_synchronous(Synchronous::Full);
/// let store = Store::open_with(dir.path().join("ledger.db"), StoreOptions::default().with_profile(profile))?;
/// let level: i64 = store.read(|conn| conn.query_row("PRAGMA synchronous", [], |r| r.get(0)))?;
/// assert_eq!(level, Synchronous::Full.level());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// No fsync at all: a power loss can corrupt the file.
    Off,
    /// In WAL mode, fsync at checkpoints only: a power loss can lose the last commits, never corrupt.
    Normal,
    /// An fsync at every commit.
    Full,
    /// As `Full`, and the directory too.
    Extra,
}

impl Synchronous {
    /// The number `PRAGMA synchronous` reads back.
    #[must_use]
    pub const fn level(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
            Synchronous::Extra => 3,
        }
    }
}

/// What to do when the requested WAL journal mode cannot be had (`:memory:`, some read-only or
/// network file systems).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WalFallback {
    /// Refuse to open: [`OpenErrorKind::WalUnavailable`] (the default).
    #[default]
    Error,
    /// Log a `tracing` warning and go on in whatever mode SQLite kept.
    Warn,
}

/// How connections to a database file are set up. Every pragma is applied on every open and read
/// back; a value that does not stick is an error.
///
/// Defaults: `journal_mode=WAL` (an error if WAL cannot be had), `busy_timeout=5000` ms (`0`
/// is allowed, leaving all waiting to the retry policy), `synchronous=NORMAL`,
/// `foreign_keys=ON`, a missing file is created (in an existing directory only), and opening is
/// retried under [`RetryPolicy::store_writes`] (opening can meet SQLITE_BUSY_RECOVERY, and switching a
/// file to WAL needs a moment of exclusive access).
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::ConnectionProfile;
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let profile = ConnectionProfile::default().with_busy_timeout(Duration::from_millis(250));
/// let conn = profile.open(dir.path().join("app.db"))?;
/// let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
/// assert_eq!(mode, "wal");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionProfile {
    journal_mode: JournalMode,
    busy_timeout: Duration,
    synchronous: Synchronous,
    foreign_keys: bool,
    wal_fallback: WalFallback,
    create: bool,
    open_policy: RetryPolicy,
}

impl Default for ConnectionProfile {
    fn default() -> Self {
        ConnectionProfile {
            journal_mode: JournalMode::Wal,
            busy_timeout: Duration::from_millis(5000),
            synchronous: Synchronous::Normal,
            foreign_keys: true,
            wal_fallback: WalFallback::Error,
            create: true,
            open_policy: RetryPolicy::store_writes(),
        }
    }
}

impl ConnectionProfile {
    /// The journal mode (default [`JournalMode::Wal`]).
    #[must_use]
    pub fn with_journal_mode(mut self, mode: JournalMode) -> Self {
        self.journal_mode = mode;
        self
    }

    /// How long SQLite itself waits for a lock before returning SQLITE_BUSY (default 5 s; zero turns
    /// SQLite's waiting off). A [`Store`](super::Store) never lets this exceed its policy's deadline.
    #[must_use]
    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// The durability setting (default [`Synchronous::Normal`]).
    #[must_use]
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Whether foreign keys are enforced (default `true`).
    #[must_use]
    pub fn with_foreign_keys(mut self, on: bool) -> Self {
        self.foreign_keys = on;
        self
    }

    /// What to do when WAL cannot be had (default [`WalFallback::Error`]).
    #[must_use]
    pub fn with_wal_fallback(mut self, fallback: WalFallback) -> Self {
        self.wal_fallback = fallback;
        self
    }

    /// Whether a missing database file is created (default `true`). A missing *directory* is never
    /// created.
    #[must_use]
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// The policy under which opening (and switching to WAL) is retried (default
    /// [`RetryPolicy::store_writes`]).
    #[must_use]
    pub fn with_open_policy(mut self, policy: RetryPolicy) -> Self {
        self.open_policy = policy;
        self
    }

    /// The busy timeout connections get.
    #[must_use]
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// The journal mode connections get.
    #[must_use]
    pub fn journal_mode(&self) -> JournalMode {
        self.journal_mode
    }

    /// Opens `path` for reading and writing, applies every pragma and reads each back.
    ///
    /// A new, empty database file is created when `path` does not exist, its directory does, and
    /// [`with_create`](Self::with_create) is on (the default). Nothing is ever created or changed
    /// when opening fails: a missing directory, a file that is not a database, or a read-only file
    /// are refused before SQLite writes anything. `":memory:"` opens an in-memory database (which
    /// has no WAL: see [`WalFallback`]).
    ///
    /// # Errors
    ///
    /// [`OpenError`] naming the file, with the reason in [`OpenError::kind`]: the directory or file
    /// is missing, the file is read-only, WAL cannot be had, a pragma did not stick, or SQLite failed
    /// (e.g. SQLITE_NOTADB; the `rusqlite::Error` is the error's source). Transient failures
    /// (SQLITE_BUSY and its kin) are retried under the open policy first.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Connection, OpenError> {
        let path = path.as_ref();
        Retry::new(&self.open_policy)
            .named("sqlite.open")
            .call(|| self.try_open(path))
            .map_err(crate::error::RetryError::into_inner)
    }

    fn try_open(&self, path: &Path) -> Result<Connection, OpenError> {
        let fail = |kind| OpenError { path: path.to_path_buf(), kind };
        let in_memory = path.as_os_str() == ":memory:";
        if !in_memory {
            check_file(path, self.create).map_err(fail)?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let sqlite = |e| fail(OpenErrorKind::Sqlite(e));
        let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(sqlite)? {
            return Err(fail(OpenErrorKind::ReadOnly));
        }
        conn.busy_timeout(self.busy_timeout).map_err(sqlite)?;
        let millis = i64::try_from(self.busy_timeout.as_millis()).unwrap_or(i64::MAX);
        expect(&conn, "busy_timeout", millis).map_err(fail)?;

        // Reading the journal mode is the first read of the file: a file that is not a database is
        // refused here, before anything is written to it. The mode is switched only when it differs,
        // so of many connections opening at once, only the first takes the exclusive lock.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case(self.journal_mode.as_str()) {
            let sql = format!("PRAGMA journal_mode = {}", self.journal_mode.as_str());
            let mode: String = conn.query_row(&sql, [], |r| r.get(0)).map_err(sqlite)?;
            if !mode.eq_ignore_ascii_case(self.journal_mode.as_str()) {
                if self.journal_mode == JournalMode::Wal && self.wal_fallback == WalFallback::Warn {
                    tracing::warn!(path = %path.display(), journal_mode = %mode, "WAL is not available; going on without it");
                } else if self.journal_mode == JournalMode::Wal {
                    return Err(fail(OpenErrorKind::WalUnavailable { actual: mode }));
                } else {
                    let expected = self.journal_mode.as_str().to_owned();
                    return Err(fail(OpenErrorKind::PragmaMismatch {
                        name: "journal_mode",
                        expected,
                        actual: mode,
                    }));
                }
            }
        }
        let sync = format!("PRAGMA synchronous = {}", self.synchronous.level());
        conn.execute_batch(&sync).map_err(sqlite)?;
        expect(&conn, "synchronous", self.synchronous.level()).map_err(fail)?;
        let fk = format!("PRAGMA foreign_keys = {}", i64::from(self.foreign_keys));
        conn.execute_batch(&fk).map_err(sqlite)?;
        expect(&conn, "foreign_keys", i64::from(self.foreign_keys)).map_err(fail)?;
        Ok(conn)
    }
}

/// Refuses, before SQLite touches anything, a missing directory, a read-only directory (no write
/// bit: SQLite could not create its `-wal`/`-shm`/journal files there), a missing file that is not
/// to be created, and a read-only file.
fn check_file(path: &Path, create: bool) -> Result<(), OpenErrorKind> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(OpenErrorKind::MissingDirectory(dir.to_path_buf()));
    }
    if std::fs::metadata(dir).is_ok_and(|meta| meta.permissions().readonly()) {
        return Err(OpenErrorKind::ReadOnlyDirectory(dir.to_path_buf()));
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => Err(OpenErrorKind::ReadOnly),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Err(OpenErrorKind::NotFound),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OpenErrorKind::Io(e)),
    }
}

/// Reads `PRAGMA name` back and compares it with what was set.
fn expect(conn: &Connection, name: &'static str, expected: i64) -> Result<(), OpenErrorKind> {
    let actual: i64 =
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(OpenErrorKind::Sqlite)?;
    if actual == expected {
        Ok(())
    } else {
        Err(OpenErrorKind::PragmaMismatch {
            name,
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// A database file that could not be opened as the profile asks. It names the file.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::{ConnectionProfile, OpenErrorKind};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("no-such-dir").join("app.db");
/// let err = ConnectionProfile::default().open(&path).unwrap_err();
/// assert_eq!(err.path(), path);
/// assert!(matches!(err.kind(), OpenErrorKind::MissingDirectory(_)));
/// assert!(err.to_string().contains("app.db"));
/// assert!(!path.parent().unwrap().exists()); // nothing was created
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[error("cannot open SQLite database {}: {kind}", path.display())]
pub struct OpenError {
    path: PathBuf,
    #[source]
    kind: OpenErrorKind,
}

impl OpenError {
    /// The file that could not be opened.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why.
    #[must_use]
    pub fn kind(&self) -> &OpenErrorKind {
        &self.kind
    }

    pub(crate) fn sqlite(path: &Path, error: rusqlite::Error) -> Self {
        OpenError { path: path.to_path_buf(), kind: OpenErrorKind::Sqlite(error) }
    }

    /// The SQLite error, when SQLite refused.
    #[must_use]
    pub fn sqlite_error(&self) -> Option<&rusqlite::Error> {
        match &self.kind {
            OpenErrorKind::Sqlite(e) => Some(e),
            _ => None,
        }
    }

    /// Converts into a `rusqlite::Error` for a caller that only deals in those: the SQLite error
    /// itself, or SQLITE_CANTOPEN with this error's message.
    #[must_use]
    pub fn into_sqlite_error(self) -> rusqlite::Error {
        let message = self.to_string();
        match self.kind {
            OpenErrorKind::Sqlite(e) => e,
            _ => rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(message),
            ),
        }
    }
}

/// SQLite's own transient failures while opening (SQLITE_BUSY_RECOVERY, a busy WAL switch) are
/// retryable; everything else is permanent.
impl Classify for OpenError {
    fn classify(&self) -> Class {
        self.sqlite_error().map_or(Class::Permanent, Classify::classify)
    }
}

/// Why a database file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenErrorKind {
    /// The directory the file would be in does not exist (it is never created).
    #[error("the directory {} does not exist", .0.display())]
    MissingDirectory(PathBuf),
    /// The file does not exist and the profile does not create files.
    #[error("the file does not exist (and the profile does not create it)")]
    NotFound,
    /// The file is read-only; writes could never succeed.
    #[error("the file is read-only")]
    ReadOnly,
    /// The directory holding the file has no write permission: SQLite cannot create its `-wal`,
    /// `-shm` or journal files beside the database, so writes could never succeed.
    #[error("the directory {} is read-only (SQLite creates its -wal/-shm files there)", .0.display())]
    ReadOnlyDirectory(PathBuf),
    /// WAL was asked for and SQLite kept another journal mode.
    #[error("WAL journal mode is not available here (journal_mode stays {actual})")]
    WalUnavailable {
        /// The journal mode SQLite kept.
        actual: String,
    },
    /// A pragma read back a value other than the one set.
    #[error("PRAGMA {name} reads back {actual}, expected {expected}")]
    PragmaMismatch {
        /// The pragma.
        name: &'static str,
        /// What was set.
        expected: String,
        /// What was read back.
        actual: String,
    },
    /// The file system refused to describe the file.
    #[error("cannot inspect the file: {0}")]
    Io(#[source] std::io::Error),
    /// SQLite refused (e.g. SQLITE_NOTADB: the file is not a database).
    #[error("{}", SqliteMessage(.0))]
    Sqlite(#[source] rusqlite::Error),
}

/// `SQLITE_NOTADB (26): file is not a database`.
struct SqliteMessage<'a>(&'a rusqlite::Error);

impl fmt::Display for SqliteMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match extended_code(self.0) {
            Some(code) => write!(f, "{} ({code}): {}", code_name(code), self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_applied_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let conn = ConnectionProfile::default().open(dir.path().join("a.db")).unwrap();
        let get = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
        assert_eq!(get("PRAGMA journal_mode"), rusqlite::types::Value::Text("wal".into()));
        assert_eq!(get("PRAGMA busy_timeout"), rusqlite::types::Value::Integer(5000));
        assert_eq!(get("PRAGMA synchronous"), rusqlite::types::Value::Integer(1));
        assert_eq!(get("PRAGMA foreign_keys"), rusqlite::types::Value::Integer(1));
    }

    #[test]
    fn zero_busy_timeout_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let profile = ConnectionProfile::default().with_busy_timeout(Duration::ZERO);
        let conn = profile.open(dir.path().join("a.db")).unwrap();
        let t: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
        assert_eq!(t, 0);
    }

    #[test]
    fn memory_has_no_wal_an_error_or_a_warning() {
        let err = ConnectionProfile::default().open(":memory:").unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::WalUnavailable { actual } if actual == "memory"),
            "{err}"
        );
        let lenient = ConnectionProfile::default().with_wal_fallback(WalFallback::Warn);
        assert!(lenient.open(":memory:").is_ok());
    }

    #[test]
    fn no_create_refuses_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        let err = ConnectionProfile::default().with_create(false).open(&path).unwrap_err();
        assert!(matches!(err.kind(), OpenErrorKind::NotFound));
        assert!(!path.exists());
    }

    #[test]
    fn many_connections_switching_to_wal_at_once_do_not_race() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        let profile = ConnectionProfile::default().with_busy_timeout(Duration::ZERO);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| profile.open(&path).map(drop))).collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
    }
}
