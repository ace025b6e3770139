//! How the writers of a run are spread over the operating system.

/// Threads, processes or tokio tasks.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::Mode;
///
/// assert_eq!(Mode::Tasks.name(), "tasks");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mode {
    /// Writer threads inside this process.
    Threads,
    /// Worker processes (the calling binary re-executed), each with its writer threads.
    Processes,
    /// Tokio tasks on a 2-worker runtime, each awaiting its writes: the shape of a web service.
    Tasks,
}

impl Mode {
    /// The name on the command line and in reports.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sqlretry_stress::Mode::Processes.name(), "processes");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Threads => "threads",
            Self::Processes => "processes",
            Self::Tasks => "tasks",
        }
    }
}
