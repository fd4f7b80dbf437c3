//! A configuration problem names its key and the environment variables that set it; problems
//! are collected, never stopped at, so one run of `onboard check-config` shows them all.

use super::env;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key in the tree (`bus.kafka.password`), or where the problem is (a file).
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = env::names_of(&self.key);
        if names.is_empty() {
            write!(f, "{}: {}", self.key, self.message)
        } else {
            write!(f, "{} ({}): {}", self.key, names.join(" / "), self.message)
        }
    }
}

/// Every problem of a configuration; the error a role refuses to start with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when there is no problem.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One problem stays one line, as the command line's errors always were.
        if let [problem] = self.0.as_slice() {
            return write!(f, "invalid configuration: {problem}");
        }
        let count = self.0.len();
        write!(
            f,
            "the configuration has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
