//! Who may write and read: bearer tokens, each with scopes (`ingest`, `read`, `admin`), checked by
//! a layer put on each group of routes where the router is assembled.
//!
//! A token travels as `Authorization: Bearer <token>`. Browsers cannot set headers on a
//! WebSocket, so the upgrade also accepts it as an offered subprotocol `bearer.<token>` beside
//! [`WS_PROTOCOL`], which the server selects (the token is never echoed back). Query strings are
//! not accepted: proxies and access logs keep URLs.
//!
//! Tokens are compared in constant time against every configured token (no early exit, so the
//! time taken tells nothing about which or how much matched), and are never logged: only a
//! token's name appears in logs and errors.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The subprotocol a browser offers beside `bearer.<token>`; the server selects it.
pub const WS_PROTOCOL: &str = "sqlretry.v1";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/ticks`, `/ws/ticks`.
    Ingest,
    /// Reads, stats and metrics.
    Read,
    /// Administration (dead-letter replay); implies nothing else.
    Admin,
}

impl Scope {
    /// The scope's name as written in the tokens file.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        [Scope::Ingest, Scope::Read, Scope::Admin].into_iter().find(|s| s.name() == name)
    }
}

/// One token: a name for logs, the secret, its scopes.
struct Token {
    name: String,
    secret: Vec<u8>,
    scopes: Vec<Scope>,
}

/// The configured tokens; empty means no authentication (allowed on loopback only).
#[derive(Default)]
pub struct Tokens {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Tokens {
    // Names only: a secret must not reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tokens.iter().map(|t| &t.name)).finish()
    }
}

/// Shortest secret accepted: shorter ones are guessable.
const MIN_SECRET_LEN: usize = 16;

impl Tokens {
    /// Parses lines `NAME SCOPES SECRET` (scopes comma-separated, e.g.
    /// `feed ingest 3f9c…` or `desk read,admin 81ab…`); blank lines and `#` comments are skipped.
    /// `source` names where the text came from, for errors.
    ///
    /// # Errors
    ///
    /// A message naming the source and line: a wrong number of fields, an unknown scope, a secret
    /// shorter than 16 bytes, a repeated name or secret. The secret itself is never quoted.
    pub fn parse(text: &str, source: &str) -> Result<Tokens, String> {
        let mut tokens: Vec<Token> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{source} line {}", n + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, scopes, secret] = fields[..] else {
                return Err(format!("{at}: expected `NAME SCOPES SECRET` ({} fields)", fields.len()));
            };
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s).ok_or_else(|| format!("{at}: unknown scope {s:?} (ingest, read, admin)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!("{at}: token {name:?} is shorter than {MIN_SECRET_LEN} bytes"));
            }
            if tokens.iter().any(|t| t.name == name || t.secret == secret.as_bytes()) {
                return Err(format!("{at}: token {name:?} repeats a name or a secret"));
            }
            tokens.push(Token { name: name.to_owned(), secret: secret.as_bytes().to_vec(), scopes });
        }
        Ok(Tokens { tokens })
    }

    /// Reads and parses a tokens file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or [`Tokens::parse`]'s errors.
    pub fn load(path: &std::path::Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Tokens::parse(&text, &path.display().to_string())
    }

    /// Whether no token is configured (no authentication).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The token matching `presented`, compared in constant time against all of them.
    fn find(&self, presented: &[u8]) -> Option<&Token> {
        let mut found = 0_u32;
        let mut any = subtle::Choice::from(0);
        for (i, token) in self.tokens.iter().enumerate() {
            let hit = token.secret.as_slice().ct_eq(presented);
            found.conditional_assign(&u32::try_from(i).unwrap_or(u32::MAX), hit);
            any |= hit;
        }
        if bool::from(any) { self.tokens.get(found as usize) } else { None }
    }

    /// Checks a request's headers for a token with `scope`.
    ///
    /// # Errors
    ///
    /// 401 when no token or an unknown one is presented, 403 when the token lacks `scope`; both
    /// in the JSON shape of the other 4xx answers.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<(), Box<Response>> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(presented) = presented(headers) else {
            return Err(Box::new(denied(StatusCode::UNAUTHORIZED, "a bearer token is required".into())));
        };
        let Some(token) = self.find(presented.as_bytes()) else {
            return Err(Box::new(denied(StatusCode::UNAUTHORIZED, "unknown token".into())));
        };
        if token.scopes.contains(&scope) {
            Ok(())
        } else {
            tracing::info!(token = %token.name, scope = scope.name(), "token lacks the scope");
            Err(Box::new(denied(
                StatusCode::FORBIDDEN,
                format!("token {:?} lacks the {:?} scope", token.name, scope.name()),
            )))
        }
    }
}

/// The token a request presents: `Authorization: Bearer …`, else a `bearer.…` subprotocol.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (kind, token) = value.trim().split_once(' ')?;
        return kind.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("bearer.").map(str::to_owned))
}

fn denied(status: StatusCode, error: String) -> Response {
    let mut answer = (status, axum::Json(json!({"error": error, "field": "authorization"}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        answer.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    answer
}

/// A layer's state: the tokens and the scope its routes need.
#[derive(Debug, Clone)]
pub struct Guard {
    tokens: Arc<Tokens>,
    scope: Scope,
}

impl Guard {
    /// Requires `scope` of `tokens` (nothing when `tokens` is empty).
    pub fn new(tokens: &Arc<Tokens>, scope: Scope) -> Guard {
        Guard { tokens: Arc::clone(tokens), scope }
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(Guard::new(&tokens, scope), auth::require)`.
pub async fn require(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.tokens.check(request.headers(), guard.scope) {
        Ok(()) => next.run(request).await,
        Err(answer) => *answer,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    const FILE: &str = "# desk tokens\nfeed ingest aaaaaaaaaaaaaaaa1\n\ndesk read,admin bbbbbbbbbbbbbbbb2\n";

    #[test]
    fn scopes_decide_401_or_403() {
        let t = Tokens::parse(FILE, "tokens").unwrap();
        assert_eq!(t.len(), 2);
        let status = |h: &HeaderMap, s| t.check(h, s).err().map(|r| r.status().as_u16());
        let feed = headers(&[("authorization", "Bearer aaaaaaaaaaaaaaaa1")]);
        assert_eq!(status(&feed, Scope::Ingest), None);
        assert_eq!(status(&feed, Scope::Read), Some(403));
        assert_eq!(status(&headers(&[]), Scope::Ingest), Some(401));
        assert_eq!(
            status(&headers(&[("authorization", "Bearer aaaaaaaaaaaaaaaa")]), Scope::Ingest),
            Some(401)
        );
        assert_eq!(
            status(&headers(&[("authorization", "Basic aaaaaaaaaaaaaaaa1")]), Scope::Ingest),
            Some(401)
        );
        let ws = headers(&[("sec-websocket-protocol", "sqlretry.v1, bearer.bbbbbbbbbbbbbbbb2")]);
        assert_eq!(status(&ws, Scope::Read), None);
        assert_eq!(status(&ws, Scope::Ingest), Some(403));
    }

    #[test]
    fn no_tokens_means_no_check() {
        assert!(Tokens::default().check(&headers(&[]), Scope::Admin).is_ok());
    }

    #[test]
    fn bad_files_are_named_without_the_secret() {
        let e = Tokens::parse("x ingest short", "f").unwrap_err();
        assert!(e.contains("f line 1") && !e.contains("short\""), "{e}");
        assert!(Tokens::parse("x write aaaaaaaaaaaaaaaa1", "f").unwrap_err().contains("unknown scope"));
        assert!(Tokens::parse("x ingest", "f").unwrap_err().contains("2 fields"));
        let twice = "a ingest aaaaaaaaaaaaaaaa1\nb read aaaaaaaaaaaaaaaa1";
        assert!(Tokens::parse(twice, "f").unwrap_err().contains("line 2"));
        let debug = format!("{:?}", Tokens::parse(FILE, "f").unwrap());
        assert!(debug.contains("feed") && !debug.contains("aaaa"), "{debug}");
    }
}
