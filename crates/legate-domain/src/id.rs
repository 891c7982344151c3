//! Task ids: short, typeable, prefix-matchable like git object names.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The id alphabet: Crockford's base 32 in lower case — digits and letters without `i`, `l`,
/// `o` and `u`, so an id read aloud or copied by hand cannot be mistyped into another one.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// How many characters a generated id has: 40 random bits, enough that collisions are rare
/// at millions of tasks (the store retries the rare one) while staying short to type.
pub const ID_LEN: usize = 8;

/// A task's id. Always [`ID_LEN`] characters of [`ALPHABET`] when generated; users may type any
/// unique prefix of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

/// Why a string is not a task id or id prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty input cannot select a task.
    #[error("the task id is empty; give an id as printed by `legate run` or `legate ls`")]
    Empty,
    /// Longer than any id can be.
    #[error(
        "'{0}' is longer than a task id ({ID_LEN} characters); give an id as printed by `legate ls`"
    )]
    TooLong(String),
    /// A character outside the id alphabet (this also rejects path traversal such as `../x`).
    #[error(
        "'{0}' is not a task id: ids use only 0-9 and a-z without i, l, o, u; give an id as printed by `legate ls`"
    )]
    BadChar(String),
}

impl TaskId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let id = (0..ID_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Self(id)
    }

    /// Accepts a complete id (used where only whole ids are valid, e.g. decoding store rows).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let prefix = IdPrefix::parse(s)?;
        Ok(Self(prefix.0))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user typed to name a task: a whole id or a prefix of one, validated and normalised
/// to lower case so the store can look it up by range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPrefix(String);

impl IdPrefix {
    /// Validates user input as an id prefix.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        if !lower.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(IdError::BadChar(s.to_string()));
        }
        if s.len() > ID_LEN {
            return Err(IdError::TooLong(s.to_string()));
        }
        Ok(Self(lower))
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the prefix is a whole id.
    pub fn is_complete(&self) -> bool {
        self.0.len() == ID_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = TaskId::generate();
        let b = TaskId::generate();
        assert_eq!(a.as_str().len(), ID_LEN);
        assert_ne!(a, b);
        assert_eq!(TaskId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn prefixes_are_normalised_and_validated() {
        assert_eq!(IdPrefix::parse(" AB3 ").unwrap().as_str(), "ab3");
        assert_eq!(IdPrefix::parse(""), Err(IdError::Empty));
        assert!(matches!(
            IdPrefix::parse("../etc"),
            Err(IdError::BadChar(_))
        ));
        assert!(matches!(
            IdPrefix::parse("abcdefghjk"),
            Err(IdError::TooLong(_))
        ));
        assert!(matches!(IdPrefix::parse("lo"), Err(IdError::BadChar(_))));
    }
}
