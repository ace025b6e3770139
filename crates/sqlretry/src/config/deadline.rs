//! [`DeadlineConfig`]: a policy's `deadline` as written in TOML or `SQLRETRY_…_DEADLINE` — a
//! duration (`"2s"`), or `"none"` for no deadline at all, which must be asked for explicitly.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configured total deadline. Absent from the file, the preset's own (finite) deadline applies.
///
/// # Examples
///
/// ```
/// use sqlretry::config::Config;
///
/// let config = Config::from_toml_str("[retry.write]\ndeadline = \"none\"\n[retry.read]\ndeadline = \"750ms\"\n")?;
/// assert_eq!(config.write_policy()?.deadline(), None);
/// assert_eq!(config.read_policy()?.deadline(), Some(std::time::Duration::from_millis(750)));
/// assert_eq!(config.batch_policy()?.deadline(), Some(std::time::Duration::from_secs(2)), "the preset's");
/// # Ok::<(), sqlretry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineConfig {
    /// A total deadline: attempts and sleeps included.
    Within(Duration),
    /// No deadline (`"none"`): the policy is bounded by its attempts alone.
    Unbounded,
}

impl DeadlineConfig {
    /// As the policy builder takes it.
    #[must_use]
    pub fn as_option(self) -> Option<Duration> {
        match self {
            DeadlineConfig::Within(d) => Some(d),
            DeadlineConfig::Unbounded => None,
        }
    }
}

impl fmt::Display for DeadlineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlineConfig::Within(d) => write!(f, "{}", humantime::format_duration(*d)),
            DeadlineConfig::Unbounded => f.write_str("none"),
        }
    }
}

impl Serialize for DeadlineConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DeadlineConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().eq_ignore_ascii_case("none") {
            return Ok(DeadlineConfig::Unbounded);
        }
        humantime::parse_duration(&text).map(DeadlineConfig::Within).map_err(|e| {
            serde::de::Error::custom(format!("`{text}` is not a duration like \"2s\", nor \"none\": {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        deadline: DeadlineConfig,
    }

    #[test]
    fn none_and_durations_round_trip() {
        for (text, value) in [
            ("none", DeadlineConfig::Unbounded),
            ("2s", DeadlineConfig::Within(Duration::from_secs(2))),
            ("250ms", DeadlineConfig::Within(Duration::from_millis(250))),
        ] {
            let parsed: T = toml::from_str(&format!("deadline = \"{text}\"")).unwrap();
            assert_eq!(parsed.deadline, value, "{text}");
            assert_eq!(toml::from_str::<T>(&toml::to_string(&parsed).unwrap()).unwrap(), parsed);
        }
        assert_eq!(toml::from_str::<T>("deadline = \"NONE\"").unwrap().deadline, DeadlineConfig::Unbounded);
        let err = toml::from_str::<T>("deadline = \"never\"").unwrap_err().to_string();
        assert!(err.contains("never") && err.contains("none"), "{err}");
    }

    #[test]
    fn every_preset_deadline_is_finite_and_none_only_when_asked() {
        let c = Config::default();
        let deadlines = [
            c.write_policy().unwrap().deadline(),
            c.read_policy().unwrap().deadline(),
            c.batch_policy().unwrap().deadline(),
            c.state_store_policy().unwrap().deadline(),
            c.file_lock_policy().unwrap().deadline(),
        ];
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(deadlines, [secs(5), secs(2), secs(2), secs(5), secs(2)]);

        let (c, _) = Config::from_toml_str("[retry.write]\ndeadline = \"none\"\n")
            .unwrap()
            .with_env([("SQLRETRY_RETRY_BATCH_DEADLINE", "none"), ("SQLRETRY_RETRY_READ_DEADLINE", "300ms")])
            .unwrap();
        assert_eq!(c.retry.write.deadline, Some(DeadlineConfig::Unbounded));
        assert_eq!(c.write_policy().unwrap().deadline(), None);
        assert_eq!(c.batch_policy().unwrap().deadline(), None);
        assert_eq!(c.read_policy().unwrap().deadline(), Some(Duration::from_millis(300)));
        assert_eq!(c.state_store_policy().unwrap().deadline(), secs(5), "untouched: the preset's");
        // It survives a round trip through TOML (as the CLI's configuration dump would write it).
        let again = Config::from_toml_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }
}
