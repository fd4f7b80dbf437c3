//! The customer's submitted identity (the seed's user-info body), parsed into values that cannot be invalid.

use super::validation::{
    code, json_object, parse_iso_date, string_member, Rejection, ValidationErrors,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Youngest age at which a customer may onboard.
pub const MIN_AGE: u32 = 18;

/// Earliest plausible date of birth; anything before is a typo, not a customer.
pub fn earliest_date_of_birth() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

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

/// Longest address SMTP can carry (RFC 5321 path limit minus the angle brackets).
const EMAIL_MAX: usize = 254;
const EMAIL_LOCAL_MAX: usize = 64;
const DOMAIN_LABEL_MAX: usize = 63;
const PERSON_NAME_MAX: usize = 100;
/// Shown in phone messages instead of the submitted value, which is PII.
const PHONE_EXAMPLE: &str = "+14155550123";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::check(raw).map_err(|r| r.message)
    }

    /// A practical subset of RFC 5322: dot-atom local part, DNS host name with at least two labels.
    /// Quoted local parts, comments and address literals are legal but almost always mistakes in a
    /// sign-up form, so they are refused.
    fn check(raw: &str) -> Result<Self, Rejection> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Rejection::new(code::REQUIRED, "must not be empty"));
        }
        let invalid = |why: &str| {
            Rejection::new(
                code::INVALID_FORMAT,
                format!("must be an e-mail address like name@example.com: {why}"),
            )
        };
        if raw.chars().count() > EMAIL_MAX {
            return Err(Rejection::new(
                code::INVALID_LENGTH,
                format!("must be at most {EMAIL_MAX} characters"),
            ));
        }
        let (local, domain) = match raw.split_once('@') {
            Some((l, d)) if !d.contains('@') => (l, d),
            Some(_) => return Err(invalid("it must contain exactly one @")),
            None => return Err(invalid("the @ is missing")),
        };
        if local.is_empty() || local.len() > EMAIL_LOCAL_MAX {
            return Err(invalid("the part before @ must be 1 to 64 characters"));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        if local
            .split('.')
            .any(|atom| atom.is_empty() || !atom.chars().all(atext))
        {
            return Err(invalid(
                "the part before @ has a character that is not allowed or a misplaced dot",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid("the domain must contain a dot"));
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= DOMAIN_LABEL_MAX
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.iter().all(label_ok) {
            return Err(invalid(
                "the domain may only contain letters, digits, hyphens and single dots",
            ));
        }
        // An all-numeric top-level label means an IP address, not a mail domain.
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid("the domain must end in a top-level domain"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::check(raw).map_err(|r| r.message)
    }

    fn check(raw: &str) -> Result<Self, Rejection> {
        let name = tidy_name(raw, PERSON_NAME_MAX)?;
        let allowed = |c: char| {
            c.is_alphabetic()
                || is_combining_mark(c)
                || matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.')
        };
        if !name.chars().all(allowed) {
            return Err(Rejection::new(
                code::INVALID_FORMAT,
                "may only contain letters, spaces, hyphens, apostrophes and dots",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shared by person names and the name printed on a document: NFC-normalised (so `é` typed as
/// `e` + accent counts as one letter), trimmed, inner whitespace collapsed to one space, at most
/// `max_chars` characters, no control characters, at least one letter.
pub(crate) fn tidy_name(raw: &str, max_chars: usize) -> Result<String, Rejection> {
    let name = raw
        .nfc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        return Err(Rejection::new(code::REQUIRED, "must not be empty"));
    }
    if name.chars().count() > max_chars {
        return Err(Rejection::new(
            code::INVALID_LENGTH,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Rejection::new(
            code::INVALID_FORMAT,
            "must not contain control characters",
        ));
    }
    if !name.chars().any(char::is_alphabetic) {
        return Err(Rejection::new(
            code::INVALID_FORMAT,
            "must contain at least one letter",
        ));
    }
    Ok(name)
}

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::check(raw).map_err(|r| r.message)
    }

    /// Strict E.164 only, so the stored number can be dialled and compared as is; each message
    /// says what to change, because "invalid phone number" alone leaves people guessing.
    fn check(raw: &str) -> Result<Self, Rejection> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Rejection::new(code::REQUIRED, "must not be empty"));
        }
        let invalid = |why: String| Rejection::new(code::INVALID_FORMAT, why);
        let Some(digits) = raw.strip_prefix('+') else {
            return Err(invalid(format!(
                "must be in E.164 format: + then the country code and number, e.g. {PHONE_EXAMPLE}"
            )));
        };
        if digits
            .chars()
            .any(|c| matches!(c, ' ' | '-' | '(' | ')' | '.'))
        {
            return Err(invalid(format!(
                "must be in E.164 format without spaces, hyphens, dots or parentheses, e.g. {PHONE_EXAMPLE}"
            )));
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(format!(
                "may only contain digits after the +, e.g. {PHONE_EXAMPLE}"
            )));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(invalid(format!(
                "must have 8 to 15 digits after the +, e.g. {PHONE_EXAMPLE}"
            )));
        }
        if digits.starts_with('0') {
            return Err(invalid(format!(
                "must start with a country code after the +, which never begins with 0, e.g. {PHONE_EXAMPLE}"
            )));
        }
        Ok(Self(raw.to_owned()))
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

/// The members of the seed's body; any other member is reported as `unknown_field`.
const USER_INFO_FIELDS: [&str; 5] = [
    "email",
    "firstName",
    "lastName",
    "dateOfBirth",
    "phoneNumber",
];

impl UserInfo {
    /// Parses the seed's exact body `{email, firstName, lastName, dateOfBirth, phoneNumber}`,
    /// reporting every invalid, missing or unknown member at once.
    pub fn parse(body: &serde_json::Value, today: NaiveDate) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let Some(object) = json_object(body, &USER_INFO_FIELDS, &mut errors) else {
            return Err(errors);
        };
        let e = &mut errors;
        let email = string_member(object, "email", e, Email::check);
        let first_name = string_member(object, "firstName", e, PersonName::check);
        let last_name = string_member(object, "lastName", e, PersonName::check);
        let date_of_birth = string_member(object, "dateOfBirth", e, |raw| {
            check_date_of_birth(raw, today)
        });
        let phone_number = string_member(object, "phoneNumber", e, PhoneNumber::check);
        match (email, first_name, last_name, date_of_birth, phone_number) {
            (
                Some(email),
                Some(first_name),
                Some(last_name),
                Some(date_of_birth),
                Some(phone_number),
            ) if errors.is_empty() => Ok(Self {
                email,
                first_name,
                last_name,
                date_of_birth,
                phone_number,
            }),
            // Every `None` above pushed its own error, so `errors` is never empty here.
            _ => Err(errors),
        }
    }
}

/// A date of birth: a real `YYYY-MM-DD` date, not in the future, not before 1900, and old enough.
pub fn check_date_of_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, Rejection> {
    let date = parse_iso_date(raw)?;
    if date > today {
        return Err(Rejection::new(code::IN_FUTURE, "must not be in the future"));
    }
    if date < earliest_date_of_birth() {
        return Err(Rejection::new(
            code::IMPLAUSIBLE,
            "must not be before 1900-01-01",
        ));
    }
    if age_on(date, today) < MIN_AGE {
        return Err(Rejection::new(
            code::TOO_YOUNG,
            format!("the customer must be at least {MIN_AGE} years old"),
        ));
    }
    Ok(date)
}

/// Whole years between `date_of_birth` and `today`.
pub fn age_on(date_of_birth: NaiveDate, today: NaiveDate) -> u32 {
    today.years_since(date_of_birth).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        day(2025, 6, 15)
    }

    fn seed_body() -> serde_json::Value {
        json!({
            "email": "test@example.com",
            "firstName": "John",
            "lastName": "Doe",
            "dateOfBirth": "1990-01-01",
            "phoneNumber": "+1234567890"
        })
    }

    fn codes(errors: &ValidationErrors) -> Vec<(String, String)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect()
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_owned(), code.to_owned())
    }

    #[test]
    fn the_seed_body_parses_into_its_values() {
        let info = UserInfo::parse(&seed_body(), today()).unwrap();
        assert_eq!(info.email.as_str(), "test@example.com");
        assert_eq!(info.first_name.as_str(), "John");
        assert_eq!(info.last_name.as_str(), "Doe");
        assert_eq!(info.date_of_birth, day(1990, 1, 1));
        assert_eq!(info.phone_number.as_str(), "+1234567890");
    }

    #[test]
    fn every_problem_of_a_body_is_reported_at_once_under_the_clients_field_names() {
        let body = json!({
            "email": "not-an-email",
            "firstName": 42,
            "dateOfBirth": "2020-01-01",
            "phoneNumber": "0123",
            "middleName": "X"
        });
        let errors = UserInfo::parse(&body, today()).unwrap_err();
        let got = codes(&errors);
        for expected in [
            pair("middleName", "unknown_field"),
            pair("email", "invalid_format"),
            pair("firstName", "invalid_type"),
            pair("lastName", "required"),
            pair("dateOfBirth", "too_young"),
            pair("phoneNumber", "invalid_format"),
        ] {
            assert!(got.contains(&expected), "missing {expected:?} in {got:?}");
        }
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_reported_on_the_body_field() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            let errors = UserInfo::parse(&body, today()).unwrap_err();
            assert_eq!(codes(&errors), vec![pair("body", "invalid_type")]);
        }
    }

    #[test]
    fn null_and_blank_members_count_as_missing() {
        let mut body = seed_body();
        body["email"] = json!(null);
        body["firstName"] = json!("   ");
        let got = codes(&UserInfo::parse(&body, today()).unwrap_err());
        assert_eq!(
            got,
            vec![pair("email", "required"), pair("firstName", "required")]
        );
    }

    #[test]
    fn messages_never_echo_the_submitted_values() {
        let body = json!({
            "email": "secret.person@@example.com",
            "firstName": "Secret123",
            "lastName": "Person!",
            "dateOfBirth": "2099-01-01",
            "phoneNumber": "+44 7700 900123"
        });
        let errors = UserInfo::parse(&body, today()).unwrap_err();
        assert_eq!(errors.0.len(), 5);
        for e in &errors.0 {
            for secret in ["secret", "Secret", "Person", "2099", "7700", "900123"] {
                assert!(!e.message.contains(secret), "{} leaks {secret}", e.field);
            }
        }
    }

    #[test]
    fn email_accepts_common_addresses_and_lower_cases_only_the_domain() {
        assert_eq!(
            Email::parse("  Jane.O'Hara+tag@Mail.Example.CO.uk ")
                .unwrap()
                .as_str(),
            "Jane.O'Hara+tag@mail.example.co.uk"
        );
        assert!(Email::parse("a@b.io").is_ok());
        assert!(Email::parse("user@xn--80ak6aa92e.com").is_ok());
    }

    #[test]
    fn email_rejects_what_a_mail_server_would_not_deliver() {
        for bad in [
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "a@@example.com",
            "a@b@example.com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "us er@example.com",
            "user@-example.com",
            "user@example-.com",
            "user@example..com",
            "user@exa_mple.com",
            "user@1.2.3.4",
            "\"quoted\"@example.com",
            "usér@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn email_enforces_the_length_limits() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let ok_local = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&ok_local).is_ok());
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert!(Email::parse(&long_label).is_err());
        let domain = vec!["c".repeat(60); 4].join(".");
        let too_long = format!("{}@{domain}.com", "a".repeat(10));
        assert!(too_long.len() > 254);
        assert_eq!(
            Email::check(&too_long).unwrap_err().code,
            code::INVALID_LENGTH
        );
    }

    #[test]
    fn names_accept_letters_of_any_script_with_name_punctuation() {
        for ok in [
            "John",
            "Mary-Jane",
            "O'Brien",
            "O\u{2019}Brien",
            "J. R. R.",
            "José",
            "Zoë",
            "Łukasz",
            "Σωκράτης",
            "李",
            "Nguyễn",
        ] {
            assert!(PersonName::parse(ok).is_ok(), "{ok} was refused");
        }
    }

    #[test]
    fn names_are_trimmed_nfc_normalised_and_inner_spaces_collapsed() {
        assert_eq!(
            PersonName::parse("  Anne   Marie ").unwrap().as_str(),
            "Anne Marie"
        );
        // `e` followed by a combining acute accent is stored as the single letter `é`.
        assert_eq!(PersonName::parse("Jose\u{301}").unwrap().as_str(), "José");
    }

    #[test]
    fn names_reject_digits_symbols_no_letters_and_overlong_values() {
        for bad in ["R2D2", "a@b", "John_Doe", "-", "' .", "Tab\u{7}"] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(PersonName::check("").unwrap_err().code, code::REQUIRED);
        assert!(PersonName::parse(&"a".repeat(100)).is_ok());
        assert_eq!(
            PersonName::check(&"a".repeat(101)).unwrap_err().code,
            code::INVALID_LENGTH
        );
        // Length counts characters, not bytes.
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn phone_numbers_must_be_strict_e164() {
        for ok in [
            "+1234567890",
            "+12345678",
            "+123456789012345",
            "+447700900123",
        ] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok} was refused");
        }
        for bad in [
            "1234567890",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "+12a4567890",
            "++1234567890",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn phone_messages_say_what_to_fix_without_repeating_the_number() {
        let spaced = PhoneNumber::parse("+44 7700 900123").unwrap_err();
        assert!(spaced.contains("without spaces"), "{spaced}");
        assert!(!spaced.contains("7700"));
        let no_plus = PhoneNumber::parse("447700900123").unwrap_err();
        assert!(no_plus.contains("+ then the country code"), "{no_plus}");
        let leading_zero = PhoneNumber::parse("+0447700900").unwrap_err();
        assert!(
            leading_zero.contains("never begins with 0"),
            "{leading_zero}"
        );
    }

    #[test]
    fn date_of_birth_must_be_a_real_past_plausible_adult_date() {
        let check = |raw: &str| check_date_of_birth(raw, today()).map_err(|r| r.code);
        assert_eq!(check("1990-01-01"), Ok(day(1990, 1, 1)));
        assert_eq!(check("1900-01-01"), Ok(day(1900, 1, 1)));
        assert_eq!(check("1899-12-31"), Err(code::IMPLAUSIBLE));
        assert_eq!(check("1990-1-1"), Err(code::INVALID_FORMAT));
        assert_eq!(check("01/01/1990"), Err(code::INVALID_FORMAT));
        assert_eq!(check("1990-02-30"), Err(code::INVALID_DATE));
        assert_eq!(check("2025-06-16"), Err(code::IN_FUTURE));
        assert_eq!(check("2025-06-15"), Err(code::TOO_YOUNG));
    }

    #[test]
    fn the_eighteenth_birthday_is_the_first_day_a_customer_may_onboard() {
        let check = |raw: &str| check_date_of_birth(raw, today()).map_err(|r| r.code);
        assert_eq!(check("2007-06-15"), Ok(day(2007, 6, 15)));
        assert_eq!(check("2007-06-16"), Err(code::TOO_YOUNG));
        // Born on 29 February: adult on 1 March of a non-leap eighteenth year.
        let leapling = day(2004, 2, 29);
        assert_eq!(age_on(leapling, day(2022, 2, 28)), 17);
        assert_eq!(age_on(leapling, day(2022, 3, 1)), 18);
    }
}
