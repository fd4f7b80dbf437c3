//! One check's verdict (ok, warn, fail, skip) with what was seen and the remedy, and how a list
//! of them prints: aligned lines for a person, one JSON array for a script.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but an operator should look (lag above the limit, a group that never committed).
    Warn,
    /// Broken: `onboard doctor` exits non-zero.
    Fail,
    /// Not applicable to this setup, or not checkable because an earlier check failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
            Self::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Stable name of the check (`bus.brokers`, `store.schema`, ...).
    pub check: &'static str,
    pub status: Status,
    /// What was seen, naming the broker, server or file concerned.
    pub detail: String,
    /// What to do about it; none when healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl Verdict {
    pub fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, detail, None)
    }

    pub fn skip(check: &'static str, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Skip, detail, None)
    }

    pub fn warn(check: &'static str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, detail, Some(remedy.into()))
    }

    pub fn fail(check: &'static str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, detail, Some(remedy.into()))
    }

    fn new(
        check: &'static str,
        status: Status,
        detail: impl Into<String>,
        remedy: Option<String>,
    ) -> Self {
        Self {
            check,
            status,
            detail: detail.into(),
            remedy,
        }
    }
}

/// Whether every verdict allows a healthy exit (warnings and skips do).
pub fn healthy(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.status != Status::Fail)
}

/// One line per check (`STATUS  CHECK  DETAIL`), the remedy indented below it.
pub fn render_text(verdicts: &[Verdict]) -> String {
    let width = verdicts.iter().map(|v| v.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for v in verdicts {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            v.status.label(),
            v.check,
            v.detail
        ));
        if let Some(remedy) = &v.remedy {
            out.push_str(&format!("{:<4}  {:<width$}  remedy: {remedy}\n", "", ""));
        }
    }
    out
}

/// `{"healthy": bool, "checks": [...]}`.
pub fn render_json(verdicts: &[Verdict]) -> String {
    serde_json::json!({ "healthy": healthy(verdicts), "checks": verdicts }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_makes_the_report_unhealthy_and_prints_its_remedy() {
        let verdicts = vec![
            Verdict::ok("store.schema", "up to date"),
            Verdict::fail("bus.brokers", "127.0.0.1:1 refused", "start the broker"),
            Verdict::warn("bus.lag", "lag 5000", "add consumers"),
        ];
        assert!(!healthy(&verdicts));
        let text = render_text(&verdicts);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "OK    store.schema  up to date");
        assert_eq!(lines[1], "FAIL  bus.brokers   127.0.0.1:1 refused");
        assert_eq!(lines[2], "                    remedy: start the broker");
        let json: serde_json::Value = serde_json::from_str(&render_json(&verdicts)).unwrap();
        assert_eq!(json["healthy"], false);
        assert_eq!(json["checks"][1]["status"], "fail");
        assert!(json["checks"][0].get("remedy").is_none());
    }

    #[test]
    fn warnings_and_skips_stay_healthy() {
        let verdicts = vec![
            Verdict::warn("bus.lag", "lag 5000", "add consumers"),
            Verdict::skip("store.clock", "same machine"),
        ];
        assert!(healthy(&verdicts));
    }
}
