//! `/ws/ticks`: a client sends ticks as JSON (one tick or an array per message, each with `seq`);
//! each message is validated whole, written as one closure in the next group transaction, and
//! acknowledged after `COMMIT` with an ack frame: `{"type":"ack","seq":<last seq of the message>,
//! "ticks":n,"new":a,"duplicates":b}`. Bad input gets `{"type":"error","seq":..,"status":400,
//! "field":..}` (`seq` as the client sent it, when it can be read, else `null`) and nothing of that
//! message is written.
//!
//! Backpressure: a connection reads its next message only while it has fewer than
//! `inflight_per_connection` unacknowledged messages and the server fewer than `inflight_total`
//! — past that the socket is not read and TCP pushes back on the client. On drain the
//! connection stops reading, waits for its in-flight writes, sends their acks and closes.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::ingest::Outcome;
use super::state::AppState;
use super::stats::TickCounters;
use super::tick;

/// Upgrades to a WebSocket; messages past 4 × `max_body` end the connection, those past
/// `max_body` are refused with a 413 error frame.
pub async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let hard_limit = state.config.max_body.saturating_mul(4);
    // Selecting the protocol a browser offered beside its `bearer.<token>` (see `auth`).
    ws.max_message_size(hard_limit)
        // Small buffers: an idle connection holds them for its whole life (tungstenite's 128 KiB
        // defaults made idle connections the service's main memory cost). Messages still reach
        // max_body: the read buffer grows in chunks of this size while a message arrives.
        .read_buffer_size(super::limits::WS_READ_BUFFER)
        .write_buffer_size(0)
        .protocols([super::auth::WS_PROTOCOL])
        .on_upgrade(move |socket| connection(socket, state))
}

async fn connection(socket: WebSocket, state: Arc<AppState>) {
    let Ok(_alive) = Arc::clone(&state.connections).try_acquire_owned() else { return };
    let Some(_open) = state.open.try_open() else { return };
    let (mut sink, mut stream) = socket.split();
    let per_connection = state.config.inflight_per_connection;
    let (frames, mut outbox) = mpsc::channel::<Message>(per_connection + 8);
    let sender = tokio::spawn(async move {
        while let Some(frame) = outbox.recv().await {
            if sink.send(frame).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mine = Arc::new(Semaphore::new(per_connection));
    let mut stopping = state.stopping.clone();
    let mut writes = JoinSet::new();
    loop {
        while writes.try_join_next().is_some() {}
        let own = tokio::select! {
            permit = Arc::clone(&mine).acquire_owned() => permit,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Ok(own) = own else { break };
        let message = tokio::select! {
            m = super::ws_idle::next(&mut stream, state.ws_idle_timeout, &frames) => m,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(e) => {
                    // Refused as HTTP refuses the same bytes: replacement characters would be stored.
                    TickCounters::add(&state.ticks.counters().rejected, "sqlretry_serve_rejected_total", 1);
                    let error = format!("not UTF-8: {}", e.utf8_error());
                    let frame =
                        json!({"type": "error", "seq": null, "status": 400, "field": "body", "error": error});
                    if frames.send(Message::Text(frame.to_string().into())).await.is_err() {
                        break;
                    }
                    continue;
                }
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
        };
        if text.len() > state.config.max_body {
            TickCounters::add(&state.ticks.counters().rejected, "sqlretry_serve_rejected_total", 1);
            let error = format!("message larger than {} bytes", state.config.max_body);
            let seq = tick::client_seq(&text);
            let frame = json!({"type": "error", "seq": seq, "status": 413, "field": "body", "error": error});
            if frames.send(Message::Text(frame.to_string().into())).await.is_err() {
                break;
            }
            continue;
        }
        let ticks = match state.parser.parse_message(&text, true) {
            Ok(ticks) => ticks,
            Err(bad) => {
                TickCounters::add(&state.ticks.counters().rejected, "sqlretry_serve_rejected_total", 1);
                let seq = tick::client_seq(&text);
                let frame = json!({"type": "error", "seq": seq, "status": 400, "field": bad.field, "error": bad.error});
                if frames.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let global = tokio::select! {
            permit = Arc::clone(&state.inflight).acquire_owned() => permit,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Ok(global) = global else { break };
        let (state, frames) = (Arc::clone(&state), frames.clone());
        writes.spawn(async move {
            let seq = ticks.last().and_then(|t| t.seq);
            let n = ticks.len();
            let frame = match state.ticks.write(ticks).await {
                Outcome::Committed { new, duplicates } => {
                    json!({"type": "ack", "seq": seq, "ticks": n, "new": new, "duplicates": duplicates})
                }
                Outcome::DeadLettered(error) => {
                    json!({"type": "error", "seq": seq, "status": 503, "error": error})
                }
                Outcome::Failed(error) => json!({"type": "error", "seq": seq, "status": 500, "error": error}),
            };
            drop((own, global));
            let _ = frames.send(Message::Text(frame.to_string().into())).await;
        });
    }
    // Drain: every message taken is written and acknowledged before the connection closes.
    while writes.join_next().await.is_some() {}
    drop(frames);
    let _ = sender.await;
}
