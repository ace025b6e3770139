//! One load connection: sends `rate` ticks/s for `duration` in messages of `batch` ticks, paced
//! by the runtime's timer; keeps every unacknowledged message and resends them all after a
//! reconnect; records ack latency from the first send.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use crate::args::TickKind;

/// What one connection is to send.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `ws://host:port/ws/ticks`.
    pub url: String,
    /// The connection's symbol.
    pub symbol: String,
    /// The first tick's timestamp in milliseconds; tick `i` has `base + i`.
    pub base: i64,
    /// Quotes (the server's default model) or trades.
    pub kind: TickKind,
    /// This run's tag, unique per run: stored in the tick (`lp_source` or `side`) so that
    /// verification finds this run's ticks only; with the connection's number it is each tick's
    /// `source`, which with `seq` identifies it — a resend after a reconnect is a duplicate.
    pub tag: String,
    /// The connection's number.
    pub number: usize,
    /// Ticks per second.
    pub rate: u64,
    /// Ticks per message.
    pub batch: usize,
    /// Ticks to send in all.
    pub total: u64,
    /// When to give up waiting for acknowledgements.
    pub deadline: Instant,
    /// Trust for `wss://`.
    pub tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    /// Sent as `Authorization: Bearer` on the upgrade.
    pub token: Option<String>,
}

/// What one connection saw.
#[derive(Debug)]
pub struct ConnResult {
    /// The connection's symbol.
    pub symbol: String,
    /// The run's tag its ticks carry.
    pub tag: String,
    /// Ticks sent (first sends).
    pub sent: u64,
    /// Ticks acknowledged.
    pub acked: u64,
    /// Acknowledged ticks that were new rows.
    pub new: u64,
    /// Acknowledged ticks that were already stored (resends of committed messages).
    pub duplicates: u64,
    /// Ticks sent again after a reconnect or an error frame.
    pub resent: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Error frames received.
    pub errors: u64,
    /// Timestamps of acknowledged ticks.
    pub acked_timestamps: Vec<i64>,
    /// Ticks never acknowledged by the deadline.
    pub unacked: u64,
    /// Ack latency, µs.
    pub latency: Histogram<u64>,
}

struct InFlight {
    first_sent: Instant,
    first: u64,
    count: u64,
    text: String,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(plan: &Plan) -> Option<Socket> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (url, deadline) = (plan.url.as_str(), plan.deadline);
    let mut wait = Duration::from_millis(50);
    while Instant::now() < deadline {
        let mut request = match url.into_client_request() {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(url, error = %e, "not a WebSocket URL");
                return None;
            }
        };
        if let Some(token) = &plan.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.headers_mut().insert("authorization", value);
        }
        let connector = plan.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        let attempt = tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector);
        match tokio::time::timeout_at(deadline.into(), attempt).await {
            Ok(Ok((socket, _))) => return Some(socket),
            Ok(Err(e)) => tracing::debug!(url, error = %e, "connect failed; retrying"),
            Err(_) => return None,
        }
        tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
    None
}

fn message(plan: &Plan, first: u64, count: u64) -> String {
    use std::fmt::Write as _;
    // Written directly (not through serde_json::Value): the generator shares the cores with the
    // server, and building a Value per tick cost it more than the server spent on the tick.
    let mut text = String::with_capacity(usize::try_from(count).unwrap_or(0) * 96 + 2);
    text.push('[');
    for i in first..first + count {
        if i > first {
            text.push(',');
        }
        let (symbol, ts, tag, n) = (&plan.symbol, plan.base + i as i64, &plan.tag, plan.number);
        let price = 1.0 + (i % 1000) as f64 / 1e4;
        let _ = match plan.kind {
            TickKind::Quote => write!(
                text,
                r#"{{"symbol":"{symbol}","timestamp":{ts},"bid":{price},"ask":{},"lp_source":"{tag}","source":"{tag}-{n}","seq":{i}}}"#,
                price + 0.0002,
            ),
            TickKind::Trade => write!(
                text,
                r#"{{"symbol":"{symbol}","timestamp":{ts},"price":{price},"volume":{},"side":"{tag}","source":"{tag}-{n}","seq":{i}}}"#,
                i % 10,
            ),
        };
    }
    text.push(']');
    text
}

/// Runs one connection to completion (all acknowledged) or to the plan's deadline.
pub async fn run(plan: Plan, progress: Arc<AtomicU64>) -> ConnResult {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid bounds");
    latency.auto(true);
    let mut r = ConnResult {
        symbol: plan.symbol.clone(),
        tag: plan.tag.clone(),
        sent: 0,
        acked: 0,
        new: 0,
        duplicates: 0,
        resent: 0,
        reconnects: 0,
        errors: 0,
        acked_timestamps: Vec::with_capacity(usize::try_from(plan.total).unwrap_or(0)),
        unacked: 0,
        latency,
    };
    let per_message = Duration::from_secs_f64(plan.batch as f64 / plan.rate.max(1) as f64);
    let mut pace = tokio::time::interval(per_message);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight: BTreeMap<u64, InFlight> = BTreeMap::new();
    let mut next = 0_u64;
    let mut socket = connect(&plan).await;
    while Instant::now() < plan.deadline && (next < plan.total || !in_flight.is_empty()) {
        let Some(ws) = socket.as_mut() else {
            socket = connect(&plan).await;
            if socket.is_none() {
                break;
            }
            r.reconnects += 1;
            let mut resend_failed = false;
            if let Some(ws) = socket.as_mut() {
                for m in in_flight.values() {
                    r.resent += m.count;
                    if ws.send(Message::text(m.text.clone())).await.is_err() {
                        resend_failed = true;
                        break;
                    }
                }
            }
            if resend_failed {
                socket = None;
            }
            continue;
        };
        let more = next < plan.total;
        let broken = tokio::select! {
            _ = pace.tick(), if more => {
                let count = (plan.batch as u64).min(plan.total - next);
                let text = message(&plan, next, count);
                let last = next + count - 1;
                in_flight.insert(last, InFlight { first_sent: Instant::now(), first: next, count, text: text.clone() });
                next += count;
                r.sent += count;
                ws.send(Message::text(text)).await.is_err()
            }
            frame = tokio::time::timeout_at(plan.deadline.into(), ws.next()) => match frame {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let resend = on_frame(text.as_str(), &mut in_flight, &mut r, &plan, &progress);
                    match resend {
                        Some(text) => ws.send(Message::text(text)).await.is_err(),
                        None => false,
                    }
                }
                Ok(Some(Ok(_))) => false,
                Ok(Some(Err(_)) | None) | Err(_) => true,
            },
        };
        if broken {
            socket = None;
        }
    }
    if let Some(mut ws) = socket {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    r.unacked = in_flight.values().map(|m| m.count).sum::<u64>() + (plan.total - next);
    r
}

/// Handles an ack or error frame; returns a message to resend (after a 503 error frame).
fn on_frame(
    text: &str,
    in_flight: &mut BTreeMap<u64, InFlight>,
    r: &mut ConnResult,
    plan: &Plan,
    progress: &AtomicU64,
) -> Option<String> {
    let frame: serde_json::Value = serde_json::from_str(text).ok()?;
    let seq = frame.get("seq").and_then(serde_json::Value::as_u64)?;
    match frame.get("type").and_then(serde_json::Value::as_str) {
        Some("ack") => {
            let m = in_flight.remove(&seq)?;
            let us = u64::try_from(m.first_sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
            let _ = r.latency.record(us);
            r.acked += m.count;
            r.new += frame.get("new").and_then(serde_json::Value::as_u64).unwrap_or(0);
            r.duplicates += frame.get("duplicates").and_then(serde_json::Value::as_u64).unwrap_or(0);
            r.acked_timestamps.extend((m.first..m.first + m.count).map(|i| plan.base + i as i64));
            progress.fetch_add(m.count, Ordering::Relaxed);
            None
        }
        _ => {
            r.errors += 1;
            let m = in_flight.get(&seq)?;
            r.resent += m.count;
            Some(m.text.clone())
        }
    }
}
