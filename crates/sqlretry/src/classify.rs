//! Deciding whether an error is worth another attempt.
//!
//! The answer is a [`Class`]: [`Class::Retryable`] (optionally with a suggested delay, like an HTTP
//! `Retry-After`) or [`Class::Permanent`]. Errors answer for themselves by implementing [`Classify`];
//! a caller can override the answer for one call with any [`Classifier`], including a closure.

use std::time::Duration;

/// Whether an error is transient (worth another attempt) or permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// The operation may succeed if run again (a lock held by someone else, a timeout).
    Retryable {
        /// A delay the error itself suggests (e.g. a `Retry-After`); the policy's schedule is used
        /// when `None`. A suggestion is still bounded by the policy's deadline.
        after: Option<Duration>,
    },
    /// Running the operation again will fail the same way (bad data, a constraint, a schema error).
    Permanent,
}

impl Class {
    /// Retryable, with the policy's own schedule deciding the delay.
    pub const RETRYABLE: Class = Class::Retryable { after: None };

    /// Retryable after (at least) the given delay.
    #[must_use]
    pub const fn retry_after(after: Duration) -> Class {
        Class::Retryable { after: Some(after) }
    }

    /// `true` for [`Class::Retryable`].
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self, Class::Retryable { .. })
    }
}

/// An error that knows whether it is transient.
///
/// The trait is object safe: `&dyn Classify` and `Box<dyn Classify>` work, so a wrapper error can hold
/// its cause as a trait object and delegate to it.
///
/// # Examples
///
/// ```
/// use sqlretry::{Class, Classify};
///
/// #[derive(Debug)]
/// enum AppError { Busy, BadInput }
///
/// impl Classify for AppError {
///     fn classify(&self) -> Class {
///         match self {
///             AppError::Busy => Class::RETRYABLE,
///             AppError::BadInput => Class::Permanent,
///         }
///     }
/// }
///
/// assert!(AppError::Busy.classify().is_retryable());
/// assert!(!AppError::BadInput.classify().is_retryable());
/// ```
pub trait Classify {
    /// Whether this error is worth another attempt.
    fn classify(&self) -> Class;
}

impl<T: Classify + ?Sized> Classify for &T {
    fn classify(&self) -> Class {
        (**self).classify()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn classify(&self) -> Class {
        (**self).classify()
    }
}

impl<T: Classify + ?Sized> Classify for std::sync::Arc<T> {
    fn classify(&self) -> Class {
        (**self).classify()
    }
}

/// `WouldBlock`, `Interrupted` and `TimedOut` are retryable (a lock held elsewhere, a signal, a slow
/// peer); every other kind is permanent.
impl Classify for std::io::Error {
    fn classify(&self) -> Class {
        use std::io::ErrorKind;
        match self.kind() {
            ErrorKind::WouldBlock | ErrorKind::Interrupted | ErrorKind::TimedOut => Class::RETRYABLE,
            _ => Class::Permanent,
        }
    }
}

/// Classifies errors of type `E` on behalf of a call; overrides what the error says of itself.
///
/// Any `Fn(&E) -> Class` is a classifier, so a one-off rule is a closure:
///
/// ```
/// use sqlretry::{Class, Classifier};
///
/// let by_status = |status: &u16| if *status == 503 { Class::RETRYABLE } else { Class::Permanent };
/// assert_eq!(by_status.classify(&503), Class::RETRYABLE);
/// assert_eq!(by_status.classify(&404), Class::Permanent);
/// ```
pub trait Classifier<E: ?Sized> {
    /// Whether `error` is worth another attempt.
    fn classify(&self, error: &E) -> Class;
}

impl<E: ?Sized, F: Fn(&E) -> Class> Classifier<E> for F {
    fn classify(&self, error: &E) -> Class {
        self(error)
    }
}

/// The default classifier: asks the error itself through [`Classify`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ByErrorType;

impl<E: Classify + ?Sized> Classifier<E> for ByErrorType {
    fn classify(&self, error: &E) -> Class {
        error.classify()
    }
}

/// A classifier from a predicate: errors for which it returns `true` are retryable (with the
/// schedule's delay), every other error is permanent. Made by `Retry::when` (backon's `when`).
///
/// ```
/// use sqlretry::{Class, Classifier, When};
///
/// let only_timeouts = When(|e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut);
/// assert_eq!(only_timeouts.classify(&std::io::ErrorKind::TimedOut.into()), Class::RETRYABLE);
/// assert_eq!(only_timeouts.classify(&std::io::ErrorKind::WouldBlock.into()), Class::Permanent);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct When<F>(pub F);

impl<E: ?Sized, F: Fn(&E) -> bool> Classifier<E> for When<F> {
    fn classify(&self, error: &E) -> Class {
        if (self.0)(error) { Class::RETRYABLE } else { Class::Permanent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_errors_that_are_transient_are_retryable() {
        for kind in [ErrorKind::WouldBlock, ErrorKind::Interrupted, ErrorKind::TimedOut] {
            assert_eq!(Error::from(kind).classify(), Class::RETRYABLE, "{kind:?}");
        }
        for kind in [ErrorKind::NotFound, ErrorKind::PermissionDenied, ErrorKind::InvalidData] {
            assert_eq!(Error::from(kind).classify(), Class::Permanent, "{kind:?}");
        }
    }

    #[test]
    fn trait_objects_and_wrappers_delegate() {
        let boxed: Box<dyn Classify> = Box::new(Error::from(ErrorKind::WouldBlock));
        assert!(boxed.classify().is_retryable());
        let arc: std::sync::Arc<dyn Classify> = std::sync::Arc::new(Error::from(ErrorKind::NotFound));
        assert_eq!(Classify::classify(&&arc), Class::Permanent);
    }

    #[test]
    fn classifier_is_object_safe_and_closures_are_classifiers() {
        let rule =
            |e: &i32| if *e > 0 { Class::retry_after(Duration::from_secs(1)) } else { Class::Permanent };
        let dynamic: &dyn Classifier<i32> = &rule;
        assert_eq!(dynamic.classify(&1), Class::Retryable { after: Some(Duration::from_secs(1)) });
        assert_eq!(dynamic.classify(&0), Class::Permanent);
        let by_type: &dyn Classifier<Error> = &ByErrorType;
        assert!(by_type.classify(&Error::from(ErrorKind::TimedOut)).is_retryable());
    }
}
