//! Browsers are clients too: a page on any site can open a WebSocket to a local service, and the
//! browser sends that page's `Origin`. Only origins in `allowed_origins` may upgrade (none by
//! default); a request without `Origin` comes from a non-browser client and is let through.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The allowed origins (`scheme://host[:port]`, compared without case and trailing `/`).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    /// Allows `origins` (normalised).
    pub fn new<I: IntoIterator<Item = String>>(origins: I) -> Self {
        AllowedOrigins(Arc::new(origins.into_iter().map(|o| normalise(&o)).collect()))
    }

    /// Whether a request with this `Origin` header value may go on (`None`: no header).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        origin.is_none_or(|o| self.0.contains(&normalise(o)))
    }
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The middleware: `from_fn_with_state(allowed, origin::check)`; 403 in the JSON error shape.
pub async fn check(State(allowed): State<AllowedOrigins>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).map(|v| v.to_str().unwrap_or("(not ASCII)"));
    if allowed.allows(origin) {
        return next.run(request).await;
    }
    let error = format!("origin {} is not in allowed_origins", origin.unwrap_or_default());
    (StatusCode::FORBIDDEN, axum::Json(json!({"error": error, "field": "origin"}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_and_non_browsers_pass() {
        let none = AllowedOrigins::default();
        assert!(none.allows(None));
        assert!(!none.allows(Some("http://evil.example")));
        let desk = AllowedOrigins::new(["https://Desk.example/".to_owned()]);
        assert!(desk.allows(Some("https://desk.example")));
        assert!(!desk.allows(Some("https://desk.example.evil")));
        assert!(!desk.allows(Some("null")));
    }
}
