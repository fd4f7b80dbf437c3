//! Identity documents: accepted types, the file's real content type recognised from its bytes, and the fields.

use super::customer::tidy_name;
use super::validation::{code, parse_iso_date, Rejection, ValidationErrors};
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
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(PNG) {
            Some(Self::Png)
        } else {
            None
        }
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
        let mut errors = ValidationErrors::new();
        let e = &mut errors;
        let document_type = text_part(parts, "documentType", e, parse_document_type);
        let document_number = text_part(parts, "documentNumber", e, parse_document_number);
        let full_name = text_part(parts, "fullName", e, |raw| tidy_name(raw, FULL_NAME_MAX));
        let expiry_date = text_part(parts, "expiryDate", e, parse_iso_date);
        match (document_type, document_number, full_name, expiry_date) {
            (Some(document_type), Some(document_number), Some(full_name), Some(expiry_date))
                if errors.is_empty() =>
            {
                Ok(Self {
                    document_type,
                    document_number,
                    full_name,
                    expiry_date,
                })
            }
            // Every `None` above pushed its own error, so `errors` is never empty here.
            _ => Err(errors),
        }
    }
}

/// Longest name printed on a document that is accepted.
const FULL_NAME_MAX: usize = 200;
const DOCUMENT_NUMBER_LEN: std::ops::RangeInclusive<usize> = 4..=32;

/// Runs `check` on the trimmed text part `name`; a missing or blank part is `required`.
fn text_part<T>(
    parts: &HashMap<String, String>,
    name: &str,
    errors: &mut ValidationErrors,
    check: impl FnOnce(&str) -> Result<T, Rejection>,
) -> Option<T> {
    match parts.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => {
            errors.push(name, code::REQUIRED, "is required");
            None
        }
        Some(raw) => check(raw).map_err(|r| errors.reject(name, r)).ok(),
    }
}

fn parse_document_type(raw: &str) -> Result<DocumentType, Rejection> {
    DocumentType::parse(raw).ok_or_else(|| {
        Rejection::new(
            code::INVALID_VALUE,
            format!(
                "must be one of {}",
                DocumentType::ALL.map(DocumentType::as_str).join(", ")
            ),
        )
    })
}

/// Upper-cased so `ab-123` and `AB-123` are the same document when compared later.
fn parse_document_number(raw: &str) -> Result<String, Rejection> {
    let number = raw.to_ascii_uppercase();
    if !number
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(Rejection::new(
            code::INVALID_FORMAT,
            "may only contain letters A-Z, digits and hyphens",
        ));
    }
    if !DOCUMENT_NUMBER_LEN.contains(&number.len()) {
        return Err(Rejection::new(
            code::INVALID_LENGTH,
            format!(
                "must be {} to {} characters",
                DOCUMENT_NUMBER_LEN.start(),
                DOCUMENT_NUMBER_LEN.end()
            ),
        ));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn valid() -> HashMap<String, String> {
        parts(&[
            ("documentType", "passport"),
            ("documentNumber", " ab-1234567 "),
            ("fullName", "  John   Doe "),
            ("expiryDate", "2030-12-31"),
        ])
    }

    fn codes(errors: &ValidationErrors) -> Vec<(String, String)> {
        let mut v: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn sniff_recognises_each_format_by_its_magic_bytes() {
        assert_eq!(ContentKind::sniff(b"%PDF-1.7\n..."), Some(ContentKind::Pdf));
        assert_eq!(
            ContentKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ContentKind::Jpeg)
        );
        assert_eq!(
            ContentKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ContentKind::Png)
        );
    }

    #[test]
    fn sniff_refuses_other_and_truncated_content_whatever_it_claims() {
        for bytes in [
            &b""[..],
            b"%PDF",
            b"%pdf-1.4",
            &[0xFF, 0xD8],
            b"\x89PNG\r\n\x1a",
            b"GIF89a",
            b"<html>%PDF-",
            b"PK\x03\x04",
        ] {
            assert_eq!(ContentKind::sniff(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn sniffed_kinds_round_trip_through_their_mime_types() {
        for kind in [ContentKind::Pdf, ContentKind::Jpeg, ContentKind::Png] {
            assert_eq!(ContentKind::parse_mime(kind.mime()), Some(kind));
        }
    }

    #[test]
    fn valid_parts_parse_into_normalised_fields() {
        let fields = DocumentFields::parse(&valid()).unwrap();
        assert_eq!(fields.document_type, DocumentType::Passport);
        assert_eq!(fields.document_number, "AB-1234567");
        assert_eq!(fields.full_name, "John Doe");
        assert_eq!(
            fields.expiry_date,
            NaiveDate::from_ymd_opt(2030, 12, 31).unwrap()
        );
    }

    #[test]
    fn an_expired_document_is_accepted_here_because_kyc_judges_it() {
        let mut p = valid();
        p.insert("expiryDate".into(), "2001-01-01".into());
        assert!(DocumentFields::parse(&p).is_ok());
    }

    #[test]
    fn every_missing_or_blank_part_is_reported_at_once() {
        let errors = DocumentFields::parse(&parts(&[("fullName", "  ")])).unwrap_err();
        assert_eq!(
            codes(&errors),
            vec![
                ("documentNumber".into(), "required".into()),
                ("documentType".into(), "required".into()),
                ("expiryDate".into(), "required".into()),
                ("fullName".into(), "required".into()),
            ]
        );
    }

    #[test]
    fn every_invalid_part_is_reported_at_once_with_its_reason() {
        let errors = DocumentFields::parse(&parts(&[
            ("documentType", "library_card"),
            ("documentNumber", "AB 12"),
            ("fullName", "12345"),
            ("expiryDate", "2030-02-30"),
        ]))
        .unwrap_err();
        assert_eq!(
            codes(&errors),
            vec![
                ("documentNumber".into(), "invalid_format".into()),
                ("documentType".into(), "invalid_value".into()),
                ("expiryDate".into(), "invalid_date".into()),
                ("fullName".into(), "invalid_format".into()),
            ]
        );
        let type_error = errors.0.iter().find(|e| e.field == "documentType").unwrap();
        assert_eq!(
            type_error.message,
            "must be one of passport, national_id, drivers_license, utility_bill"
        );
    }

    #[test]
    fn document_numbers_must_be_4_to_32_allowed_characters() {
        assert_eq!(parse_document_number("abc1").unwrap(), "ABC1");
        assert!(parse_document_number(&"9".repeat(32)).is_ok());
        assert_eq!(
            parse_document_number("AB1").unwrap_err().code,
            code::INVALID_LENGTH
        );
        assert_eq!(
            parse_document_number(&"9".repeat(33)).unwrap_err().code,
            code::INVALID_LENGTH
        );
        for bad in ["AB_1234", "AB/1234", "ÄB1234", "AB 1234"] {
            assert_eq!(
                parse_document_number(bad).unwrap_err().code,
                code::INVALID_FORMAT,
                "{bad}"
            );
        }
    }

    #[test]
    fn full_names_may_be_up_to_200_characters_and_need_a_letter() {
        let mut p = valid();
        p.insert("fullName".into(), "a".repeat(200));
        assert!(DocumentFields::parse(&p).is_ok());
        p.insert("fullName".into(), "a".repeat(201));
        let errors = DocumentFields::parse(&p).unwrap_err();
        assert_eq!(errors.field_names(), vec!["fullName"]);
        assert_eq!(errors.0[0].code, code::INVALID_LENGTH);
    }

    #[test]
    fn only_identity_documents_prove_identity() {
        assert!(DocumentType::Passport.proves_identity());
        assert!(DocumentType::NationalId.proves_identity());
        assert!(DocumentType::DriversLicense.proves_identity());
        assert!(!DocumentType::UtilityBill.proves_identity());
    }
}
