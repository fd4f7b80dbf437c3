//! Field-level validation errors collected across a whole input, so a client sees every problem at once.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

/// The machine-readable codes of [`FieldError::code`], shared so clients and tests can rely on them.
pub mod code {
    /// The member or part is absent, `null` or blank.
    pub const REQUIRED: &str = "required";
    /// The JSON value has the wrong type (e.g. a number where a string is expected).
    pub const INVALID_TYPE: &str = "invalid_type";
    /// A member the endpoint does not know; rejected so typos are not silently ignored.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// The value does not have the expected shape.
    pub const INVALID_FORMAT: &str = "invalid_format";
    /// The value is well-formed but not one of the allowed values.
    pub const INVALID_VALUE: &str = "invalid_value";
    /// The value is too short or too long.
    pub const INVALID_LENGTH: &str = "invalid_length";
    /// A `YYYY-MM-DD` value that is not a real calendar date (e.g. `2023-02-30`).
    pub const INVALID_DATE: &str = "invalid_date";
    /// A date that lies after the day of the check.
    pub const IN_FUTURE: &str = "in_future";
    /// A value that is syntactically fine but cannot be true (e.g. born before 1900).
    pub const IMPLAUSIBLE: &str = "implausible";
    /// The customer is younger than the minimum age.
    pub const TOO_YOUNG: &str = "too_young";
    /// A number outside its allowed range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
}

/// One invalid field: its name as the client sent it (`email`, `file`, `monthlyBudget`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name in the request (JSON member or multipart part).
    #[serde(rename = "name")]
    pub field: String,
    /// A stable machine-readable code, e.g. `required`, `invalid_format`, `too_young`.
    pub code: String,
    /// A human sentence; never echoes the submitted value (it may be PII).
    #[serde(rename = "reason")]
    pub message: String,
}

/// Every invalid field of one input; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(
        &mut self,
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was pushed, so a parser can end with `errors.into_result()?`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    pub fn single(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = Self::new();
        e.push(field, code, message);
        e
    }

    pub fn field_names(&self) -> Vec<String> {
        self.0.iter().map(|e| e.field.clone()).collect()
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Why one value was refused: a code from [`code`] and a sentence that never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl ValidationErrors {
    /// Records `rejection` against `field`.
    pub fn reject(&mut self, field: &str, rejection: Rejection) {
        self.push(field, rejection.code, rejection.message);
    }
}

/// Checks that `body` is a JSON object whose members are all in `known`.
///
/// A non-object is reported on the field `body` and yields `None`; every unknown member is reported
/// as `unknown_field` on its own name, and the object is still returned so the known members can be
/// checked too (the client sees every problem at once).
pub fn json_object<'a>(
    body: &'a Value,
    known: &[&str],
    errors: &mut ValidationErrors,
) -> Option<&'a Map<String, Value>> {
    let Some(object) = body.as_object() else {
        errors.push("body", code::INVALID_TYPE, "must be a JSON object");
        return None;
    };
    for name in object.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.push(
            name.as_str(),
            code::UNKNOWN_FIELD,
            format!("is not a known field; expected only {}", known.join(", ")),
        );
    }
    Some(object)
}

/// The string member `field` of `object`; reports `required` when it is absent or `null` and
/// `invalid_type` when it is not a string.
pub fn required_string<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Option<&'a str> {
    match object.get(field) {
        None | Some(Value::Null) => {
            errors.push(field, code::REQUIRED, "is required");
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(field, code::INVALID_TYPE, "must be a string");
            None
        }
    }
}

/// Runs `check` on the string member `field` and records its rejection, so a parser can check
/// every member in turn and still report all problems at once.
pub fn string_member<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut ValidationErrors,
    check: impl FnOnce(&str) -> Result<T, Rejection>,
) -> Option<T> {
    let raw = required_string(object, field, errors)?;
    check(raw).map_err(|r| errors.reject(field, r)).ok()
}

/// Parses a strict ISO 8601 calendar date `YYYY-MM-DD` (exactly ten characters, zero-padded).
///
/// Stricter than chrono's `%Y-%m-%d`, which also accepts `1990-1-5` and signed years.
pub fn parse_iso_date(raw: &str) -> Result<NaiveDate, Rejection> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Rejection::new(code::REQUIRED, "must not be empty"));
    }
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(Rejection::new(
            code::INVALID_FORMAT,
            "must be a date in the form YYYY-MM-DD",
        ));
    }
    // The shape check guarantees three ASCII digit groups, so these parses cannot fail.
    let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().unwrap_or(0);
    NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))
        .ok_or_else(|| Rejection::new(code::INVALID_DATE, "is not a real calendar date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iso_dates_must_be_zero_padded_real_calendar_days() {
        assert_eq!(
            parse_iso_date(" 2024-02-29 "),
            Ok(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
        );
        for (raw, expected) in [
            ("", code::REQUIRED),
            ("2024-2-29", code::INVALID_FORMAT),
            ("+2024-02-29", code::INVALID_FORMAT),
            ("2024/02/29", code::INVALID_FORMAT),
            ("2024-02-29T00:00", code::INVALID_FORMAT),
            ("２０２４-02-29", code::INVALID_FORMAT),
            ("2023-02-29", code::INVALID_DATE),
            ("2024-13-01", code::INVALID_DATE),
            ("2024-00-10", code::INVALID_DATE),
        ] {
            assert_eq!(parse_iso_date(raw).unwrap_err().code, expected, "{raw}");
        }
    }

    #[test]
    fn json_object_reports_unknown_members_and_still_returns_the_object() {
        let mut errors = ValidationErrors::new();
        let body = json!({"a": 1, "zz": 2});
        assert!(json_object(&body, &["a"], &mut errors).is_some());
        assert_eq!(errors.field_names(), ["zz"]);
        assert_eq!(errors.0[0].code, code::UNKNOWN_FIELD);

        let mut errors = ValidationErrors::new();
        assert!(json_object(&json!("x"), &["a"], &mut errors).is_none());
        assert_eq!(errors.field_names(), ["body"]);
    }

    #[test]
    fn string_member_distinguishes_missing_mistyped_and_rejected_values() {
        let body = json!({"n": null, "i": 1, "s": "bad", "ok": "fine"});
        let object = body.as_object().unwrap();
        let mut errors = ValidationErrors::new();
        let check = |raw: &str| {
            if raw == "fine" {
                Ok(raw.len())
            } else {
                Err(Rejection::new(code::INVALID_VALUE, "is not fine"))
            }
        };
        for name in ["missing", "n", "i", "s"] {
            assert_eq!(string_member(object, name, &mut errors, check), None);
        }
        assert_eq!(string_member(object, "ok", &mut errors, check), Some(4));
        let got: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("missing", code::REQUIRED),
                ("n", code::REQUIRED),
                ("i", code::INVALID_TYPE),
                ("s", code::INVALID_VALUE)
            ]
        );
    }
}
