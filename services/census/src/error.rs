//! The crate's one error type, and the problems a rejected census lists.

use std::fmt;

use crate::format::Column;

/// Everything that can go wrong with a census or one of its values.
#[derive(Debug, thiserror::Error)]
pub enum CensusError {
    /// The bytes could not be read (I/O); no line could be blamed.
    #[error("the census could not be read: {0}")]
    Read(#[source] csv::Error),
    /// The census could not be written to its destination.
    #[error("the census could not be written: {0}")]
    Write(#[source] csv::Error),
    /// The census breaks the format: every problem found, by line and
    /// column. Nothing of it may be imported.
    #[error("{}", rejection_text(problems, *total))]
    Rejected {
        /// The problems found, in line order, at most
        /// [`MAX_PROBLEMS`](crate::MAX_PROBLEMS).
        problems: Vec<Problem>,
        /// How many problems there were in all.
        total: usize,
    },
    /// One value breaks its rule (a checked constructor refused it).
    #[error("{0}")]
    InvalidValue(String),
    /// A family unit breaks a rule of the unit as a whole.
    #[error("family unit {family_ref}: {message}")]
    InvalidFamily { family_ref: String, message: String },
}

impl CensusError {
    /// The problems of a rejected census; empty for any other error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            CensusError::Rejected { problems, .. } => problems,
            _ => &[],
        }
    }

    /// The sentence alone, without the family reference of a family error.
    pub(crate) fn message(self) -> String {
        match self {
            CensusError::InvalidValue(message) | CensusError::InvalidFamily { message, .. } => {
                message
            }
            other => other.to_string(),
        }
    }
}

fn rejection_text(problems: &[Problem], total: usize) -> String {
    let mut text = format!(
        "the census was rejected with {total} problem{} and nothing of it was imported",
        if total == 1 { "" } else { "s" }
    );
    for problem in problems {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    if total > problems.len() {
        text.push_str(&format!(
            "\n  and {} more not listed",
            total - problems.len()
        ));
    }
    text
}

/// One thing wrong with a census, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line of the file where the row starts (the header is
    /// line 1).
    pub line: u64,
    /// The column at fault; `None` only when the row as a whole is
    /// malformed (its number of fields) or for a column the header does not
    /// know.
    pub column: Option<Column>,
    /// What is wrong, in a lowercase sentence.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(line: u64, column: Option<Column>, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {}: {}", self.line, column, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}
