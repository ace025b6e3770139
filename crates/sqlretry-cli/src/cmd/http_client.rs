//! A minimal HTTP/1.1 client over tokio (`http://`, and `https://` through rustls; `Connection:
//! close`): enough for the alert webhook and for `load` reading `/api/tick-stats`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Sends one request and returns the status and body; the whole exchange within `timeout`.
///
/// # Errors
///
/// A message when the URL is not `http://host:port/path`, the server is unreachable, the answer
/// is not HTTP, or `timeout` passed.
pub async fn request(
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    request_with(&Client::default(), method, url, body, timeout).await
}

/// How to reach a server: TLS trust (for `https://`) and a bearer token.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Trust for `https://` URLs (none: `https://` is refused).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

/// As [`request`], over TLS for `https://` URLs and with the client's token.
///
/// # Errors
///
/// As [`request`]; also a failed TLS handshake, or an `https://` URL without TLS trust.
pub async fn request_with(
    client: &Client,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Some(client.tls.clone().ok_or_else(|| format!("{url}: no TLS configuration for https://"))?), rest)
    } else {
        (
            None,
            url.strip_prefix("http://")
                .ok_or_else(|| format!("{url}: only http:// and https:// URLs are supported"))?,
        )
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = &client.token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let stream = TcpStream::connect(authority).await.map_err(|e| format!("{authority}: {e}"))?;
        match tls {
            Some(config) => {
                let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h).trim_matches(['[', ']']);
                let name = rustls_pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| format!("{host}: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("{authority}: TLS: {e}"))?;
                exchange_on(stream, head.as_bytes(), body).await
            }
            None => exchange_on(stream, head.as_bytes(), body).await,
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{url}: no answer within {timeout:?}"))?
}

async fn exchange_on<S>(mut stream: S, head: &[u8], body: &[u8]) -> Result<(u16, Vec<u8>), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(head).await.map_err(|e| e.to_string())?;
    stream.write_all(body).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    // A TLS peer may close without close_notify once it sent everything (Connection: close).
    if let Err(e) = stream.read_to_end(&mut answer).await
        && answer.is_empty()
    {
        return Err(e.to_string());
    }
    parse_response(&answer)
}

/// Splits an HTTP/1.1 response into its status and (de-chunked) body.
fn parse_response(answer: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP status line: {:?}", head.lines().next()))?;
    let body = &answer[split + 4..];
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    Ok((status, if chunked { dechunk(body) } else { body.to_vec() }))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap_or(0);
        let start = eol + 2;
        if size == 0 || start + size > body.len() {
            break;
        }
        out.extend_from_slice(&body[start..start + size]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies_parse() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!(plain, (200, b"ok".to_vec()));
        let chunked = parse_response(
            b"HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked, (503, b"abc".to_vec()));
        assert!(parse_response(b"garbage").is_err());
    }
}
