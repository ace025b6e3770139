//! [`FileLock`]: an exclusive advisory lock on a file, taken under a retry policy, and atomic
//! writes (temporary file, fsync, rename) while holding it (an evidence
//! file written once, whole).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fs4::FileExt;

use crate::error::RetryError;
use crate::policy::RetryPolicy;
use crate::retry::Retry;

/// An exclusive advisory lock guarding one file, released on drop.
///
/// The lock is taken on a companion file, `<path>.lock` (created if missing, never deleted: deleting
/// it would let two processes lock two different files), because [`FileLock::write`] replaces the
/// guarded file by a rename, and a lock on a replaced file guards nothing. Advisory: it excludes
/// other `FileLock`s (in this or another process), not programs that ignore it.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::FileLock;
///
/// let dir = tempfile::tempdir()?;
/// let evidence = dir.path().join("evidence.json");
/// {
///     let lock = FileLock::acquire(&evidence)?;
///     lock.write(br#"{"verdict": "ok"}"#)?;
///     // A second lock on the same file would wait, then give up with WouldBlock.
/// } // released here
/// assert_eq!(std::fs::read(&evidence)?, br#"{"verdict": "ok"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FileLock {
    lock_file: File,
    path: PathBuf,
}

impl FileLock {
    /// Locks `path` under [`RetryPolicy::file_lock`] (3 attempts, 100 ms then 200 ms ± 50 %).
    ///
    /// # Errors
    ///
    /// [`RetryError`] holding `WouldBlock` when the lock stayed held elsewhere through the policy, or
    /// the I/O error that made the lock file impossible to open (e.g. a missing directory).
    pub fn acquire(path: impl AsRef<Path>) -> Result<FileLock, RetryError<io::Error>> {
        FileLock::acquire_with(path, &RetryPolicy::file_lock())
    }

    /// Locks `path` under `policy`.
    ///
    /// # Errors
    ///
    /// As [`FileLock::acquire`].
    pub fn acquire_with(
        path: impl AsRef<Path>,
        policy: &RetryPolicy,
    ) -> Result<FileLock, RetryError<io::Error>> {
        let path = path.as_ref().to_path_buf();
        let lock_path = companion(&path, ".lock");
        Retry::new(policy).named("file_lock").call(|| {
            let lock_file =
                OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path)?;
            FileExt::try_lock(&lock_file).map_err(io::Error::from)?;
            Ok(FileLock { lock_file, path: path.clone() })
        })
    }

    /// The guarded file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the guarded file's contents atomically: a temporary file in the same directory is
    /// written and fsynced, then renamed over the file (and the directory fsynced), so a reader sees
    /// the old contents or the new, never a part.
    ///
    /// # Errors
    ///
    /// The I/O error of any step; the guarded file is then unchanged.
    pub fn write(&self, contents: &[u8]) -> io::Result<()> {
        let tmp = companion(&self.path, &format!(".tmp{}", std::process::id()));
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(contents)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it prompt and explicit.
        if let Err(error) = FileExt::unlock(&self.lock_file) {
            tracing::warn!(path = %self.path.display(), %error, "cannot unlock (the lock is released on close)");
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_held_lock_makes_the_second_give_up_with_would_block_after_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        let held = FileLock::acquire(&path).unwrap();
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(crate::backoff::ConstantBuilder::default().with_delay(Duration::from_millis(1)))
            .build()
            .unwrap();
        let err = FileLock::acquire_with(&path, &policy).unwrap_err();
        assert_eq!(err.attempts(), 3);
        assert_eq!(err.inner().kind(), io::ErrorKind::WouldBlock);
        drop(held);
        assert!(FileLock::acquire_with(&path, &policy).is_ok());
    }

    #[test]
    fn waits_for_a_brief_holder_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        std::fs::write(&path, b"old").unwrap();
        let held = FileLock::acquire(&path).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| FileLock::acquire(&path).map(|lock| lock.write(b"new")));
            std::thread::sleep(Duration::from_millis(30));
            drop(held);
            waiter.join().unwrap().unwrap().unwrap();
        });
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let leftovers: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 2, "only the file and its .lock: {leftovers:?}");
    }

    #[test]
    fn a_missing_directory_is_a_permanent_error() {
        let err = FileLock::acquire("/nonexistent-dir-sqlretry/f").unwrap_err();
        assert_eq!(err.attempts(), 1);
        assert_eq!(err.inner().kind(), io::ErrorKind::NotFound);
    }
}
