//! Field-level validation errors collected across a whole input, so a client sees every problem at once.

use serde::Serialize;

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
