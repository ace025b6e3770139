//! A WebSocket's idle timeout: a connection that sends nothing for half of `idle` is pinged; one
//! that answers nothing (not even the pong) by the end of `idle` is closed. A dead peer behind a
//! NAT that dropped its mapping then costs a bounded time, not a connection held forever.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::sync::mpsc;

/// The next frame from `stream`, pinging through `outbox` after `idle / 2` of silence; `None`
/// (as for a closed socket) after `idle` without any frame.
pub async fn next(
    stream: &mut SplitStream<WebSocket>,
    idle: Duration,
    outbox: &mpsc::Sender<Message>,
) -> Option<Result<Message, axum::Error>> {
    let half = idle / 2;
    if let Ok(frame) = tokio::time::timeout(half, stream.next()).await {
        return frame;
    }
    if outbox.send(Message::Ping(axum::body::Bytes::from_static(b"idle"))).await.is_err() {
        return None;
    }
    match tokio::time::timeout(idle - half, stream.next()).await {
        Ok(frame) => frame,
        Err(_) => {
            tracing::debug!(?idle, "WebSocket idle: closed");
            None
        }
    }
}
