//! What guards the service, assembled (and checked) at start before anything is created: the
//! tokens, the allowed browser origins, TLS and the hard limits. Listening beyond loopback needs
//! tokens always, and TLS unless `--allow-plaintext` says a proxy in front terminates it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::args::ServeArgs;
use crate::error::CliError;

use super::auth::Tokens;
use super::config::ServeConfig;
use super::limits::Limits;
use super::origin::AllowedOrigins;

/// The service's guards.
pub struct Protection {
    /// Bearer tokens (empty: no authentication, loopback only).
    pub tokens: Arc<Tokens>,
    /// Browser origins allowed to open WebSockets.
    pub origins: AllowedOrigins,
    /// TLS, when configured.
    pub tls: Option<TlsAcceptor>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("tokens", &self.tokens)
            .field("origins", &self.origins)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Protection {
    /// Reads `[serve]` and the flags over it (and the `SQLRETRY_SERVE_TOKENS` variable) for a
    /// service on `addr`.
    ///
    /// # Errors
    ///
    /// A usage error naming the flag: an unreadable or malformed tokens file or variable, an
    /// unusable certificate or key, or `--allow-remote` without tokens (or without TLS and
    /// without `--allow-plaintext`).
    pub fn from_args(
        args: &ServeArgs,
        config: &ServeConfig,
        addr: SocketAddr,
    ) -> Result<Protection, CliError> {
        let limits = Limits {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            ws_idle_timeout: config.ws_idle_timeout,
            max_connections: config.max_connections,
        };
        let mut tokens = match args.tokens_file.as_ref().or(config.tokens_file.as_ref()) {
            Some(path) => Tokens::load(path).map_err(|e| CliError::usage("--tokens-file", e))?,
            None => Tokens::default(),
        };
        if let Some(lines) = &args.tokens {
            let from_env = Tokens::parse(&lines.replace(';', "\n"), "SQLRETRY_SERVE_TOKENS / --tokens")
                .map_err(|e| CliError::usage("--tokens", e))?;
            if !tokens.is_empty() && !from_env.is_empty() {
                return Err(CliError::usage(
                    "--tokens",
                    "give tokens by --tokens-file or by --tokens, not both",
                ));
            }
            if !from_env.is_empty() {
                tokens = from_env;
            }
        }
        let cert = args.tls_cert.as_ref().or(config.tls_cert.as_ref());
        let key = args.tls_key.as_ref().or(config.tls_key.as_ref());
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => {
                Some(super::tls::acceptor(cert, key).map_err(|e| CliError::usage("--tls-cert", e))?)
            }
            _ => None,
        };
        if !addr.ip().is_loopback() {
            if tokens.is_empty() {
                return Err(CliError::usage(
                    "--allow-remote",
                    format!(
                        "{addr} is reachable from other hosts: give tokens (--tokens-file or SQLRETRY_SERVE_TOKENS)"
                    ),
                ));
            }
            if tls.is_none() && !args.allow_plaintext {
                return Err(CliError::usage(
                    "--allow-remote",
                    format!(
                        "{addr} is reachable from other hosts: tokens would cross the network in plaintext; give --tls-cert/--tls-key (or --allow-plaintext behind a TLS proxy)"
                    ),
                ));
            }
        }
        Ok(Protection {
            tokens: Arc::new(tokens),
            origins: AllowedOrigins::new(args.allowed_origins.iter().chain(&config.allowed_origins).cloned()),
            tls,
            limits,
        })
    }
}
