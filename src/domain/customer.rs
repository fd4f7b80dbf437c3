//! The customer's submitted identity (the seed's user-info body), parsed into values that cannot be invalid.

use super::validation::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A syntactically valid e-mail address, lower-cased in its domain part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// A first or last name: trimmed, 1 to 100 characters, letters with spaces, hyphens, apostrophes and dots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonName(String);

/// A phone number in E.164 (`+` then 8 to 15 digits, no leading zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        todo!("domain helper: {raw}")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        todo!("domain helper: {raw}")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, String> {
        todo!("domain helper: {raw}")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The validated body of `POST /v1/customers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub date_of_birth: NaiveDate,
    pub phone_number: PhoneNumber,
}

impl UserInfo {
    /// Parses the seed's exact body `{email, firstName, lastName, dateOfBirth, phoneNumber}`,
    /// reporting every invalid, missing or unknown member at once.
    pub fn parse(body: &serde_json::Value, today: NaiveDate) -> Result<Self, ValidationErrors> {
        todo!("domain helper: {body} {today}")
    }
}

/// Whole years between `date_of_birth` and `today`.
pub fn age_on(date_of_birth: NaiveDate, today: NaiveDate) -> u32 {
    today.years_since(date_of_birth).unwrap_or(0)
}
