//! The dead-letter store: ingest batches that exhausted their retries, kept durably beside the
//! database so that nothing is dropped, and replayable.
//!
//! Length: the store, its self-describing format and replay belong together (the format is what
//! replay reads); a fifth of the file is its unit tests.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::error::WriterError;
use super::row::{Row, insert_values};
use crate::group_commit::GroupCommit;
use crate::sqlite::write_error::WriteError;

/// One dead-lettered batch: self-describing, so it can be written back by code that does not know
/// the Rust row type ([`Writer::replay_all`](super::Writer::replay_all), `sqlretry dead-letters
/// replay`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its id in the store (never reused).
    pub id: i64,
    /// The row type's [`Row::TYPE_NAME`].
    pub row_type: String,
    /// The row type's [`Row::INSERT_SQL`]: the statement each row is
    /// written back with.
    pub insert_sql: String,
    /// How many rows the batch holds.
    pub rows: u64,
    /// The rows: a JSON array with one array of SQL values per row, in parameter order (see
    /// [`DeadLetterStore`] for the encoding); decoded by [`values`](DeadLetter::values).
    pub payload: String,
    /// The error that made the batch give up.
    pub error: String,
    /// When (RFC 3339, UTC).
    pub failed_at: String,
}

impl DeadLetter {
    /// The rows' parameter values, decoded from [`payload`](DeadLetter::payload).
    ///
    /// # Errors
    ///
    /// [`WriterError::Payload`] if the payload is not valid JSON, [`WriterError::Refused`] if it
    /// is not an array of arrays of encoded SQL values.
    pub fn values(&self) -> Result<Vec<Vec<Value>>, WriterError> {
        let json: serde_json::Value = serde_json::from_str(&self.payload)?;
        decode_rows(&json).map_err(|reason| WriterError::Refused { id: self.id, reason })
    }

    /// Checks that [`insert_sql`](DeadLetter::insert_sql) is an `INSERT` (case-insensitive,
    /// leading white space ignored): replay executes nothing else.
    ///
    /// # Errors
    ///
    /// [`WriterError::Refused`] naming the statement.
    pub fn check_insert(&self) -> Result<(), WriterError> {
        let sql = self.insert_sql.trim_start();
        if sql.get(..6).is_some_and(|head| head.eq_ignore_ascii_case("INSERT")) {
            Ok(())
        } else {
            Err(WriterError::Refused {
                id: self.id,
                reason: format!("its SQL is not an INSERT statement: {:?}", self.insert_sql),
            })
        }
    }
}

/// A durable store of dead-lettered batches: a separate SQLite file (by default
/// `<db>.deadletter.sqlite`), rollback journal with `synchronous=FULL`, so an appended batch is on
/// disk when [`append`](DeadLetterStore::append) returns.
///
/// Each batch keeps its row type's name, its `INSERT` statement and its rows, so it can be written
/// back without the Rust type. The rows are stored as JSON (the `payload` column): an array with
/// one array per row holding the statement's parameters in order, each SQL value encoded as
///
/// | SQL value | JSON |
/// |-----------|------|
/// | `NULL`    | `null` |
/// | integer   | an integer number (`42`) |
/// | real      | a number with a fraction or exponent (`1.5`, `2.0`, `1e300`); `±∞` as `{"real": "inf"}` / `{"real": "-inf"}` |
/// | text      | a string |
/// | blob      | `{"blob": "<lowercase hex>"}` |
///
/// Reals round-trip exactly (shortest representation, parsed correctly rounded).
///
/// # Examples
///
/// ```
/// use rusqlite::types::Value;
/// use sqlretry::writer::DeadLetterStore;
///
/// let dir = tempfile::tempdir()?;
/// let path = DeadLetterStore::path_beside(dir.path().join("ticks.db"));
/// assert!(path.ends_with("ticks.db.deadletter.sqlite"));
/// let mut store = DeadLetterStore::open(&path)?;
/// let sql = "INSERT OR IGNORE INTO ticks (symbol, ts_ms, bid) VALUES (?1, ?2, ?3)";
/// let rows = vec![vec![Value::Text("EURUSD".into()), Value::Integer(1), Value::Real(1.25)]];
/// let id = store.append("tick", sql, &rows, "database is locked")?;
/// let letter = &store.list(None)?[0];
/// assert_eq!((letter.id, letter.rows, letter.payload.as_str()), (id, 1, r#"[["EURUSD",1,1.25]]"#));
/// assert_eq!(letter.values()?, rows);
/// assert_eq!(store.rows(Some("tick"))?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeadLetterStore {
    conn: Connection,
    path: PathBuf,
}

impl DeadLetterStore {
    /// The dead-letter file beside database `db`: `<db>.deadletter.sqlite`.
    #[must_use]
    pub fn path_beside(db: impl AsRef<Path>) -> PathBuf {
        let mut name = db.as_ref().as_os_str().to_owned();
        name.push(".deadletter.sqlite");
        PathBuf::from(name)
    }

    /// Opens (creating if needed) the store beside database `db` ([`path_beside`](Self::path_beside)),
    /// giving a new file the database's permission bits (never wider: an existing wider file is
    /// narrowed to them).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); [`WriterError::DeadLetterIo`] if the file cannot be created.
    pub fn open_beside(db: impl AsRef<Path>) -> Result<Self, WriterError> {
        let db = db.as_ref();
        let path = Self::path_beside(db);
        crate::sqlite::permissions::create_beside(db, &path)
            .map_err(|source| WriterError::DeadLetterIo { path: path.clone(), source })?;
        Self::open(path)
    }

    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`WriterError::Sqlite`] if the file cannot be opened, configured or given its table;
    /// [`WriterError::DeadLetterSchema`] if it holds a `dead_letters` table without the columns
    /// this version needs (a file written by an older version).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WriterError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dead_letters (
                 id         INTEGER PRIMARY KEY AUTOINCREMENT,
                 row_type   TEXT    NOT NULL,
                 insert_sql TEXT    NOT NULL,
                 rows       INTEGER NOT NULL,
                 payload    TEXT    NOT NULL,
                 error      TEXT    NOT NULL,
                 failed_at  TEXT    NOT NULL
             );
             CREATE INDEX IF NOT EXISTS dead_letters_by_type ON dead_letters (row_type, id);",
        )?;
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('dead_letters')")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let missing: Vec<&str> = ["id", "row_type", "insert_sql", "rows", "payload", "error", "failed_at"]
            .into_iter()
            .filter(|want| !columns.iter().any(|c| c == want))
            .collect();
        if !missing.is_empty() {
            return Err(WriterError::DeadLetterSchema {
                path,
                message: format!(
                    "table dead_letters lacks column(s) {} (written by an older version?)",
                    missing.join(", ")
                ),
            });
        }
        Ok(DeadLetterStore { conn, path })
    }

    /// The store's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch — `rows` are the parameter values of `insert_sql`, one `Vec` per row —
    /// and returns its id; durable (fsynced) when this returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`WriterError::Sqlite`] if the batch could not be stored.
    pub fn append(
        &mut self,
        row_type: &str,
        insert_sql: &str,
        rows: &[Vec<Value>],
        error: &str,
    ) -> Result<i64, WriterError> {
        let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let payload = encode_rows(rows);
        let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT INTO dead_letters (row_type, insert_sql, rows, payload, error, failed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![row_type, insert_sql, n, payload, error, at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends `rows` of a [`Row`] type as one batch (its name, its statement, its values).
    ///
    /// # Errors
    ///
    /// As [`append`](DeadLetterStore::append).
    pub fn append_rows<R: Row>(&mut self, rows: &[R], error: &str) -> Result<i64, WriterError> {
        let values: Vec<Vec<Value>> = rows.iter().map(Row::values).collect();
        self.append(R::TYPE_NAME, R::INSERT_SQL, &values, error)
    }

    /// Every batch kept, oldest first; only those of `row_type` when given.
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be read.
    pub fn list(&self, row_type: Option<&str>) -> rusqlite::Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, row_type, insert_sql, rows, payload, error, failed_at FROM dead_letters
             WHERE ?1 IS NULL OR row_type = ?1 ORDER BY id",
        )?;
        stmt.query_map([row_type], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                row_type: r.get(1)?,
                insert_sql: r.get(2)?,
                rows: r.get::<_, i64>(3)?.unsigned_abs(),
                payload: r.get(4)?,
                error: r.get(5)?,
                failed_at: r.get(6)?,
            })
        })?
        .collect()
    }

    /// How many rows are kept (of `row_type` when given).
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be read.
    pub fn rows(&self, row_type: Option<&str>) -> rusqlite::Result<u64> {
        self.conn.query_row(
            "SELECT COALESCE(SUM(rows), 0) FROM dead_letters WHERE ?1 IS NULL OR row_type = ?1",
            [row_type],
            |r| r.get::<_, i64>(0).map(i64::unsigned_abs),
        )
    }

    /// Removes the batch `id` (after its rows were written back); `true` if it was there.
    ///
    /// # Errors
    ///
    /// The SQLite error if the store cannot be written.
    pub fn remove(&mut self, id: i64) -> rusqlite::Result<bool> {
        Ok(self.conn.execute("DELETE FROM dead_letters WHERE id = ?1", [id])? == 1)
    }
}

/// A dead letter that replay did not write back and left in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RefusedLetter {
    /// Its id in the store.
    pub id: i64,
    /// Its row type.
    pub row_type: String,
    /// How many rows it holds.
    pub rows: u64,
    /// Why it was refused (not an `INSERT`, an unreadable payload, an error of its own insert).
    pub reason: String,
}

/// What a replay ([`Writer::replay_all`](super::Writer::replay_all),
/// [`Writer::replay`](super::Writer::replay)) wrote back, refused, and left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Dead-lettered batches written back and removed from the store.
    pub batches: u64,
    /// Rows in them.
    pub rows: u64,
    /// Batches refused and kept in the store.
    pub refused: Vec<RefusedLetter>,
    /// Batches still in the store afterwards (of the replayed row type, if one was given).
    pub batches_left: u64,
    /// Rows in them.
    pub rows_left: u64,
}

/// Writes back every dead-lettered batch (of `row_type` when given) through `writer`, one
/// transaction per batch with the batch's own `INSERT`, and removes each batch from the store only
/// after its transaction committed. A batch that cannot be replayed by itself (its SQL is not an
/// `INSERT`, its payload does not decode, its insert fails permanently) is refused and kept; the
/// others go on. A failure of the writer (the group gave up, shut down) stops the replay.
pub(crate) fn replay(
    writer: &GroupCommit,
    db: &Path,
    row_type: Option<&str>,
) -> Result<ReplayReport, WriterError> {
    let path = DeadLetterStore::path_beside(db);
    let mut report = ReplayReport::default();
    if !path.exists() {
        return Ok(report);
    }
    let mut store = DeadLetterStore::open_beside(db)?;
    for letter in store.list(row_type)? {
        let refuse = |reason: String| RefusedLetter {
            id: letter.id,
            row_type: letter.row_type.clone(),
            rows: letter.rows,
            reason,
        };
        let rows = match letter.check_insert().and_then(|()| letter.values()) {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(id = letter.id, %error, "dead letter refused; kept");
                report.refused.push(refuse(error.to_string()));
                continue;
            }
        };
        let sql = letter.insert_sql.clone();
        match writer.submit(move |tx| insert_values(tx, &sql, &rows), true) {
            Ok(()) => {}
            Err(WriteError::Rejected { error, .. }) => {
                tracing::warn!(id = letter.id, %error, "dead letter's insert failed; kept");
                report.refused.push(refuse(format!("its insert failed: {error}")));
                continue;
            }
            Err(error) => return Err(error.into()),
        }
        if store.remove(letter.id)? {
            report.batches += 1;
            report.rows += letter.rows;
            writer.engine.metrics.replayed(letter.rows);
        }
    }
    report.batches_left = u64::try_from(store.list(row_type)?.len()).unwrap_or(u64::MAX);
    report.rows_left = store.rows(row_type)?;
    Ok(report)
}

/// Encodes rows of SQL values as the payload's JSON (see [`DeadLetterStore`]).
pub(crate) fn encode_rows(rows: &[Vec<Value>]) -> String {
    let json: Vec<serde_json::Value> =
        rows.iter().map(|row| serde_json::Value::Array(row.iter().map(encode_value).collect())).collect();
    serde_json::Value::Array(json).to_string()
}

fn encode_value(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Integer(i) => J::from(*i),
        // NaN is stored by SQLite as NULL.
        Value::Real(r) if r.is_nan() => J::Null,
        Value::Real(r) if r.is_infinite() => {
            serde_json::json!({ "real": if *r > 0.0 { "inf" } else { "-inf" } })
        }
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(J::Null, J::Number),
        Value::Text(t) => J::String(t.clone()),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            serde_json::json!({ "blob": hex })
        }
    }
}

fn decode_rows(json: &serde_json::Value) -> Result<Vec<Vec<Value>>, String> {
    let rows = json.as_array().ok_or("its payload is not a JSON array of rows")?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            row.as_array()
                .ok_or_else(|| format!("row {i} of its payload is not an array of values"))?
                .iter()
                .map(|v| decode_value(v).map_err(|e| format!("row {i} of its payload: {e}")))
                .collect()
        })
        .collect()
}

fn decode_value(json: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match json {
        J::Null => Value::Null,
        J::Number(n) if n.is_f64() => Value::Real(n.as_f64().ok_or("a number out of range")?),
        J::Number(n) => Value::Integer(n.as_i64().ok_or_else(|| format!("integer {n} out of range"))?),
        J::String(s) => Value::Text(s.clone()),
        J::Object(o) if o.len() == 1 => match (o.get("blob"), o.get("real")) {
            (Some(J::String(hex)), _) => Value::Blob(decode_hex(hex)?),
            (_, Some(J::String(r))) if r == "inf" => Value::Real(f64::INFINITY),
            (_, Some(J::String(r))) if r == "-inf" => Value::Real(f64::NEG_INFINITY),
            _ => return Err(format!("unknown value {json}")),
        },
        other => return Err(format!("unknown value {other}")),
    })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err("a blob's hex has an odd length".to_owned());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("a blob's hex is not hex at {i}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "INSERT OR IGNORE INTO t (a) VALUES (?1)";

    fn one(v: i64) -> Vec<Vec<Value>> {
        vec![vec![Value::Integer(v)]]
    }

    #[test]
    fn append_list_and_remove_exactly_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = DeadLetterStore::open(DeadLetterStore::path_beside(dir.path().join("x.db"))).unwrap();
        let a =
            store.append("tick", SQL, &[vec![Value::Integer(1)], vec![Value::Integer(2)]], "busy").unwrap();
        let b = store.append("other", SQL, &one(3), "busy").unwrap();
        assert_eq!((store.rows(None).unwrap(), store.rows(Some("tick")).unwrap()), (3, 2));
        assert!(store.remove(a).unwrap());
        assert!(!store.remove(a).unwrap());
        let left = store.list(None).unwrap();
        assert_eq!(left.iter().map(|d| d.id).collect::<Vec<_>>(), vec![b]);
        assert_eq!(left[0].insert_sql, SQL);
        // Ids are never reused after a removal.
        assert!(store.append("tick", SQL, &one(4), "busy").unwrap() > b);
        let sync: i64 = store.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2); // FULL
    }

    #[test]
    fn every_sql_value_round_trips_exactly() {
        let row = vec![
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Real(2.0),
            Value::Real(0.1 + 0.2),
            Value::Real(-1.234_567_890_123_456_7e-300),
            Value::Real(f64::MAX),
            Value::Real(f64::MIN_POSITIVE),
            Value::Real(f64::INFINITY),
            Value::Real(f64::NEG_INFINITY),
            Value::Text("héllo \"world\"\n".into()),
            Value::Text(String::new()),
            Value::Blob(vec![0, 1, 0xab, 0xff]),
            Value::Blob(Vec::new()),
        ];
        let payload = encode_rows(std::slice::from_ref(&row));
        assert!(payload.contains(r#"{"blob":"0001abff"}"#), "{payload}");
        assert!(payload.contains("2.0"), "{payload}");
        let decoded = decode_rows(&serde_json::from_str(&payload).unwrap()).unwrap();
        assert_eq!(decoded, vec![row]);
        for bad in ["{}", "[1]", r#"[[{"blob":"0g"}]]"#, r#"[[{"blob":"abc"}]]"#, r#"[[{"x":1}]]"#, "[[[1]]]"]
        {
            assert!(decode_rows(&serde_json::from_str(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_insert_statements_are_replayable() {
        let letter = |sql: &str| DeadLetter {
            id: 1,
            row_type: "t".into(),
            insert_sql: sql.into(),
            rows: 0,
            payload: "[]".into(),
            error: String::new(),
            failed_at: String::new(),
        };
        assert!(letter("  insert or ignore into t values (1)").check_insert().is_ok());
        for sql in ["DELETE FROM t", "", "INSER", "REPLACE INTO t VALUES (1)", "  drop table t"] {
            let err = letter(sql).check_insert().unwrap_err();
            assert!(err.to_string().contains("not an INSERT"), "{err}");
        }
    }

    #[test]
    fn a_file_without_the_insert_sql_column_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.deadletter.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, row_type TEXT NOT NULL,
                 rows INTEGER NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, failed_at TEXT NOT NULL)",
            )
            .unwrap();
        let err = DeadLetterStore::open(&path).unwrap_err();
        assert!(matches!(err, WriterError::DeadLetterSchema { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("insert_sql") && text.contains("old.deadletter.sqlite"), "{text}");
    }
}
