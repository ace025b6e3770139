//! A "simple" cross-site request — one a web page may send without asking — can only carry
//! `text/plain`, a form or multipart. Requiring a JSON media type on bodies keeps pages in a
//! browser from posting ticks; anything else gets 415.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The media types a body may have.
pub const ACCEPTED: [&str; 2] = ["application/json", "application/x-ndjson"];

/// Whether a `Content-Type` value names one of [`ACCEPTED`] (parameters such as `charset` ignored).
pub fn accepted(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else { return false };
    let media = value.split(';').next().unwrap_or_default().trim();
    ACCEPTED.iter().any(|a| a.eq_ignore_ascii_case(media))
}

/// The middleware: 415 in the JSON error shape unless the body's type is accepted.
pub async fn require_json(request: Request, next: Next) -> Response {
    let value = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if accepted(value) {
        return next.run(request).await;
    }
    let error = format!("Content-Type {:?}: expected {}", value.unwrap_or(""), ACCEPTED.join(" or "));
    (StatusCode::UNSUPPORTED_MEDIA_TYPE, axum::Json(json!({"error": error, "field": "content-type"})))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_ndjson_only() {
        assert!(accepted(Some("application/json")));
        assert!(accepted(Some("Application/JSON; charset=utf-8")));
        assert!(accepted(Some("application/x-ndjson")));
        assert!(!accepted(Some("text/plain")));
        assert!(!accepted(Some("application/x-www-form-urlencoded")));
        assert!(!accepted(None));
    }
}
