//! [`WriteSideOptions`]: the settings of one file's write side, the same for a
//! [`Store`](super::Store) and a [`Writer`](crate::writer::Writer) — the connection profile, the
//! write policy, the WAL limit, the slow lock-hold threshold and the barging window of the
//! in-process turn.

use std::time::Duration;

use super::lock_hold::DEFAULT_SLOW_LOCK_HOLD;
use super::profile::ConnectionProfile;
use crate::policy::RetryPolicy;

/// How one file's write side is opened and how its writes are retried; embedded in
/// [`StoreOptions`](super::StoreOptions) and [`WriterOptions`](crate::writer::WriterOptions),
/// whose setters of the same names set these.
///
/// Defaults: [`ConnectionProfile::default`], [`RetryPolicy::store_writes`], a 64 MiB WAL limit, a
/// warning for lock holds over 1 s, and a 250 µs barging window (a `Writer` sets zero: its one
/// thread and its leaders take turns on the connection without hand-offs to wait for).
///
/// # Examples
///
/// ```
/// use sqlretry::RetryPolicy;
/// use sqlretry::sqlite::{StoreOptions, WriteSideOptions};
/// use sqlretry::writer::WriterOptions;
/// use std::time::Duration;
///
/// let side = WriteSideOptions::default()
///     .with_write_policy(RetryPolicy::builder().max_attempts(4).build()?)
///     .with_slow_lock_hold(Duration::from_millis(200));
/// let store = StoreOptions::default().with_write_side(side.clone());
/// let writer = WriterOptions::default().with_write_side(side);
/// assert_eq!(store.write_side().write_policy().max_attempts(), 4);
/// assert_eq!(writer.write_side().slow_lock_hold(), Duration::from_millis(200));
/// # Ok::<(), sqlretry::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WriteSideOptions {
    profile: ConnectionProfile,
    write_policy: RetryPolicy,
    wal_limit: u64,
    slow_lock_hold: Duration,
    barging_window: Duration,
}

impl Default for WriteSideOptions {
    fn default() -> Self {
        WriteSideOptions {
            profile: ConnectionProfile::default(),
            write_policy: RetryPolicy::store_writes(),
            wal_limit: super::DEFAULT_WAL_LIMIT,
            slow_lock_hold: DEFAULT_SLOW_LOCK_HOLD,
            barging_window: Duration::from_micros(250),
        }
    }
}

impl WriteSideOptions {
    /// How the write connection is opened (default [`ConnectionProfile::default`]: WAL,
    /// busy_timeout 5 s, synchronous=NORMAL).
    #[must_use]
    pub fn with_profile(mut self, profile: ConnectionProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The policy a write transaction is retried under (default [`RetryPolicy::store_writes`]);
    /// its deadline bounds the whole wait of one write.
    #[must_use]
    pub fn with_write_policy(mut self, policy: RetryPolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// The WAL size above which the write side warns, exports `sqlretry_wal_bytes` and
    /// checkpoints once readers let it (checkpoint starvation; default 64 MiB, see
    /// [`WalWatch`](super::WalWatch)).
    #[must_use]
    pub fn with_wal_limit(mut self, bytes: u64) -> Self {
        self.wal_limit = bytes;
        self
    }

    /// Lock holds longer than this are logged at `warn` (default 1 s).
    #[must_use]
    pub fn with_slow_lock_hold(mut self, threshold: Duration) -> Self {
        self.slow_lock_hold = threshold;
        self
    }

    /// How long the head of the in-process write turn lets newcomers go first before it is
    /// served (default 250 µs; zero is strictly first come, first served, at the cost of a thread
    /// hand-off per write). While other processes contend for the file the window is at least
    /// 2 ms (unless zero; see [`Store`](super::Store)'s `# Design`).
    #[must_use]
    pub fn with_barging_window(mut self, window: Duration) -> Self {
        self.barging_window = window;
        self
    }

    /// The connection profile.
    #[must_use]
    pub fn profile(&self) -> &ConnectionProfile {
        &self.profile
    }

    /// The write policy.
    #[must_use]
    pub fn write_policy(&self) -> &RetryPolicy {
        &self.write_policy
    }

    /// The WAL limit, in bytes.
    #[must_use]
    pub fn wal_limit(&self) -> u64 {
        self.wal_limit
    }

    /// The slow lock-hold threshold.
    #[must_use]
    pub fn slow_lock_hold(&self) -> Duration {
        self.slow_lock_hold
    }

    /// The barging window of the in-process turn.
    #[must_use]
    pub fn barging_window(&self) -> Duration {
        self.barging_window
    }
}

/// The setters of [`WriteSideOptions`] on a type that embeds one (the store's and the writer's
/// options), so the same setting has the same name everywhere. Boilerplate: each delegates.
macro_rules! write_side_setters {
    ($ty:ty) => {
        impl $ty {
            /// The write side's settings at once (see [`WriteSideOptions`](crate::sqlite::WriteSideOptions)).
            #[must_use]
            pub fn with_write_side(mut self, write_side: $crate::sqlite::WriteSideOptions) -> Self {
                self.write_side = write_side;
                self
            }

            /// See [`WriteSideOptions::with_profile`](crate::sqlite::WriteSideOptions::with_profile).
            #[must_use]
            pub fn with_profile(mut self, profile: $crate::sqlite::ConnectionProfile) -> Self {
                self.write_side = self.write_side.with_profile(profile);
                self
            }

            /// See [`WriteSideOptions::with_write_policy`](crate::sqlite::WriteSideOptions::with_write_policy).
            #[must_use]
            pub fn with_write_policy(mut self, policy: $crate::policy::RetryPolicy) -> Self {
                self.write_side = self.write_side.with_write_policy(policy);
                self
            }

            /// See [`WriteSideOptions::with_wal_limit`](crate::sqlite::WriteSideOptions::with_wal_limit).
            #[must_use]
            pub fn with_wal_limit(mut self, bytes: u64) -> Self {
                self.write_side = self.write_side.with_wal_limit(bytes);
                self
            }

            /// See [`WriteSideOptions::with_slow_lock_hold`](crate::sqlite::WriteSideOptions::with_slow_lock_hold).
            #[must_use]
            pub fn with_slow_lock_hold(mut self, threshold: std::time::Duration) -> Self {
                self.write_side = self.write_side.with_slow_lock_hold(threshold);
                self
            }

            /// See [`WriteSideOptions::with_barging_window`](crate::sqlite::WriteSideOptions::with_barging_window).
            #[must_use]
            pub fn with_barging_window(mut self, window: std::time::Duration) -> Self {
                self.write_side = self.write_side.with_barging_window(window);
                self
            }

            /// The write side's settings.
            #[must_use]
            pub fn write_side(&self) -> &$crate::sqlite::WriteSideOptions {
                &self.write_side
            }

            /// The connection profile of the write side.
            #[must_use]
            pub fn profile(&self) -> &$crate::sqlite::ConnectionProfile {
                self.write_side.profile()
            }

            /// The write policy.
            #[must_use]
            pub fn write_policy(&self) -> &$crate::policy::RetryPolicy {
                self.write_side.write_policy()
            }
        }
    };
}
pub(crate) use write_side_setters;
