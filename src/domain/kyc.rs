//! Know-your-customer assessment: age, document validity, name match and watch-list screening.

use super::customer::{age_on, MIN_AGE};
use super::document::DocumentFields;
use super::validation::parse_iso_date;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

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
    /// How this check came out, so clients and operators see which checks failed.
    pub verdict: Verdict,
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
    entries: Vec<WatchEntry>,
}

/// One listed person, kept only in the normalised form screening compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WatchEntry {
    /// Name tokens after [`normalize_name`], sorted so word order does not hide a match.
    sorted_tokens: Vec<String>,
    date_of_birth: Option<NaiveDate>,
    /// Which list the entry comes from (`sanctions`, `pep`, ...): not PII, so it may be shown.
    list: String,
}

/// The exact header of the CSV format.
const WATCH_LIST_HEADER: [&str; 4] = ["full_name", "date_of_birth", "list", "reason"];

static BUNDLED_WATCH_LIST: LazyLock<WatchList> = LazyLock::new(|| {
    WatchList::parse_csv(include_str!("../../data/watchlist.csv"))
        .expect("data/watchlist.csv is valid: a unit test parses it")
});

impl WatchList {
    /// The list bundled into the binary from `data/watchlist.csv`.
    pub fn bundled() -> Self {
        BUNDLED_WATCH_LIST.clone()
    }

    /// Parses the CSV format of `data/watchlist.csv`; errors name the line.
    ///
    /// Blank lines and lines starting with `#` are skipped; the first other line must be the
    /// header `full_name,date_of_birth,list,reason`. Fields may be quoted (RFC 4180) so a reason
    /// can contain commas. Errors never repeat a listed name.
    pub fn parse_csv(text: &str) -> Result<Self, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rows = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'));
        let expected_header = WATCH_LIST_HEADER.join(",");
        match rows.next() {
            None => {
                return Err(format!(
                    "the watch list has no header; expected {expected_header}"
                ))
            }
            Some((n, line)) => {
                let header = split_csv_line(line).map_err(|e| format!("line {n}: {e}"))?;
                if header.iter().map(String::as_str).ne(WATCH_LIST_HEADER) {
                    return Err(format!("line {n}: expected the header {expected_header}"));
                }
            }
        }
        let entries = rows
            .map(|(n, line)| parse_watch_entry(line).map_err(|e| format!("line {n}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries whose name has the same words as `name` (any order, after normalisation).
    fn matching<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a WatchEntry> {
        let tokens = sorted_tokens(name);
        self.entries
            .iter()
            .filter(move |e| !tokens.is_empty() && e.sorted_tokens == tokens)
    }
}

fn parse_watch_entry(line: &str) -> Result<WatchEntry, String> {
    let fields = split_csv_line(line)?;
    let [full_name, date_of_birth, list, _reason] =
        <[String; 4]>::try_from(fields).map_err(|f| {
            format!(
                "expected 4 fields ({}), found {}",
                WATCH_LIST_HEADER.join(", "),
                f.len()
            )
        })?;
    let sorted_tokens = sorted_tokens(&full_name);
    if sorted_tokens.is_empty() {
        return Err("full_name must contain letters".into());
    }
    let date_of_birth = if date_of_birth.is_empty() {
        None
    } else {
        Some(
            parse_iso_date(&date_of_birth)
                .map_err(|r| format!("date_of_birth {} (or be empty)", r.message))?,
        )
    };
    if list.is_empty() {
        return Err("list must not be empty".into());
    }
    Ok(WatchEntry {
        sorted_tokens,
        date_of_birth,
        list,
    })
}

/// Splits one CSV record (RFC 4180 quoting, no line breaks inside fields); fields are trimmed.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    // Whether the current field was quoted: text after its closing quote is an error.
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !quoted => {
                field.clear();
                in_quotes = true;
                quoted = true;
            }
            (false, ',') => {
                fields.push(field.trim().to_owned());
                field.clear();
                quoted = false;
            }
            (false, c) if quoted && !c.is_whitespace() => {
                return Err("unexpected text after a closing quote".into())
            }
            (false, '"') => return Err("a quote may only start a field".into()),
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field.trim().to_owned());
    Ok(fields)
}

/// Reduces a name to what screening and matching compare: lower-case words of letters and digits.
///
/// Accents and other diacritics are removed (`José` → `jose`, `Zoë` → `zoe`), letters that do not
/// decompose are spelled out (`ß` → `ss`, `Ø` → `o`, `Æ` → `ae`), apostrophes are dropped so
/// `O'Brien` equals `OBrien`, every other non-alphanumeric character separates words (so
/// `Jean-Luc` equals `Jean Luc`), and whitespace is collapsed.
pub fn normalize_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    // NFKD also splits compatibility forms (ligatures, full-width letters) into plain letters.
    for c in raw.nfkd().filter(|c| !is_combining_mark(*c)) {
        match c {
            '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' => {}
            c if c.is_alphanumeric() => {
                for lower in c.to_lowercase() {
                    match lower {
                        'ß' => out.push_str("ss"),
                        'æ' => out.push_str("ae"),
                        'œ' => out.push_str("oe"),
                        'þ' => out.push_str("th"),
                        'ø' => out.push('o'),
                        'đ' | 'ð' => out.push('d'),
                        'ł' => out.push('l'),
                        'ħ' => out.push('h'),
                        'ŧ' => out.push('t'),
                        'ı' => out.push('i'),
                        other => out.push(other),
                    }
                }
            }
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tokens(name: &str) -> Vec<String> {
    normalize_name(name)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn sorted_tokens(name: &str) -> Vec<String> {
    let mut t = tokens(name);
    t.sort();
    t
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

/// How one check came out; the decision is the worst verdict of all checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The check could not run (no document); another check already asks for review.
    Skipped,
    Pass,
    Review,
    Reject,
}

struct Check {
    verdict: Verdict,
    reason: KycReason,
}

impl Check {
    fn new(verdict: Verdict, code: &str, message: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: KycReason {
                code: code.to_owned(),
                verdict,
                message: message.into(),
            },
        }
    }
}

/// Runs every check and decides: any hard failure rejects, any doubt sends to review.
pub fn assess(input: &KycInput<'_>, watch_list: &WatchList) -> KycOutcome {
    // A utility bill proves an address, not an identity, so it cannot stand in for one.
    let document = input
        .identity_document
        .filter(|d| d.document_type.proves_identity());
    let checks = [
        check_age(input),
        check_document_present(input.identity_document),
        check_document_expiry(document, input.today),
        check_name_match(input, document),
        check_watch_list(input, document, watch_list),
    ];
    let decision = match checks.iter().map(|c| c.verdict).max() {
        Some(Verdict::Reject) => KycDecision::Rejected,
        Some(Verdict::Review) => KycDecision::Review,
        _ => KycDecision::Approved,
    };
    KycOutcome {
        decision,
        reasons: checks.into_iter().map(|c| c.reason).collect(),
    }
}

fn check_age(input: &KycInput<'_>) -> Check {
    if age_on(input.date_of_birth, input.today) >= MIN_AGE {
        Check::new(
            Verdict::Pass,
            "age",
            format!("The customer is at least {MIN_AGE} years old."),
        )
    } else {
        Check::new(
            Verdict::Reject,
            "age",
            format!("The customer is younger than {MIN_AGE}."),
        )
    }
}

fn check_document_present(document: Option<&DocumentFields>) -> Check {
    const CODE: &str = "document_present";
    match document {
        None => Check::new(
            Verdict::Review,
            CODE,
            "No identity document was provided; a person must verify the customer's identity.",
        ),
        Some(d) if !d.document_type.proves_identity() => Check::new(
            Verdict::Review,
            CODE,
            format!(
                "The document provided ({}) does not prove identity; a person must verify the customer's identity.",
                d.document_type.as_str()
            ),
        ),
        Some(d) => Check::new(
            Verdict::Pass,
            CODE,
            format!(
                "An identity document ({}) was provided.",
                d.document_type.as_str()
            ),
        ),
    }
}

const NOT_CHECKED: &str = "Not checked because no identity document was provided.";

fn check_document_expiry(document: Option<&DocumentFields>, today: NaiveDate) -> Check {
    const CODE: &str = "document_expiry";
    match document {
        None => Check::new(Verdict::Skipped, CODE, NOT_CHECKED),
        // A document is no longer valid on its expiry day.
        Some(d) if d.expiry_date <= today => {
            Check::new(Verdict::Reject, CODE, "The identity document has expired.")
        }
        Some(_) => Check::new(
            Verdict::Pass,
            CODE,
            "The identity document has not expired.",
        ),
    }
}

fn check_name_match(input: &KycInput<'_>, document: Option<&DocumentFields>) -> Check {
    const CODE: &str = "name_match";
    let Some(document) = document else {
        return Check::new(Verdict::Skipped, CODE, NOT_CHECKED);
    };
    let submitted = tokens(&format!("{} {}", input.first_name, input.last_name));
    let printed = tokens(&document.full_name);
    if submitted.is_empty() || printed.is_empty() {
        return Check::new(
            Verdict::Reject,
            CODE,
            "The name on the document cannot be compared with the submitted name.",
        );
    }
    if submitted == printed {
        return Check::new(
            Verdict::Pass,
            CODE,
            "The name on the document matches the submitted name.",
        );
    }
    let review = |message: &str| Check::new(Verdict::Review, CODE, message);
    let (mut s, mut p) = (submitted.clone(), printed.clone());
    s.sort();
    p.sort();
    if s == p {
        return review(
            "The name on the document has the submitted names in a different order; a person must review it.",
        );
    }
    if contains_all(&printed, &submitted) {
        return review(
            "The name on the document contains the submitted first and last names plus other names; a person must review it.",
        );
    }
    if submitted.concat() == printed.concat() {
        return review(
            "The name on the document matches the submitted name except for spacing; a person must review it.",
        );
    }
    Check::new(
        Verdict::Reject,
        CODE,
        "The name on the document does not match the submitted name.",
    )
}

/// Whether `haystack` holds every word of `needles`, each as often as it occurs there.
fn contains_all(haystack: &[String], needles: &[String]) -> bool {
    let mut remaining: Vec<&String> = haystack.iter().collect();
    needles
        .iter()
        .all(|n| match remaining.iter().position(|h| *h == n) {
            Some(i) => {
                remaining.swap_remove(i);
                true
            }
            None => false,
        })
}

/// Screens the submitted name and, if there is one, the name printed on the document: a listed
/// person could give a shortened name in the form while the document shows the listed one.
fn check_watch_list(
    input: &KycInput<'_>,
    document: Option<&DocumentFields>,
    watch_list: &WatchList,
) -> Check {
    const CODE: &str = "watch_list";
    let submitted = format!("{} {}", input.first_name, input.last_name);
    let names = std::iter::once(submitted.as_str()).chain(document.map(|d| d.full_name.as_str()));
    let hits: Vec<&WatchEntry> = names.flat_map(|n| watch_list.matching(n)).collect();
    if let Some(hit) = hits
        .iter()
        .find(|e| e.date_of_birth == Some(input.date_of_birth))
    {
        return Check::new(
            Verdict::Reject,
            CODE,
            format!(
                "The customer's name and date of birth match an entry on the {} screening list.",
                hit.list
            ),
        );
    }
    if let Some(hit) = hits.first() {
        return Check::new(
            Verdict::Review,
            CODE,
            format!(
                "The customer's name matches an entry on the {} screening list whose date of birth differs or is unknown; a person must review it.",
                hit.list
            ),
        );
    }
    Check::new(
        Verdict::Pass,
        CODE,
        "The customer does not match any entry on the screening list.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::DocumentType;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2025, 6, 15);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    fn passport(full_name: &str) -> DocumentFields {
        DocumentFields {
            document_type: DocumentType::Passport,
            document_number: "X1234567".into(),
            full_name: full_name.into(),
            expiry_date: day(2030, 1, 1),
        }
    }

    fn run(
        first: &str,
        last: &str,
        dob: NaiveDate,
        document: Option<&DocumentFields>,
    ) -> KycOutcome {
        assess(
            &KycInput {
                first_name: first,
                last_name: last,
                date_of_birth: dob,
                identity_document: document,
                today: today(),
            },
            &WatchList::bundled(),
        )
    }

    fn reason<'a>(outcome: &'a KycOutcome, code: &str) -> &'a str {
        &outcome
            .reasons
            .iter()
            .find(|r| r.code == code)
            .unwrap_or_else(|| panic!("no {code} reason"))
            .message
    }

    fn name_verdict(first: &str, last: &str, printed: &str) -> Verdict {
        let doc = passport(printed);
        let input = KycInput {
            first_name: first,
            last_name: last,
            date_of_birth: day(1990, 1, 1),
            identity_document: Some(&doc),
            today: today(),
        };
        check_name_match(&input, Some(&doc)).verdict
    }

    #[test]
    fn the_bundled_watch_list_parses_and_holds_the_documented_entries() {
        let list = WatchList::bundled();
        assert_eq!(list.len(), 20);
        let ivan: Vec<_> = list.matching("Ivan Sanctioned").collect();
        assert_eq!(ivan.len(), 1);
        assert_eq!(ivan[0].date_of_birth, Some(day(1970, 5, 5)));
        let maria: Vec<_> = list.matching("Maria Watchlisted").collect();
        assert_eq!(maria.len(), 1);
        assert_eq!(maria[0].date_of_birth, None);
        // The seed's example customer must pass screening.
        assert_eq!(list.matching("John Doe").count(), 0);
    }

    #[test]
    fn a_clean_adult_with_a_matching_valid_passport_is_approved_with_every_reason() {
        let doc = passport("JOHN DOE");
        let outcome = run("John", "Doe", day(1990, 1, 1), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Approved);
        let codes: Vec<_> = outcome.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "age",
                "document_present",
                "document_expiry",
                "name_match",
                "watch_list"
            ]
        );
    }

    #[test]
    fn a_minor_is_rejected_even_when_everything_else_passes() {
        let doc = passport("John Doe");
        let outcome = run("John", "Doe", day(2007, 6, 16), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
        assert_eq!(reason(&outcome, "age"), "The customer is younger than 18.");
        let adult = run("John", "Doe", day(2007, 6, 15), Some(&doc));
        assert_eq!(adult.decision, KycDecision::Approved);
    }

    #[test]
    fn without_an_identity_document_the_application_goes_to_review() {
        let outcome = run("John", "Doe", day(1990, 1, 1), None);
        assert_eq!(outcome.decision, KycDecision::Review);
        assert!(reason(&outcome, "document_present").contains("No identity document"));
        assert_eq!(reason(&outcome, "name_match"), NOT_CHECKED);
        assert_eq!(reason(&outcome, "document_expiry"), NOT_CHECKED);
    }

    #[test]
    fn a_utility_bill_does_not_count_as_an_identity_document() {
        let mut bill = passport("John Doe");
        bill.document_type = DocumentType::UtilityBill;
        bill.expiry_date = day(2000, 1, 1);
        let outcome = run("John", "Doe", day(1990, 1, 1), Some(&bill));
        assert_eq!(outcome.decision, KycDecision::Review);
        assert!(reason(&outcome, "document_present").contains("utility_bill"));
        // Its expiry is irrelevant, so it cannot reject.
        assert_eq!(reason(&outcome, "document_expiry"), NOT_CHECKED);
    }

    #[test]
    fn a_document_expiring_today_or_earlier_rejects() {
        for expiry in [today(), day(2020, 1, 1)] {
            let mut doc = passport("John Doe");
            doc.expiry_date = expiry;
            let outcome = run("John", "Doe", day(1990, 1, 1), Some(&doc));
            assert_eq!(outcome.decision, KycDecision::Rejected, "{expiry}");
            assert_eq!(
                reason(&outcome, "document_expiry"),
                "The identity document has expired."
            );
        }
        let mut doc = passport("John Doe");
        doc.expiry_date = today().succ_opt().unwrap();
        let outcome = run("John", "Doe", day(1990, 1, 1), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Approved);
    }

    #[test]
    fn names_match_regardless_of_case_accents_punctuation_and_spacing() {
        assert_eq!(name_verdict("José", "Núñez", "JOSE NUNEZ"), Verdict::Pass);
        assert_eq!(name_verdict("Zoë", "O'Brien", "zoe  obrien"), Verdict::Pass);
        assert_eq!(
            name_verdict("Jean-Luc", "Picard", "Jean Luc Picard"),
            Verdict::Pass
        );
        assert_eq!(
            name_verdict("Søren", "Strauß", "SOREN STRAUSS"),
            Verdict::Pass
        );
        assert_eq!(
            name_verdict("Łucja", "Dvořák", "Lucja Dvorak"),
            Verdict::Pass
        );
        assert_eq!(
            name_verdict("Anne", "O\u{2019}Neil", "Anne O'Neil"),
            Verdict::Pass
        );
    }

    #[test]
    fn reordered_names_or_extra_middle_names_go_to_review() {
        assert_eq!(name_verdict("John", "Doe", "DOE JOHN"), Verdict::Review);
        assert_eq!(
            name_verdict("John", "Doe", "John Michael Doe"),
            Verdict::Review
        );
        assert_eq!(
            name_verdict("John", "Doe", "DOE John Michael"),
            Verdict::Review
        );
        assert_eq!(
            name_verdict("Mary", "Ann Smith", "Maryann Smith"),
            Verdict::Review
        );
    }

    #[test]
    fn a_different_name_rejects() {
        assert_eq!(name_verdict("John", "Doe", "Jane Doe"), Verdict::Reject);
        assert_eq!(name_verdict("John", "Doe", "John"), Verdict::Reject);
        assert_eq!(name_verdict("John", "Doe", "John Smith"), Verdict::Reject);
        // A repeated word on the form needs the repetition on the document too.
        assert_eq!(name_verdict("John", "John", "John Doe"), Verdict::Reject);
        let doc = passport("Jane Roe");
        let outcome = run("John", "Doe", day(1990, 1, 1), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
    }

    #[test]
    fn a_listed_name_with_the_listed_date_of_birth_rejects() {
        let doc = passport("IVAN SANCTIONED");
        let outcome = run("Ivan", "Sanctioned", day(1970, 5, 5), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
        assert!(reason(&outcome, "watch_list").contains("sanctions screening list"));
    }

    #[test]
    fn a_listed_name_with_another_or_no_listed_date_of_birth_goes_to_review() {
        let doc = passport("Ivan Sanctioned");
        let outcome = run("Ivan", "Sanctioned", day(1971, 5, 5), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Review);
        let doc = passport("Maria Watchlisted");
        let outcome = run("maria", "WATCHLISTED", day(1980, 1, 1), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Review);
        assert!(reason(&outcome, "watch_list").contains("pep screening list"));
    }

    #[test]
    fn screening_folds_accents_word_order_and_checks_the_document_name_too() {
        let doc = passport("Fictício José");
        let outcome = run("Jose", "Ficticio", day(1968, 4, 22), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
        let doc = passport("Lars Oresund Fakename");
        let outcome = run("Lars", "Øresund-Fakename", day(1983, 10, 10), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
        // The form gives a short name, but the document shows the listed one.
        let doc = passport("Ivan Sanctioned");
        let outcome = run("Ivan", "S", day(1970, 5, 5), Some(&doc));
        assert_eq!(outcome.decision, KycDecision::Rejected);
        assert!(reason(&outcome, "watch_list").contains("match an entry"));
    }

    #[test]
    fn reasons_never_contain_names_dates_or_document_numbers() {
        let doc = passport("Ivan Sanctioned");
        let outcome = run("Ivan", "Sanctioned", day(1970, 5, 5), Some(&doc));
        for r in &outcome.reasons {
            let m = r.message.to_lowercase();
            for pii in ["ivan", "sanctioned", "1970", "x1234567", "2030"] {
                assert!(!m.contains(pii), "{} leaks {pii}: {}", r.code, r.message);
            }
        }
    }

    #[test]
    fn normalize_name_reduces_names_to_comparable_words() {
        assert_eq!(normalize_name("  José  María-Núñez "), "jose maria nunez");
        assert_eq!(normalize_name("O'Brien, Æsa"), "obrien aesa");
        assert_eq!(normalize_name("STRAẞE"), "strasse");
        assert_eq!(normalize_name("J.R.R. Tolkien"), "j r r tolkien");
        assert_eq!(normalize_name("\u{FB01}ona"), "fiona");
        assert_eq!(normalize_name("Jose\u{301}"), "jose");
        assert_eq!(normalize_name("--"), "");
    }

    #[test]
    fn watch_list_csv_errors_name_the_line() {
        let header = "full_name,date_of_birth,list,reason";
        let cases = [
            (String::new(), "no header"),
            ("name,dob\n".to_owned(), "line 1: expected the header"),
            (
                format!("# c\n\n{header}\nA B,1970-13-01,x,y\n"),
                "line 4: date_of_birth",
            ),
            (format!("{header}\nA B,,x\n"), "line 2: expected 4 fields"),
            (
                format!("{header}\nA B,,,r\n"),
                "line 2: list must not be empty",
            ),
            (
                format!("{header}\n--,,x,r\n"),
                "line 2: full_name must contain letters",
            ),
            (
                format!("{header}\nA B,,x,\"open\n"),
                "line 2: a quoted field is not closed",
            ),
            (
                format!("{header}\nA B,,x,\"r\"x\n"),
                "line 2: unexpected text after",
            ),
        ];
        for (text, expected) in cases {
            let err = WatchList::parse_csv(&text).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn watch_list_csv_accepts_quotes_bom_crlf_comments_and_empty_dates() {
        let text = "\u{feff}full_name,date_of_birth,list,reason\r\n\
                    # comment\r\n\
                    \"Doe, Jane\",1980-02-03,fraud,\"said \"\"hi\"\", twice\"\r\n\
                    \r\n\
                    Nobody Real , ,pep, \r\n";
        let list = WatchList::parse_csv(text).unwrap();
        assert_eq!(list.len(), 2);
        let jane: Vec<_> = list.matching("Jane Doe").collect();
        assert_eq!(jane[0].date_of_birth, Some(day(1980, 2, 3)));
        assert_eq!(jane[0].list, "fraud");
        assert_eq!(
            list.matching("nobody real").next().unwrap().date_of_birth,
            None
        );
        assert!(WatchList::parse_csv("full_name,date_of_birth,list,reason")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn split_csv_line_handles_rfc4180_quoting() {
        assert_eq!(split_csv_line("a, b ,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_csv_line("\"a,b\",\"\"").unwrap(), ["a,b", ""]);
        assert_eq!(split_csv_line(" \"x\" ,y").unwrap(), ["x", "y"]);
        assert!(split_csv_line("a\"b").is_err());
    }
}
