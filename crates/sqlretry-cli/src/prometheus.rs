//! Prometheus export of the library's metrics: the binary installs the recorder (a library never
//! installs global state) and writes the text format to a file when the run ends.

use std::path::{Path, PathBuf};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::CliError;

/// An installed recorder and where its text goes.
pub struct MetricsFile {
    handle: PrometheusHandle,
    path: PathBuf,
}

impl MetricsFile {
    /// Installs the process's recorder; `path`'s directory must exist.
    ///
    /// # Errors
    ///
    /// A usage error naming `--metrics` when the directory is missing or a recorder is installed.
    pub fn install(path: &Path) -> Result<Self, CliError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(CliError::usage("--metrics", format!("no such directory: {}", parent.display())));
        }
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| CliError::usage("--metrics", format!("cannot install the recorder: {e}")))?;
        Ok(MetricsFile { handle, path: path.to_path_buf() })
    }

    /// Writes what was recorded so far.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn write(&self) -> Result<(), CliError> {
        std::fs::write(&self.path, self.handle.render()).map_err(|source| CliError::Io {
            context: "writing the metrics file",
            path: self.path.clone(),
            source,
        })
    }
}
