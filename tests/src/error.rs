//! One error type for the harness: a message that says what failed and why.

use std::fmt;

/// What went wrong while provisioning or driving a cluster. The message is
/// written for the person reading a failed CI log: it names the step, the
/// files involved and, for brokers, the tail of the broker log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError {
    message: String,
}

impl HarnessError {
    pub fn new(message: impl Into<String>) -> Self {
        HarnessError { message: message.into() }
    }

    /// Wraps a lower-level error with a description of the step that failed.
    pub fn context(step: impl fmt::Display, cause: impl fmt::Display) -> Self {
        HarnessError { message: format!("{step}: {cause}") }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HarnessError {}

pub type Result<T> = std::result::Result<T, HarnessError>;

/// Adds a step description to any displayable error.
pub trait Context<T> {
    fn context(self, step: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, step: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|cause| HarnessError::context(step(), cause))
    }
}
