//! The crate's `tracing` events (a retry at `warn`, a give-up at `error`, a success after
//! retrying at `info`, a skipped optimistic write at `warn`) to Python's `logging`, logger
//! `sqlretry`, so that a Python service sees them with its own handlers and levels.

use std::fmt::Write as _;

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The span that silences events inside it (see `store.rs`: a write tried once without waiting,
/// whose expected "gave up" is not news).
pub(crate) const QUIET: &str = "sqlretry_py_quiet";

/// Installs the bridge as the process's `tracing` subscriber (kept if one is already installed).
pub(crate) fn install() {
    let subscriber = tracing_subscriber::registry().with(PythonLogging);
    // Another extension module may have installed one already; then its own applies.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct PythonLogging;

/// Formats an event as `message key=value ...`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Python's level number for a `tracing` level.
fn python_level(level: Level) -> i32 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

impl<S> Layer<S> for PythonLogging
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.is_span() || *metadata.level() <= Level::INFO
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if ctx.event_scope(event).is_some_and(|mut scope| scope.any(|span| span.name() == QUIET)) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let level = python_level(*event.metadata().level());
        let text = format!("{}{}", line.message, line.fields);
        let target = event.metadata().target();
        Python::attach(|py| {
            let logged = py.import("logging").and_then(|logging| {
                let logger = logging.call_method1("getLogger", ("sqlretry",))?;
                if logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
                    let extra = pyo3::types::PyDict::new(py);
                    extra.set_item("sqlretry_target", target)?;
                    let kwargs = pyo3::types::PyDict::new(py);
                    kwargs.set_item("extra", extra)?;
                    logger.call_method("log", (level, text), Some(&kwargs))?;
                }
                Ok::<(), PyErr>(())
            });
            if let Err(err) = logged {
                // A logging handler that raises must not break the write that logged.
                err.write_unraisable(py, None);
            }
        });
    }
}
