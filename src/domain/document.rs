//! Identity documents: accepted types, the file's real content type recognised from its bytes, and the fields.

use super::validation::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Largest accepted upload.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Passport,
    NationalId,
    DriversLicense,
    UtilityBill,
}

impl DocumentType {
    pub const ALL: [DocumentType; 4] = [
        Self::Passport,
        Self::NationalId,
        Self::DriversLicense,
        Self::UtilityBill,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passport => "passport",
            Self::NationalId => "national_id",
            Self::DriversLicense => "drivers_license",
            Self::UtilityBill => "utility_bill",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// Whether the document proves identity (a utility bill only proves an address).
    pub fn proves_identity(self) -> bool {
        !matches!(self, Self::UtilityBill)
    }
}

/// The file formats accepted, recognised from magic bytes, never from the client's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentKind {
    Pdf,
    Jpeg,
    Png,
}

impl ContentKind {
    /// Recognises PDF (`%PDF-`), JPEG (`FF D8 FF`) and PNG (the 8-byte signature).
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        todo!("domain helper: {}", bytes.len())
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    pub fn parse_mime(raw: &str) -> Option<Self> {
        [Self::Pdf, Self::Jpeg, Self::Png]
            .into_iter()
            .find(|k| k.mime() == raw)
    }
}

/// The validated text fields of a document upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFields {
    pub document_type: DocumentType,
    /// 4 to 32 characters of A-Z, 0-9 and `-`, upper-cased.
    pub document_number: String,
    /// The holder's name as printed on the document, trimmed.
    pub full_name: String,
    pub expiry_date: NaiveDate,
}

impl DocumentFields {
    /// Parses the multipart text parts `documentType`, `documentNumber`, `fullName`, `expiryDate`
    /// (YYYY-MM-DD), reporting every missing or invalid one at once. An expired date is accepted
    /// here; KYC decides what it means.
    pub fn parse(parts: &HashMap<String, String>) -> Result<Self, ValidationErrors> {
        todo!("domain helper: {}", parts.len())
    }
}
