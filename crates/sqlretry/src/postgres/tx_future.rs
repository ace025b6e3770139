//! [`TxFuture`]: the future a write's body returns.

use std::future::Future;
use std::pin::Pin;

/// The future a write's body returns: borrows the transaction, yields the value or the first
/// PostgreSQL error (use `?` on every statement). Write it as `|tx| Box::pin(async move { … })`.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 't>>;
