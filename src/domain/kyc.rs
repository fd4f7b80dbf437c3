//! Know-your-customer assessment: age, document validity, name match and watch-list screening.

use super::document::DocumentFields;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KycDecision {
    Approved,
    Rejected,
    Review,
}

impl KycDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Review => "REVIEW",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Approved, Self::Rejected, Self::Review]
            .into_iter()
            .find(|d| d.as_str() == raw)
    }
}

/// One reason behind a decision; `message` never contains PII (no names, dates or numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycReason {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycOutcome {
    pub decision: KycDecision,
    /// Every check's result, passed ones included, so the decision can be explained.
    pub reasons: Vec<KycReason>,
}

/// The screening list shipped with the project (`data/watchlist.csv`) or given by configuration.
#[derive(Debug, Clone, Default)]
pub struct WatchList {
    _entries: Vec<()>,
}

impl WatchList {
    /// The list bundled into the binary from `data/watchlist.csv`.
    pub fn bundled() -> Self {
        todo!("domain helper")
    }

    /// Parses the CSV format of `data/watchlist.csv`; errors name the line.
    pub fn parse_csv(text: &str) -> Result<Self, String> {
        todo!("domain helper: {}", text.len())
    }

    pub fn len(&self) -> usize {
        todo!("domain helper")
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What KYC looks at: the customer's submitted identity and their most recent identity document.
pub struct KycInput<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub date_of_birth: NaiveDate,
    /// The newest document that proves identity, if any was uploaded.
    pub identity_document: Option<&'a DocumentFields>,
    pub today: NaiveDate,
}

/// Runs every check and decides: any hard failure rejects, any doubt sends to review.
pub fn assess(input: &KycInput<'_>, watch_list: &WatchList) -> KycOutcome {
    todo!("domain helper: {} {}", input.today, watch_list.len())
}
