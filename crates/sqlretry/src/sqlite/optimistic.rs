//! A version-checked write after slow work (a parser worker, say): read an entry with its
//! version, do the slow work outside any transaction, then write in a short transaction only if the
//! version is unchanged.

use rusqlite::Connection;

use super::store::Store;
use super::write_error::WriteError;

/// What an optimistic write did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome<T> {
    /// The version was unchanged: the write ran and committed, returning this value.
    Written(T),
    /// Nothing was written (a warning was logged).
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

impl<T> Outcome<T> {
    /// `true` for [`Outcome::Written`].
    #[must_use]
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written(_))
    }
}

/// Why an optimistic write was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The entry was changed after it was read.
    Changed {
        /// The version that was read before the slow work.
        expected: i64,
        /// The version found at write time.
        found: i64,
    },
    /// The entry was deleted after it was read.
    Deleted,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Changed { expected, found } => {
                write!(f, "the entry changed meanwhile (version {expected} became {found})")
            }
            SkipReason::Deleted => f.write_str("the entry was deleted meanwhile"),
        }
    }
}

impl Store {
    /// Writes only if an entry's version is still `expected`, in one short `BEGIN IMMEDIATE`
    /// transaction (retried whole like [`Store::write`]): `version` reads the entry's current
    /// version (`None` when it is gone); when it equals `expected`, `apply` runs and commits.
    /// Otherwise nothing is written, a warning is logged, and [`Outcome::Skipped`] says why: a
    /// change or a deletion between the read and the write is not an error.
    ///
    /// Do the slow work (a network or LLM call) *before* calling this, outside any transaction.
    ///
    /// # Errors
    ///
    /// As [`Store::write`], for a database error.
    ///
    /// # Examples
    ///
    /// ```
    /// use rusqlite::OptionalExtension;
    /// use sqlretry::sqlite::{Outcome, SkipReason, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("entries.db"))?;
    /// store.write(|tx| tx.execute_batch(
    ///     "CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT, parsed TEXT, version INTEGER NOT NULL);
    ///      INSERT INTO entries VALUES (1, 'raw text', NULL, 1);"))?;
    ///
    /// // 1. Read the entry and its version.
    /// let (body, version): (String, i64) = store.read(|c| {
    ///     c.query_row("SELECT body, version FROM entries WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
    /// })?;
    /// // 2. The slow work, outside any transaction.
    /// let parsed = body.to_uppercase();
    /// // 3. Write only if nobody changed the entry meanwhile.
    /// let current = |tx: &rusqlite::Connection| {
    ///     tx.query_row("SELECT version FROM entries WHERE id = 1", [], |r| r.get(0)).optional()
    /// };
    /// let outcome = store.write_if_version(version, current, |tx| {
    ///     tx.execute("UPDATE entries SET parsed = ?1, version = version + 1 WHERE id = 1", [&parsed])
    /// })?;
    /// assert_eq!(outcome, Outcome::Written(1));
    ///
    /// // The same write again now finds version 2: skipped, not an error.
    /// let again = store.write_if_version(version, current, |tx| tx.execute("DELETE FROM entries", []))?;
    /// assert_eq!(again, Outcome::Skipped { reason: SkipReason::Changed { expected: 1, found: 2 } });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_if_version<T, V, A>(
        &self,
        expected: i64,
        mut version: V,
        mut apply: A,
    ) -> Result<Outcome<T>, WriteError>
    where
        V: FnMut(&Connection) -> rusqlite::Result<Option<i64>>,
        A: FnMut(&Connection) -> rusqlite::Result<T>,
    {
        let outcome = self.write(|tx| {
            Ok(match version(tx)? {
                None => Outcome::Skipped { reason: SkipReason::Deleted },
                Some(found) if found != expected => {
                    Outcome::Skipped { reason: SkipReason::Changed { expected, found } }
                }
                Some(_) => Outcome::Written(apply(tx)?),
            })
        })?;
        if let Outcome::Skipped { reason } = &outcome {
            tracing::warn!(store = %self.path().display(), %reason, "optimistic write skipped");
        }
        Ok(outcome)
    }
}
