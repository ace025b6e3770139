//! The SQLite strategies by name: which ones exist, in which order `all` runs them, what each one
//! calls. A leaf: the command's flags list these names, and nothing here knows the flags.

use crate::mode::Mode;
use crate::workload::WorkloadKind;

/// The SQLite write strategies the harness compares.
///
/// # Examples
///
/// ```
/// use sqlretry_stress::StrategyKind;
///
/// assert_eq!(StrategyKind::ALL[0].name(), "none");
/// assert_eq!(StrategyKind::from_name("writer"), Some(StrategyKind::Writer));
/// assert!(StrategyKind::Writer.is_sqlretry_family());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StrategyKind {
    /// busy_timeout 0, deferred BEGIN, no retry.
    None,
    /// busy_timeout 5000 ms, deferred BEGIN, no retry.
    BusyTimeout,
    /// A typical hand-written retry: up to 10 attempts, 10 ms doubling to 100 ms, deferred BEGIN,
    /// busy_timeout 0.
    SeedRetry,
    /// busy_timeout 5000 ms, BEGIN IMMEDIATE, no retry.
    Immediate,
    /// The library's Store (BEGIN IMMEDIATE, whole-transaction retry).
    Sqlretry,
    /// The library's Store, grouped writes (group commit on the callers' threads).
    Grouped,
    /// The library's Writer (group commit).
    Writer,
}

impl StrategyKind {
    /// Every strategy, in the order `--strategy all` runs them.
    pub const ALL: [StrategyKind; 7] = [
        StrategyKind::None,
        StrategyKind::BusyTimeout,
        StrategyKind::SeedRetry,
        StrategyKind::Immediate,
        StrategyKind::Sqlretry,
        StrategyKind::Grouped,
        StrategyKind::Writer,
    ];

    /// The name on the command line and in reports.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sqlretry_stress::StrategyKind::BusyTimeout.name(), "busy-timeout");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::BusyTimeout => "busy-timeout",
            Self::SeedRetry => "seed-retry",
            Self::Immediate => "immediate",
            Self::Sqlretry => "sqlretry",
            Self::Grouped => "grouped",
            Self::Writer => "writer",
        }
    }

    /// The strategy a [`name`](Self::name) names, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry_stress::StrategyKind;
    ///
    /// assert_eq!(StrategyKind::from_name("seed-retry"), Some(StrategyKind::SeedRetry));
    /// assert_eq!(StrategyKind::from_name("fastest"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// One line on what the strategy does (the command's help lists it beside the name).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(sqlretry_stress::StrategyKind::Writer.about().contains("Writer"));
    /// ```
    pub fn about(self) -> &'static str {
        match self {
            Self::None => "busy_timeout 0, deferred BEGIN, no retry",
            Self::BusyTimeout => "busy_timeout 5000 ms, deferred BEGIN, no retry",
            Self::SeedRetry => {
                "A typical hand-written retry: up to 10 attempts, 10 ms doubling to 100 ms, deferred BEGIN, busy_timeout 0"
            }
            Self::Immediate => "busy_timeout 5000 ms, BEGIN IMMEDIATE, no retry",
            Self::Sqlretry => "The library's Store (BEGIN IMMEDIATE, whole-transaction retry)",
            Self::Grouped => "The library's Store, grouped writes (group commit on the callers' threads)",
            Self::Writer => "The library's Writer (group commit)",
        }
    }

    /// Whether the strategy is one of the library's own: these decide the exit code.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry_stress::StrategyKind;
    ///
    /// assert!(StrategyKind::Grouped.is_sqlretry_family());
    /// assert!(!StrategyKind::Immediate.is_sqlretry_family());
    /// ```
    pub fn is_sqlretry_family(self) -> bool {
        matches!(self, Self::Sqlretry | Self::Grouped | Self::Writer)
    }

    /// What one operation of this strategy calls in a run (the `api` JSON field).
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry_stress::{Mode, StrategyKind, WorkloadKind};
    ///
    /// assert_eq!(StrategyKind::Writer.api(WorkloadKind::Kv, Mode::Threads, 8), "Writer::enqueue");
    /// ```
    pub fn api(self, workload: WorkloadKind, mode: Mode, in_flight: u32) -> String {
        let tasks = mode == Mode::Tasks;
        let call = match self {
            Self::None | Self::BusyTimeout | Self::SeedRetry => "BEGIN DEFERRED",
            Self::Immediate => "BEGIN IMMEDIATE",
            Self::Sqlretry => "Store::write",
            Self::Grouped => "Store::write_grouped",
            Self::Writer if workload == WorkloadKind::Ticks => "Ingest::append",
            Self::Writer if tasks => return "Writer::submit_async".to_owned(),
            Self::Writer if in_flight > 1 => "Writer::enqueue",
            Self::Writer => "Writer::submit",
        };
        if tasks { format!("{call} via spawn_blocking") } else { call.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for kind in StrategyKind::ALL {
            assert_eq!(StrategyKind::from_name(kind.name()), Some(kind));
        }
        let mut names: Vec<_> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), StrategyKind::ALL.len());
    }
}
