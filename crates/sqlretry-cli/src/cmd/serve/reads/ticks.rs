//! `GET /api/ticks?symbol=&from=&to=&limit=&cursor=&format=`: one page of a symbol's ticks in
//! time order, as JSON, NDJSON or CSV (by `format=` or `Accept`), streamed from a read
//! transaction as it is read.
//!
//! Pages follow `(ts, rowid)`: ticks sharing a timestamp are ordered by arrival, and a cursor names
//! the last tick of its page, so the next page starts right after it — none skipped, none twice.
//! The next cursor comes in the `X-Next-Cursor` header (every format) and, in JSON, as
//! `next_cursor`; it is absent on the last page. It is found before the page is sent, in the same
//! read transaction (one snapshot), so header and body agree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use rusqlite::types::ValueRef;
use tokio::sync::{mpsc, oneshot};

use super::super::routes::bad_request;
use super::params::{self, Cursor, Format};
use super::pool::{Lease, ReadError};
use super::{ReadState, failed};

/// How long a page may take to reach a slow client before the read gives up (it holds a read
/// connection and a snapshot meanwhile).
const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// Rows per streamed chunk.
const CHUNK_ROWS: usize = 256;

/// What one page asks for.
struct Page {
    symbol: String,
    from: i64,
    to: i64,
    after: Option<Cursor>,
    limit: usize,
    format: Format,
    columns: Vec<String>,
}

/// One page of ticks.
pub async fn get(State(state): State<Arc<ReadState>>, uri: Uri, headers: HeaderMap) -> Response {
    let asked = (|| {
        let p = params::parse_query(uri.query())?;
        let symbol = params::required(&p, "symbol")?.to_owned();
        let (from, to) = params::range(&p, state.unit)?;
        let after = Cursor::parse(&p)?;
        let limit = params::limit(&p, state.default_limit, state.max_limit)?;
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let format = Format::choose(&p, accept)?;
        let columns = state.model.columns.iter().map(|c| c.name.clone()).collect();
        Ok(Page { symbol, from, to, after, limit, format, columns })
    })();
    let page = match asked {
        Ok(page) => page,
        Err(bad) => return bad_request(&bad),
    };
    let lease = match state.pool.lease().await {
        Ok(lease) => lease,
        Err(e) => return failed(&e),
    };
    let format = page.format;
    let (head_tx, head_rx) = oneshot::channel();
    let (chunks, body) = mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || stream(&lease, &page, head_tx, &chunks));
    let next = match head_rx.await {
        Ok(Ok(next)) => next,
        Ok(Err(e)) => return failed(&e),
        Err(_) => return failed(&ReadError::Busy),
    };
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), body))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Some(next) = next.and_then(|c| HeaderValue::from_str(&c.text()).ok()) {
        headers.insert("x-next-cursor", next);
    }
    response
}

/// The page's `WHERE`: the symbol, the range, and after the cursor.
const WHERE: &str = "symbol = ?1 AND ts >= ?2 AND ts < ?3 AND (ts > ?4 OR (ts = ?4 AND rowid > ?5))";

/// Runs the page in one read transaction: finds the next cursor, answers `head`, then sends the
/// rows in chunks until done, the client went away or `SEND_DEADLINE` passed.
fn stream(
    lease: &Lease,
    page: &Page,
    head: oneshot::Sender<Result<Option<Cursor>, ReadError>>,
    chunks: &mpsc::Sender<Bytes>,
) {
    let Some(conn) = lease.conn() else {
        let _ = head.send(Err(ReadError::Busy));
        return;
    };
    let after = page.after.unwrap_or(Cursor { ts: i64::MIN, rowid: i64::MIN });
    let lower = page.from.max(after.ts);
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let args = rusqlite::params![page.symbol, lower, page.to, after.ts, after.rowid];
    let tx = match conn.unchecked_transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let _ = head.send(Err(ReadError::Sqlite(e)));
            return;
        }
    };
    // The page's last tick, if one more follows it.
    let next = (|| {
        let sql = format!("SELECT ts, rowid FROM ticks WHERE {WHERE} ORDER BY ts, rowid LIMIT 2 OFFSET ?6");
        let mut stmt = tx.prepare_cached(&sql)?;
        let found: Vec<Cursor> = stmt
            .query_map(
                rusqlite::params![page.symbol, lower, page.to, after.ts, after.rowid, limit - 1],
                |r| Ok(Cursor { ts: r.get(0)?, rowid: r.get(1)? }),
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok::<_, rusqlite::Error>((found.len() == 2).then(|| found[0]))
    })();
    let next = match next {
        Ok(next) => next,
        Err(e) => {
            let _ = head.send(Err(ReadError::Sqlite(e)));
            return;
        }
    };
    if head.send(Ok(next)).is_err() {
        return;
    }
    let deadline = Instant::now() + SEND_DEADLINE;
    let sql = format!(
        "SELECT symbol, ts, {} FROM ticks WHERE {WHERE} ORDER BY ts, rowid LIMIT {limit}",
        page.columns.join(", ")
    );
    let mut out = String::new();
    match page.format {
        Format::Json => out.push_str("{\"ticks\":["),
        Format::Csv => {
            out.push_str("symbol,ts");
            for c in &page.columns {
                out.push(',');
                out.push_str(c);
            }
            out.push('\n');
        }
        Format::Ndjson => {}
    }
    let sent = (|| {
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            match page.format {
                Format::Json | Format::Ndjson => {
                    if page.format == Format::Json && n > 0 {
                        out.push(',');
                    }
                    // Written field by field, in the table's column order.
                    out.push_str("{\"symbol\":");
                    out.push_str(&json_of(row.get_ref(0)?).to_string());
                    out.push_str(",\"ts\":");
                    out.push_str(&json_of(row.get_ref(1)?).to_string());
                    for (i, c) in page.columns.iter().enumerate() {
                        out.push_str(",\"");
                        out.push_str(c);
                        out.push_str("\":");
                        out.push_str(&json_of(row.get_ref(i + 2)?).to_string());
                    }
                    out.push('}');
                    if page.format == Format::Ndjson {
                        out.push('\n');
                    }
                }
                Format::Csv => {
                    for i in 0..page.columns.len() + 2 {
                        if i > 0 {
                            out.push(',');
                        }
                        csv_field(&mut out, row.get_ref(i)?);
                    }
                    out.push('\n');
                }
            }
            n += 1;
            if n % CHUNK_ROWS == 0 && !send(chunks, std::mem::take(&mut out), deadline) {
                return Ok(false);
            }
        }
        Ok::<_, rusqlite::Error>(true)
    })();
    match sent {
        Ok(true) => {
            if page.format == Format::Json {
                let cursor = next.map_or("null".to_owned(), |c| format!("\"{}\"", c.text()));
                out.push_str(&format!("],\"next_cursor\":{cursor}}}"));
            }
            send(chunks, out, deadline);
        }
        Ok(false) => tracing::debug!(symbol = %page.symbol, "a page's client went away or was too slow"),
        // The header is sent: the body ends short, which the client sees as a truncated answer.
        Err(e) => {
            tracing::error!(error = %e, symbol = %page.symbol, "a page of ticks failed while streaming")
        }
    }
}

/// Hands a chunk to the response body, waiting while the client is slow, until `deadline`.
fn send(chunks: &mpsc::Sender<Bytes>, chunk: String, deadline: Instant) -> bool {
    let mut chunk = Bytes::from(chunk);
    loop {
        match chunks.try_send(chunk) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return false;
                }
                chunk = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn json_of(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>().into(),
    }
}

/// One CSV field (RFC 4180: quoted when it holds a comma, a quote or a line break).
fn csv_field(out: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => {}
        ValueRef::Integer(i) => out.push_str(&i.to_string()),
        ValueRef::Real(x) => out.push_str(&x.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let text = String::from_utf8_lossy(t);
            if text.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&text.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(&text);
            }
        }
    }
}
