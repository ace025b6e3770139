//! SIGTERM / SIGINT: handlers installed before the service says it is listening (a signal sent
//! right after that line must drain, not kill), and the future that resolves on the first.

/// The installed handlers.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now (inside the runtime). A handler that cannot be installed is
    /// logged and that signal simply not awaited, so the other still works.
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let one = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|e| tracing::warn!(error = %e, "cannot listen for {name}")).ok()
            };
            Signals {
                term: one(SignalKind::terminate(), "SIGTERM"),
                int: one(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on SIGTERM or SIGINT (Ctrl-C).
    pub async fn recv(mut self) {
        #[cfg(unix)]
        {
            async fn on(signal: Option<&mut tokio::signal::unix::Signal>) {
                match signal {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = on(self.term.as_mut()) => tracing::info!("SIGTERM: draining"),
                () = on(self.int.as_mut()) => tracing::info!("SIGINT: draining"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C: draining");
        }
    }
}
