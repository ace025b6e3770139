//! [`StateStore`]: a key → value state store, every write through a [`Store`].

use std::path::Path;

use rusqlite::OptionalExtension;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::profile::OpenError;
use super::store::{Store, StoreOptions};
use super::write_error::WriteError;
use crate::error::RetryError;
use crate::policy::RetryPolicy;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sqlretry_state (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT (unixepoch())
)";

/// A key → value store (bytes, or JSON through serde) in one SQLite file.
///
/// Many instances may share one file — one per worker thread or process, each with its own
/// connection (a worker pool's): every write is a whole `BEGIN IMMEDIATE` transaction
/// through a [`Store`], retried under the state-store policy ([`RetryPolicy::state_store`] by
/// default, or any policy, e.g. one read from the configuration file). Threads of one process may
/// also share one instance (it is `Clone` and `Sync`), which spares them SQLite's lock altogether.
///
/// # Examples
///
/// ```
/// use sqlretry::sqlite::StateStore;
///
/// let dir = tempfile::tempdir()?;
/// let state = StateStore::open(dir.path().join("state.db"))?;
/// state.save("agent-1", b"bytes")?;
/// state.save_json("agent-2", &serde_json::json!({"turn": 3}))?;
/// assert_eq!(state.load("agent-1")?, Some(b"bytes".to_vec()));
/// assert_eq!(state.load_json::<serde_json::Value>("agent-2")?.unwrap()["turn"], 3);
/// assert_eq!(state.list()?, vec!["agent-1", "agent-2"]);
/// assert!(state.delete("agent-1")?);
/// assert_eq!(state.clear()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StateStore {
    store: Store,
}

/// A state-store operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file could not be opened as the profile asks (opening a state store).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A read was refused, after the read policy's retries; the original error is inside.
    #[error("state store: {0}")]
    Sqlite(#[from] RetryError<rusqlite::Error>),
    /// A write did not commit (creating the table when opening included); the original error
    /// is inside.
    #[error("state store: {0}")]
    Write(#[from] WriteError),
    /// A value could not be encoded or decoded as JSON.
    #[error("state store: the value of key {key:?} is not valid JSON for this type: {source}")]
    Json {
        /// The key.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

impl StateStore {
    /// Opens (creating the file and table if needed) with the default profile and
    /// [`RetryPolicy::state_store`].
    ///
    /// # Errors
    ///
    /// [`OpenError`] naming the file (see [`ConnectionProfile::open`](super::ConnectionProfile::open));
    /// creating the table is a write and may fail as one.
    pub fn open(path: impl AsRef<Path>) -> Result<StateStore, StateError> {
        StateStore::open_with(path, StoreOptions::default().with_write_policy(RetryPolicy::state_store()))
    }

    /// Opens with the store `options` (its profile, write and read policies), as
    /// [`Store::open_with`].
    ///
    /// # Errors
    ///
    /// As [`StateStore::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::RetryPolicy;
    /// use sqlretry::sqlite::{StateStore, StoreOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let options = StoreOptions::default().with_write_policy(RetryPolicy::store_writes());
    /// let state = StateStore::open_with(dir.path().join("state.db"), options)?;
    /// state.save("k", b"v")?;
    /// assert_eq!(state.load("k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<StateStore, StateError> {
        StateStore::from_store(Store::open_with(path, options)?)
    }

    /// A state store on an open [`Store`] (its options and policies apply).
    ///
    /// # Errors
    ///
    /// Creating the table is a write and may fail as one.
    pub fn from_store(store: Store) -> Result<StateStore, StateError> {
        store.write(|tx| tx.execute_batch(SCHEMA))?;
        Ok(StateStore { store })
    }

    /// The underlying store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Saves `value` under `key`, replacing what was there.
    ///
    /// # Errors
    ///
    /// [`StateError::Write`] once the policy ran out or for a permanent error.
    pub fn save(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.store.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO sqlretry_state (key, value, updated_at) VALUES (?1, ?2, unixepoch())
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![key, value])
        })?;
        Ok(())
    }

    /// Saves `value` as JSON under `key`.
    ///
    /// # Errors
    ///
    /// [`StateError::Json`] if `value` cannot be serialized; otherwise as [`StateStore::save`].
    pub fn save_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let bytes =
            serde_json::to_vec(value).map_err(|source| StateError::Json { key: key.to_owned(), source })?;
        self.save(key, &bytes)
    }

    /// The value under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] once the read policy ran out or for a permanent error.
    pub fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.store.read(|conn| {
            conn.prepare_cached("SELECT value FROM sqlretry_state WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })?)
    }

    /// The value under `key` decoded from JSON, if any.
    ///
    /// # Errors
    ///
    /// [`StateError::Json`] if the stored value is not `T` in JSON; otherwise as [`StateStore::load`].
    pub fn load_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        self.load(key)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(|source| StateError::Json { key: key.to_owned(), source })
    }

    /// Deletes `key`; `true` if it was there.
    ///
    /// # Errors
    ///
    /// As [`StateStore::save`].
    pub fn delete(&self, key: &str) -> Result<bool, StateError> {
        let n = self.store.write(|tx| tx.execute("DELETE FROM sqlretry_state WHERE key = ?1", [key]))?;
        Ok(n > 0)
    }

    /// Deletes every key; returns how many there were.
    ///
    /// # Errors
    ///
    /// As [`StateStore::save`].
    pub fn clear(&self) -> Result<u64, StateError> {
        let n = self.store.write(|tx| tx.execute("DELETE FROM sqlretry_state", []))?;
        Ok(n as u64)
    }

    /// Every key, sorted.
    ///
    /// # Errors
    ///
    /// As [`StateStore::load`].
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        Ok(self.store.read(|conn| {
            conn.prepare_cached("SELECT key FROM sqlretry_state ORDER BY key")?
                .query_map([], |r| r.get(0))?
                .collect()
        })?)
    }
}
