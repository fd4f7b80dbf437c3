//! The application state machine: which step may run from which status (DESIGN.md §4).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStatus {
    Started,
    UserInfoSubmitted,
    DocumentsProcessed,
    KycVerified,
    KycRejected,
    KycReview,
    PolicyRecommended,
    Completed,
}

impl ApplicationStatus {
    /// The statuses an application waits in for its next step (all but the terminal
    /// `COMPLETED` and `KYC_REJECTED`): where it can stall.
    pub const IN_PROGRESS: [Self; 6] = [
        Self::Started,
        Self::UserInfoSubmitted,
        Self::DocumentsProcessed,
        Self::KycVerified,
        Self::KycReview,
        Self::PolicyRecommended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::UserInfoSubmitted => "USER_INFO_SUBMITTED",
            Self::DocumentsProcessed => "DOCUMENTS_PROCESSED",
            Self::KycVerified => "KYC_VERIFIED",
            Self::KycRejected => "KYC_REJECTED",
            Self::KycReview => "KYC_REVIEW",
            Self::PolicyRecommended => "POLICY_RECOMMENDED",
            Self::Completed => "COMPLETED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Started,
            Self::UserInfoSubmitted,
            Self::DocumentsProcessed,
            Self::KycVerified,
            Self::KycRejected,
            Self::KycReview,
            Self::PolicyRecommended,
            Self::Completed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for ApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The producer steps of the seed, in workflow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    SubmitUserInfo,
    ProcessDocuments,
    PerformKyc,
    RecommendPolicy,
    CompleteWorkflow,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubmitUserInfo => "submit-user-info",
            Self::ProcessDocuments => "process-documents",
            Self::PerformKyc => "perform-kyc",
            Self::RecommendPolicy => "recommend-policy",
            Self::CompleteWorkflow => "complete-workflow",
        }
    }

    /// Statuses from which this step may run. Documents may be added again until KYC has run.
    pub fn allowed_from(self) -> &'static [ApplicationStatus] {
        use ApplicationStatus::*;
        match self {
            Self::SubmitUserInfo => &[Started],
            Self::ProcessDocuments => &[UserInfoSubmitted, DocumentsProcessed],
            Self::PerformKyc => &[DocumentsProcessed],
            Self::RecommendPolicy => &[KycVerified, PolicyRecommended],
            Self::CompleteWorkflow => &[PolicyRecommended],
        }
    }

    /// `Ok` when the step may run from `status`, otherwise a sentence for the 409 response.
    pub fn check(self, status: ApplicationStatus) -> Result<(), String> {
        if self.allowed_from().contains(&status) {
            Ok(())
        } else {
            let allowed: Vec<&str> = self.allowed_from().iter().map(|s| s.as_str()).collect();
            Err(format!(
                "step '{}' is not allowed while the application is {status}; it needs {}",
                self.as_str(),
                allowed.join(" or ")
            ))
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_refused_out_of_order() {
        assert!(Step::PerformKyc
            .check(ApplicationStatus::UserInfoSubmitted)
            .is_err());
        assert!(Step::CompleteWorkflow
            .check(ApplicationStatus::KycVerified)
            .is_err());
        assert!(Step::RecommendPolicy
            .check(ApplicationStatus::KycRejected)
            .is_err());
        assert!(Step::RecommendPolicy
            .check(ApplicationStatus::KycReview)
            .is_err());
        assert!(Step::ProcessDocuments
            .check(ApplicationStatus::DocumentsProcessed)
            .is_ok());
        assert!(Step::CompleteWorkflow
            .check(ApplicationStatus::PolicyRecommended)
            .is_ok());
        assert!(Step::ProcessDocuments
            .check(ApplicationStatus::Completed)
            .is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["STARTED", "KYC_REVIEW", "COMPLETED"] {
            assert_eq!(ApplicationStatus::parse(s).unwrap().as_str(), s);
        }
    }
}
