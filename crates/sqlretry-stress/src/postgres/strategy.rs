//! The PostgreSQL strategies, each a [`Strategy`] over [`Postgres`], side by side on one scratch
//! schema:
//!
//! - `read-committed`: READ COMMITTED, no retry — read-modify-write loses updates silently;
//! - `serializable`: SERIALIZABLE, no retry — the same conflicts fail with 40001;
//! - `hand-loop`: SERIALIZABLE in a typical hand-written loop around tokio-postgres (up to 10
//!   attempts, 40001/40P01 retried at once, no backoff, no deadline);
//! - `sqlretry`: the library's [`PgStore`] (whole-transaction retry, jittered backoff, the retry
//!   lane, one deadline).
//!
//! Every write is async ([`Strategy::write_async`]); the blocking [`Strategy::write`] waits for the
//! same future on the runtime the strategy was opened on.

use std::sync::Arc;

use sqlretry::postgres::PgStore;
use sqlretry::postgres::tokio_postgres::error::SqlState;
use sqlretry::postgres::tokio_postgres::{self, Client, GenericClient, Transaction};
use tokio::runtime::Handle;

use crate::strategy::{Database, OpFailure, OpOutcome, Strategy, WriteFuture};
use crate::workload::WorkloadKind;

/// Counters the `entries` workload (`hot-rows` here) spreads its increments over.
pub const HOT_ROWS: i32 = 4;

/// PostgreSQL: writes are [`PgOp`]s; a failed one ends with its SQLSTATE (or what failed instead);
/// workloads read inside their transactions, so there is no reader.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl Database for Postgres {
    type Op = PgOp;
    type Error = String;
    type Reader = ();
}

/// One operation's parameters.
#[derive(Debug, Clone, Copy)]
pub struct PgOp {
    /// What the operation writes.
    pub kind: WorkloadKind,
    /// The run's id (every row is tagged with it).
    pub run_id: i32,
    /// The writer's number.
    pub writer: i32,
    /// Index of this operation within the writer.
    pub seq: i64,
    /// `ticks`: rows per batch.
    pub batch: u32,
    /// `hot-rows`: the counter to bump.
    pub hot: i32,
}

/// The PostgreSQL strategies, in the order a run compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgStrategyKind {
    /// READ COMMITTED, no retry.
    ReadCommitted,
    /// SERIALIZABLE, no retry.
    Serializable,
    /// SERIALIZABLE in a hand-written loop: up to 10 attempts, conflicts retried at once.
    HandLoop,
    /// The library's [`PgStore`].
    Sqlretry,
}

impl PgStrategyKind {
    /// Every PostgreSQL strategy, in the order a run compares them.
    pub const ALL: [PgStrategyKind; 4] =
        [Self::ReadCommitted, Self::Serializable, Self::HandLoop, Self::Sqlretry];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReadCommitted => "read-committed",
            Self::Serializable => "serializable",
            Self::HandLoop => "hand-loop",
            Self::Sqlretry => "sqlretry",
        }
    }

    /// What one operation calls (the `api` JSON field).
    pub fn api(self) -> &'static str {
        match self {
            Self::Sqlretry => "PgStore::write",
            Self::HandLoop => "tokio-postgres, hand-written retry loop",
            Self::ReadCommitted | Self::Serializable => "tokio-postgres transaction",
        }
    }

    /// Whether the strategy is the library's own: it decides the exit code.
    pub fn is_sqlretry_family(self) -> bool {
        self == Self::Sqlretry
    }

    /// Whether the strategy writes through the library's store rather than its own client.
    pub fn uses_store(self) -> bool {
        self == Self::Sqlretry
    }
}

/// `read-committed`, `serializable`, `hand-loop`: plain tokio-postgres transactions on the
/// writer's own client.
pub struct PlainPgStrategy {
    kind: PgStrategyKind,
    client: Arc<Client>,
    runtime: Handle,
}

impl PlainPgStrategy {
    /// A writer of `kind` (not [`PgStrategyKind::Sqlretry`]) on its own `client`, whose blocking
    /// writes wait on `runtime`.
    pub fn new(kind: PgStrategyKind, client: Client, runtime: Handle) -> Self {
        PlainPgStrategy { kind, client: Arc::new(client), runtime }
    }
}

impl Strategy<Postgres> for PlainPgStrategy {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn reader(&self) -> &() {
        &()
    }

    fn write(&mut self, op: PgOp) -> Result<OpOutcome, OpFailure<String>> {
        self.runtime.block_on(plain_write(Arc::clone(&self.client), self.kind, op))
    }

    fn write_async(&self, op: PgOp) -> Result<WriteFuture<Postgres>, PgOp> {
        Ok(Box::pin(plain_write(Arc::clone(&self.client), self.kind, op)))
    }
}

/// One try (`read-committed`, `serializable`), or the usual loop without backoff (`hand-loop`).
async fn plain_write(
    client: Arc<Client>,
    kind: PgStrategyKind,
    op: PgOp,
) -> Result<OpOutcome, OpFailure<String>> {
    let begin = if kind == PgStrategyKind::ReadCommitted {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    } else {
        "BEGIN ISOLATION LEVEL SERIALIZABLE"
    };
    let attempts = if kind == PgStrategyKind::HandLoop { 10 } else { 1 };
    let mut retries = 0;
    loop {
        let result = async {
            client.batch_execute(begin).await?;
            let units = body(client.as_ref(), op).await?;
            client.batch_execute("COMMIT").await?;
            Ok::<u64, tokio_postgres::Error>(units)
        }
        .await;
        match result {
            Ok(units) => return Ok(OpOutcome { retries, units }),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                let conflict = e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED);
                if !conflict || retries + 1 >= attempts {
                    let error = e.code().map_or_else(|| "connection".to_owned(), |c| c.code().to_owned());
                    return Err(OpFailure { error, retries });
                }
                retries += 1;
            }
        }
    }
}

/// `sqlretry`: the writer's share of the library's [`PgStore`] (its pool and retry seats).
pub struct PgStoreStrategy {
    store: Arc<PgStore>,
    runtime: Handle,
}

impl PgStoreStrategy {
    /// A writer on the shared `store`, whose blocking writes wait on `runtime`.
    pub fn new(store: Arc<PgStore>, runtime: Handle) -> Self {
        PgStoreStrategy { store, runtime }
    }
}

impl Strategy<Postgres> for PgStoreStrategy {
    fn name(&self) -> &'static str {
        PgStrategyKind::Sqlretry.name()
    }

    fn reader(&self) -> &() {
        &()
    }

    fn write(&mut self, op: PgOp) -> Result<OpOutcome, OpFailure<String>> {
        self.runtime.block_on(store_write(Arc::clone(&self.store), op))
    }

    fn write_async(&self, op: PgOp) -> Result<WriteFuture<Postgres>, PgOp> {
        Ok(Box::pin(store_write(Arc::clone(&self.store), op)))
    }
}

/// One write through the store. Its retries are read from the store's counters once the run is
/// over, so each write reports none.
async fn store_write(store: Arc<PgStore>, op: PgOp) -> Result<OpOutcome, OpFailure<String>> {
    let result = store.write(|tx: &Transaction<'_>| Box::pin(async move { body(tx, op).await })).await;
    result.map(|units| OpOutcome { retries: 0, units }).map_err(|e| OpFailure {
        error: e.inner().code().map_or_else(|| "pool/connection".to_owned(), |c| c.code().to_owned()),
        retries: 0,
    })
}

/// The operation's statements; its value is the units it adds (rows, or 1 increment).
async fn body<C: GenericClient + Sync>(tx: &C, op: PgOp) -> Result<u64, tokio_postgres::Error> {
    match op.kind {
        WorkloadKind::Kv => {
            let row = tx
                .query_one(
                    "SELECT n FROM kv_counter WHERE run_id = $1 AND writer = $2",
                    &[&op.run_id, &op.writer],
                )
                .await?;
            let n: i64 = row.get(0);
            let key = format!("{}-{n}", op.writer);
            tx.execute(
                "INSERT INTO kv (run_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value",
                &[&op.run_id, &key, &format!("v{}", op.seq)],
            )
            .await?;
            tx.execute(
                "UPDATE kv_counter SET n = $3 WHERE run_id = $1 AND writer = $2",
                &[&op.run_id, &op.writer, &(n + 1)],
            )
            .await?;
            Ok(1)
        }
        WorkloadKind::Ticks => {
            let symbol = format!("S{}", op.writer);
            let first = op.seq * i64::from(op.batch);
            tx.execute(
                "INSERT INTO ticks (run_id, symbol, ts, bid) SELECT $1, $2, g, g * 0.01 FROM generate_series($3::bigint, $4::bigint) g ON CONFLICT DO NOTHING",
                &[&op.run_id, &symbol, &first, &(first + i64::from(op.batch) - 1)],
            )
            .await?;
            Ok(u64::from(op.batch))
        }
        WorkloadKind::Entries => {
            let n: i64 = tx
                .query_one("SELECT n FROM hot WHERE run_id = $1 AND id = $2", &[&op.run_id, &op.hot])
                .await?
                .get(0);
            tx.execute(
                "UPDATE hot SET n = $3 WHERE run_id = $1 AND id = $2",
                &[&op.run_id, &op.hot, &(n + 1)],
            )
            .await?;
            Ok(1)
        }
    }
}
