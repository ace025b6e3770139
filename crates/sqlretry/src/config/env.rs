//! Unknown `SQLRETRY_…` variables: a warning naming the variable and the nearest known one (by
//! edit distance), never a fatal error — a wrapper script's own `SQLRETRY_BIN` must not stop the
//! program. (An unknown key in a TOML file stays an error: a file is ours alone.)

use std::fmt;

/// An `SQLRETRY_…` variable that names no setting; returned by
/// [`Config::with_env`](super::Config::with_env) and logged at `warn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    /// The variable as given.
    pub name: String,
    /// The known variable nearest to it, when close enough to be a likely typo.
    pub nearest: Option<String>,
}

impl fmt::Display for UnknownVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown variable {} ignored", self.name)?;
        match &self.nearest {
            Some(nearest) => write!(f, " (did you mean {nearest}?)"),
            None => Ok(()),
        }
    }
}

impl UnknownVariable {
    /// `name` (`SQLRETRY_…`) with its nearest variable among `known` (variable names). An
    /// application that reads variables of its own (under `SQLRETRY_` too) warns about its
    /// unknown ones with this, in the same words as the library.
    ///
    /// # Examples
    ///
    /// ```
    /// use sqlretry::config::UnknownVariable;
    ///
    /// let known = ["SQLRETRY_APP_LISTEN".to_owned()].into_iter();
    /// let typo = UnknownVariable::new("SQLRETRY_APP_LISTN", known);
    /// assert_eq!(typo.nearest.as_deref(), Some("SQLRETRY_APP_LISTEN"));
    /// ```
    pub fn new(name: &str, known: impl Iterator<Item = String>) -> Self {
        let upper = name.to_ascii_uppercase();
        // A typo is a few edits away; a wrapper's own variable is nowhere near any setting.
        let limit = (upper.len() / 4).max(2);
        let nearest = known
            .map(|candidate| (edit_distance(&upper, &candidate), candidate))
            .filter(|(distance, _)| *distance <= limit)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, candidate)| candidate);
        UnknownVariable { name: name.to_owned(), nearest }
    }
}

/// Levenshtein distance between two ASCII-ish strings (by `char`).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ATEMPTS", "ATTEMPTS"), 1);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
        assert_eq!(edit_distance("SAME", "SAME"), 0);
    }

    #[test]
    fn the_nearest_is_named_only_when_close() {
        let known =
            || ["SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS", "SQLRETRY_WRITER_WINDOW"].map(String::from).into_iter();
        let typo = UnknownVariable::new("SQLRETRY_RETRY_WRITE_MAX_ATEMPTS", known());
        assert_eq!(typo.nearest.as_deref(), Some("SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS"));
        assert_eq!(
            typo.to_string(),
            "unknown variable SQLRETRY_RETRY_WRITE_MAX_ATEMPTS ignored (did you mean SQLRETRY_RETRY_WRITE_MAX_ATTEMPTS?)"
        );
        let lower = UnknownVariable::new("sqlretry_writer_windw", known());
        assert_eq!(lower.nearest.as_deref(), Some("SQLRETRY_WRITER_WINDOW"));
        let wrapper = UnknownVariable::new("SQLRETRY_BIN", known());
        assert_eq!(wrapper.nearest, None);
        assert_eq!(wrapper.to_string(), "unknown variable SQLRETRY_BIN ignored");
    }
}
