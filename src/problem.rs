//! The vocabulary every stage uses to say what is wrong: a problem code from the reporting
//! contract, its severity, and a Chinese message fit to show the unit as it is.
//!
//! A rejected file is a value (`Problem`s on a verdict), never an `Err`: `Err` is kept for
//! "could not decide" (I/O, database).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a problem is (contract §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the item `invalid`.
    Error,
    /// Shown to the unit; the item may still be `valid`.
    Warning,
    /// A person must look: the item is `needs_review`.
    Review,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Review => "review",
        }
    }

    /// The word a unit reads next to the message.
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Error => "错误",
            Severity::Warning => "提示",
            Severity::Review => "待审核",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: `code` is one of the contract's problem codes (`table.negative`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn new(code: &str, severity: Severity, message: impl Into<String>) -> Self {
        Problem {
            code: code.to_string(),
            severity,
            message: message.into(),
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    pub fn warning(code: &str, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    pub fn review(code: &str, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Review, message)
    }
}

/// The state a set of problems gives an item (contract §7): any error makes it invalid,
/// otherwise any review item makes it need review.
pub fn state_of(problems: &[Problem]) -> ItemState {
    if problems.iter().any(|p| p.severity == Severity::Error) {
        ItemState::Invalid
    } else if problems.iter().any(|p| p.severity == Severity::Review) {
        ItemState::NeedsReview
    } else {
        ItemState::Valid
    }
}

/// State of one item of one unit (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Valid,
    Invalid,
    NeedsReview,
    Missing,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Valid => "valid",
            ItemState::Invalid => "invalid",
            ItemState::NeedsReview => "needs_review",
            ItemState::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "valid" => ItemState::Valid,
            "invalid" => ItemState::Invalid,
            "needs_review" => ItemState::NeedsReview,
            "missing" => ItemState::Missing,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ItemState::Valid => "合格",
            ItemState::Invalid => "不合格",
            ItemState::NeedsReview => "待审核",
            ItemState::Missing => "未报送",
        }
    }
}

/// A verdict on one file: the state and every problem found. Validators return this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Verdict {
    pub problems: Vec<Problem>,
}

impl Verdict {
    pub fn state(&self) -> ItemState {
        state_of(&self.problems)
    }

    pub fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }
}
