//! Rule-based policy recommendation from the product catalogue (`data/catalogue.toml`).

use super::money::{format_cents, parse_cents, MoneyError};
use super::validation::{code, json_object, string_member, Rejection, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Largest accepted monthly budget, in cents (1,000,000.00).
pub const MAX_BUDGET_CENTS: i64 = 100_000_000;
/// Oldest age a catalogue may name; anything above is a typo in the file.
const MAX_CATALOGUE_AGE: i64 = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoverageType {
    Life,
    Health,
    Auto,
    Home,
}

impl CoverageType {
    pub const ALL: [CoverageType; 4] = [Self::Life, Self::Health, Self::Auto, Self::Home];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Life => "life",
            Self::Health => "health",
            Self::Auto => "auto",
            Self::Home => "home",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// One product of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub policy_id: String,
    pub name: String,
    pub coverage_type: CoverageType,
    /// Monthly premium in cents, so money never meets floating point.
    pub monthly_premium_cents: i64,
    pub min_age: u32,
    pub max_age: u32,
    /// Higher is more comprehensive; the recommender prefers the highest tier that fits.
    pub tier: u32,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub products: Vec<Product>,
}

/// The validated request of `POST /v1/applications/{id}/policy-recommendation` and the customer's age.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendationRequest {
    pub coverage_type: CoverageType,
    /// In cents; `None` means no budget limit.
    pub monthly_budget_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub product: Product,
    /// Sentences explaining the choice (why this product, why not the others).
    pub reasons: Vec<String>,
}

static BUNDLED_CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::parse_toml(include_str!("../../data/catalogue.toml"))
        .expect("data/catalogue.toml is valid: a unit test parses it")
});

impl Catalogue {
    /// The catalogue bundled into the binary from `data/catalogue.toml`.
    pub fn bundled() -> Self {
        BUNDLED_CATALOGUE.clone()
    }

    /// Parses the TOML format of `data/catalogue.toml`; errors say which product is wrong.
    ///
    /// Every problem of every product is reported, joined by `; `, each prefixed with the
    /// product's `policyId` (or its position when the id itself is missing).
    pub fn parse_toml(text: &str) -> Result<Self, String> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("the catalogue is not valid TOML: {e}"))?;
        let mut problems = Vec::new();
        for key in table.keys().filter(|k| *k != "product") {
            problems.push(format!(
                "unknown top-level key {key}; expected only [[product]] tables"
            ));
        }
        let raw_products = match table.get("product") {
            Some(toml::Value::Array(items)) => items.as_slice(),
            Some(_) => return Err("product must be an array of [[product]] tables".into()),
            None => &[],
        };
        if raw_products.is_empty() {
            problems.push("the catalogue has no [[product]] tables".into());
        }
        let mut products = Vec::new();
        let mut seen = HashSet::new();
        for (i, raw) in raw_products.iter().enumerate() {
            let label = raw
                .get("policyId")
                .and_then(toml::Value::as_str)
                .filter(|id| !id.trim().is_empty())
                .map(|id| format!("product {id}"))
                .unwrap_or_else(|| format!("product #{}", i + 1));
            match product_from_toml(raw) {
                Ok(product) => {
                    if !seen.insert(product.policy_id.clone()) {
                        problems.push(format!("{label}: policyId is used by an earlier product"));
                    }
                    products.push(product);
                }
                Err(errors) => problems.extend(errors.into_iter().map(|e| format!("{label}: {e}"))),
            }
        }
        if problems.is_empty() {
            Ok(Self { products })
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn product(&self, policy_id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.policy_id == policy_id)
    }

    /// The best product for the request at the customer's age, or a sentence saying why none fits
    /// (shown to the client as a 422 on `monthlyBudget` or `coverageType`).
    ///
    /// Among the products of the requested coverage whose age range holds `age` and whose premium
    /// is within the budget, the highest tier wins; between equal tiers the cheaper one.
    pub fn recommend(
        &self,
        request: &RecommendationRequest,
        age: u32,
    ) -> Result<Recommendation, (String, String)> {
        let coverage = request.coverage_type.as_str();
        let budget = request.monthly_budget_cents;
        let of_coverage: Vec<&Product> = self
            .products
            .iter()
            .filter(|p| p.coverage_type == request.coverage_type)
            .collect();
        let age_fits = |p: &&Product| (p.min_age..=p.max_age).contains(&age);
        let budget_fits = |p: &&Product| budget.is_none_or(|b| p.monthly_premium_cents <= b);

        let eligible: Vec<&Product> = of_coverage.iter().copied().filter(age_fits).collect();
        let Some(cheapest) = eligible.iter().min_by_key(|p| p.monthly_premium_cents) else {
            return Err((
                "coverageType".into(),
                format!("no {coverage} product is available at the customer's age"),
            ));
        };
        let Some(chosen) = eligible
            .iter()
            .copied()
            .filter(budget_fits)
            .min_by(|a, b| preference(a, b))
        else {
            return Err((
                "monthlyBudget".into(),
                format!(
                    "the cheapest {coverage} product available at the customer's age costs {}/month, above the budget of {}",
                    format_cents(cheapest.monthly_premium_cents),
                    format_cents(budget.unwrap_or_default()),
                ),
            ));
        };

        let premium = format_cents(chosen.monthly_premium_cents);
        let mut reasons = vec![
            format!("{} provides the requested {coverage} coverage.", chosen.name),
            format!(
                "The customer's age is within its eligible range of {} to {}.",
                chosen.min_age, chosen.max_age
            ),
            match budget {
                Some(b) => format!(
                    "Its premium of {premium}/month fits the budget of {}.",
                    format_cents(b)
                ),
                None => format!(
                    "No budget was given, so the most comprehensive eligible product was chosen; its premium is {premium}/month."
                ),
            },
        ];
        // Explain every product that ranks above the choice, best first, so the customer sees
        // what a larger budget (or another age) would have offered.
        let mut better: Vec<&Product> = of_coverage
            .iter()
            .copied()
            .filter(|p| p.policy_id != chosen.policy_id && preference(p, chosen) == Ordering::Less)
            .collect();
        better.sort_by(|a, b| preference(a, b));
        for p in better {
            let price = format_cents(p.monthly_premium_cents);
            reasons.push(if !age_fits(&p) {
                format!(
                    "{} ({price}/month) is not available at the customer's age (eligible {} to {}).",
                    p.name, p.min_age, p.max_age
                )
            } else {
                format!(
                    "{} ({price}/month) exceeds the budget of {}.",
                    p.name,
                    format_cents(budget.unwrap_or_default())
                )
            });
        }
        Ok(Recommendation {
            product: chosen.clone(),
            reasons,
        })
    }
}

/// The recommender's order: higher tier first, then cheaper, then by id so ties are deterministic.
fn preference(a: &Product, b: &Product) -> Ordering {
    b.tier
        .cmp(&a.tier)
        .then(a.monthly_premium_cents.cmp(&b.monthly_premium_cents))
        .then_with(|| a.policy_id.cmp(&b.policy_id))
}

const PRODUCT_KEYS: [&str; 8] = [
    "policyId",
    "name",
    "coverageType",
    "monthlyPremium",
    "minAge",
    "maxAge",
    "tier",
    "description",
];

/// One `[[product]]` table; returns every problem of it, not just the first.
fn product_from_toml(raw: &toml::Value) -> Result<Product, Vec<String>> {
    let Some(table) = raw.as_table() else {
        return Err(vec!["must be a table".into()]);
    };
    let mut errors = Vec::new();
    for key in table.keys().filter(|k| !PRODUCT_KEYS.contains(&k.as_str())) {
        errors.push(format!("unknown key {key}"));
    }
    let mut text = |key: &str| match table.get(key).map(|v| v.as_str().map(str::trim)) {
        Some(Some(s)) if !s.is_empty() => Some(s.to_owned()),
        Some(Some(_)) | None => {
            errors.push(format!("{key} is required"));
            None
        }
        Some(None) => {
            errors.push(format!("{key} must be a string"));
            None
        }
    };
    let policy_id = text("policyId");
    let name = text("name");
    let description = text("description");
    let coverage_type = text("coverageType");
    let coverage_type = coverage_type.and_then(|c| {
        CoverageType::parse(&c).or_else(|| {
            errors.push(format!("coverageType must be one of {}", coverage_list()));
            None
        })
    });
    let monthly_premium_cents = match premium_cents(table.get("monthlyPremium")) {
        Ok(cents) => Some(cents),
        Err(e) => {
            errors.push(format!("monthlyPremium {e}"));
            None
        }
    };
    let mut integer = |key: &str, range: std::ops::RangeInclusive<i64>| match table
        .get(key)
        .map(toml::Value::as_integer)
    {
        Some(Some(n)) if range.contains(&n) => u32::try_from(n).ok(),
        Some(Some(_)) => {
            errors.push(format!(
                "{key} must be between {} and {}",
                range.start(),
                range.end()
            ));
            None
        }
        Some(None) => {
            errors.push(format!("{key} must be an integer"));
            None
        }
        None => {
            errors.push(format!("{key} is required"));
            None
        }
    };
    let min_age = integer("minAge", 0..=MAX_CATALOGUE_AGE);
    let max_age = integer("maxAge", 0..=MAX_CATALOGUE_AGE);
    let tier = integer("tier", 1..=i64::from(u32::MAX));
    if let (Some(min), Some(max)) = (min_age, max_age) {
        if min > max {
            errors.push("minAge must not be greater than maxAge".into());
        }
    }
    match (
        policy_id,
        name,
        description,
        coverage_type,
        monthly_premium_cents,
        min_age,
        max_age,
        tier,
    ) {
        (
            Some(policy_id),
            Some(name),
            Some(description),
            Some(coverage_type),
            Some(monthly_premium_cents),
            Some(min_age),
            Some(max_age),
            Some(tier),
        ) if errors.is_empty() => Ok(Product {
            policy_id,
            name,
            coverage_type,
            monthly_premium_cents,
            min_age,
            max_age,
            tier,
            description,
        }),
        _ => Err(errors),
    }
}

/// A premium written as a decimal string (preferred: `"49.90"`), an integer or a float, in
/// currency units; floats go through their shortest exact decimal form, never arithmetic.
fn premium_cents(value: Option<&toml::Value>) -> Result<i64, String> {
    let cents = match value {
        None => return Err("is required".into()),
        Some(toml::Value::String(s)) => parse_cents(s),
        Some(toml::Value::Integer(n)) => parse_cents(&n.to_string()),
        Some(toml::Value::Float(f)) if f.is_finite() => parse_cents(&f.to_string()),
        Some(_) => Err(MoneyError::NotANumber),
    }
    .map_err(|e| e.to_string())?;
    if cents <= 0 {
        return Err("must be greater than 0".into());
    }
    Ok(cents)
}

fn coverage_list() -> String {
    CoverageType::ALL.map(CoverageType::as_str).join(", ")
}

impl RecommendationRequest {
    /// Parses `{"coverageType": "life"|"health"|"auto"|"home", "monthlyBudget": number?}`.
    ///
    /// The budget is read from the JSON number's decimal text, so `49.9` is exactly 4,990 cents;
    /// it must be greater than 0, at most 1,000,000 and have at most two decimal places.
    pub fn parse(body: &serde_json::Value) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let Some(object) = json_object(body, &["coverageType", "monthlyBudget"], &mut errors)
        else {
            return Err(errors);
        };
        let coverage_type = string_member(object, "coverageType", &mut errors, |raw| {
            CoverageType::parse(raw.trim()).ok_or_else(|| {
                Rejection::new(
                    code::INVALID_VALUE,
                    format!("must be one of {}", coverage_list()),
                )
            })
        });
        let monthly_budget_cents = match object.get("monthlyBudget") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => budget_cents(&n.to_string()).map(Some),
            Some(_) => Err(Rejection::new(code::INVALID_TYPE, "must be a number")),
        };
        let monthly_budget_cents =
            monthly_budget_cents.map_err(|r| errors.reject("monthlyBudget", r));
        match (coverage_type, monthly_budget_cents) {
            (Some(coverage_type), Ok(monthly_budget_cents)) if errors.is_empty() => Ok(Self {
                coverage_type,
                monthly_budget_cents,
            }),
            _ => Err(errors),
        }
    }
}

fn budget_cents(number: &str) -> Result<i64, Rejection> {
    let too_large = || {
        Rejection::new(
            code::OUT_OF_RANGE,
            format!("must be at most {}", MAX_BUDGET_CENTS / 100),
        )
    };
    let cents = parse_cents(number).map_err(|e| match e {
        MoneyError::TooLarge => too_large(),
        MoneyError::TooPrecise => Rejection::new(code::INVALID_FORMAT, e.to_string()),
        MoneyError::NotANumber => Rejection::new(code::INVALID_TYPE, e.to_string()),
    })?;
    if cents <= 0 {
        return Err(Rejection::new(code::OUT_OF_RANGE, "must be greater than 0"));
    }
    if cents > MAX_BUDGET_CENTS {
        return Err(too_large());
    }
    Ok(cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(coverage_type: CoverageType, budget: Option<i64>) -> RecommendationRequest {
        RecommendationRequest {
            coverage_type,
            monthly_budget_cents: budget,
        }
    }

    fn recommend(coverage: CoverageType, budget: Option<i64>, age: u32) -> Recommendation {
        Catalogue::bundled()
            .recommend(&request(coverage, budget), age)
            .unwrap()
    }

    const PRODUCT: &str = r#"
[[product]]
policyId = "P-1"
name = "One"
coverageType = "life"
monthlyPremium = "10.00"
minAge = 18
maxAge = 60
tier = 1
description = "d"
"#;

    fn product_with(key: &str, value: &str) -> String {
        PRODUCT
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} =")) {
                    format!("{key} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_bundled_catalogue_has_three_tiers_with_distinct_premiums_per_coverage() {
        let catalogue = Catalogue::bundled();
        assert_eq!(catalogue.products.len(), 12);
        for coverage in CoverageType::ALL {
            let mut of: Vec<&Product> = catalogue
                .products
                .iter()
                .filter(|p| p.coverage_type == coverage)
                .collect();
            of.sort_by_key(|p| p.tier);
            assert_eq!(of.iter().map(|p| p.tier).collect::<Vec<_>>(), [1, 2, 3]);
            assert!(of
                .windows(2)
                .all(|w| w[0].monthly_premium_cents < w[1].monthly_premium_cents));
            // Every coverage has something for any adult up to 75.
            for age in [18, 40, 75] {
                assert!(of.iter().any(|p| (p.min_age..=p.max_age).contains(&age)));
            }
        }
        let premium_life = catalogue.product("LIFE-PREMIUM").unwrap();
        assert_eq!(premium_life.monthly_premium_cents, 8900);
        assert_eq!(premium_life.name, "Premium Life");
    }

    #[test]
    fn without_a_budget_the_highest_eligible_tier_is_recommended() {
        let r = recommend(CoverageType::Life, None, 30);
        assert_eq!(r.product.policy_id, "LIFE-PREMIUM");
        assert!(r.reasons[0].contains("life coverage"));
        assert!(r.reasons[2].contains("No budget was given"));
    }

    #[test]
    fn a_budget_picks_the_highest_tier_it_affords_and_explains_the_skipped_tiers() {
        let r = recommend(CoverageType::Life, Some(5000), 30);
        assert_eq!(r.product.policy_id, "LIFE-STANDARD");
        assert_eq!(
            r.reasons,
            vec![
                "Standard Life provides the requested life coverage.",
                "The customer's age is within its eligible range of 18 to 65.",
                "Its premium of 49.90/month fits the budget of 50.00.",
                "Premium Life (89.00/month) exceeds the budget of 50.00.",
            ]
        );
    }

    #[test]
    fn a_budget_equal_to_the_premium_fits() {
        let r = recommend(CoverageType::Life, Some(8900), 30);
        assert_eq!(r.product.policy_id, "LIFE-PREMIUM");
        let r = recommend(CoverageType::Life, Some(8899), 30);
        assert_eq!(r.product.policy_id, "LIFE-STANDARD");
    }

    #[test]
    fn age_limits_exclude_higher_tiers_and_the_reasons_say_so() {
        let r = recommend(CoverageType::Auto, None, 22);
        assert_eq!(r.product.policy_id, "AUTO-STANDARD");
        assert!(r.reasons.contains(
            &"Premium Auto (99.00/month) is not available at the customer's age (eligible 25 to 80)."
                .to_owned()
        ));
        let r = recommend(CoverageType::Life, None, 70);
        assert_eq!(r.product.policy_id, "LIFE-BASIC");
        assert_eq!(r.reasons.len(), 5);
    }

    #[test]
    fn within_one_tier_the_cheaper_product_wins() {
        let text = format!(
            "{PRODUCT}\n{}",
            product_with("policyId", "\"P-2\"").replace("\"10.00\"", "\"9.00\"")
        );
        let catalogue = Catalogue::parse_toml(&text).unwrap();
        let r = catalogue
            .recommend(&request(CoverageType::Life, None), 30)
            .unwrap();
        assert_eq!(r.product.policy_id, "P-2");
    }

    #[test]
    fn a_budget_below_every_eligible_premium_is_blamed_on_the_budget() {
        let (field, message) = Catalogue::bundled()
            .recommend(&request(CoverageType::Home, Some(1000)), 40)
            .unwrap_err();
        assert_eq!(field, "monthlyBudget");
        assert_eq!(
            message,
            "the cheapest home product available at the customer's age costs 14.90/month, above the budget of 10.00"
        );
    }

    #[test]
    fn no_product_for_the_age_is_blamed_on_the_coverage_type() {
        let (field, message) = Catalogue::bundled()
            .recommend(&request(CoverageType::Life, Some(1_000_000)), 80)
            .unwrap_err();
        assert_eq!(field, "coverageType");
        assert_eq!(
            message,
            "no life product is available at the customer's age"
        );
        let empty = Catalogue::default();
        let (field, _) = empty
            .recommend(&request(CoverageType::Home, None), 30)
            .unwrap_err();
        assert_eq!(field, "coverageType");
    }

    #[test]
    fn premiums_may_be_strings_integers_or_floats_and_are_stored_as_exact_cents() {
        for (value, cents) in [
            ("\"49.90\"", 4990),
            ("49", 4900),
            ("49.9", 4990),
            ("0.1", 10),
        ] {
            let c = Catalogue::parse_toml(&product_with("monthlyPremium", value)).unwrap();
            assert_eq!(c.products[0].monthly_premium_cents, cents, "{value}");
        }
    }

    #[test]
    fn catalogue_errors_name_the_product_and_list_every_problem() {
        let cases = [
            (
                product_with("monthlyPremium", "\"0\""),
                "product P-1: monthlyPremium must be greater than 0",
            ),
            (
                product_with("monthlyPremium", "\"-5\""),
                "product P-1: monthlyPremium must be greater than 0",
            ),
            (
                product_with("monthlyPremium", "\"9.999\""),
                "product P-1: monthlyPremium must have at most 2 decimal places",
            ),
            (
                product_with("monthlyPremium", "true"),
                "product P-1: monthlyPremium must be a decimal number",
            ),
            (
                product_with("minAge", "70"),
                "product P-1: minAge must not be greater than maxAge",
            ),
            (
                product_with("maxAge", "-1"),
                "product P-1: maxAge must be between 0 and 150",
            ),
            (
                product_with("tier", "0"),
                "product P-1: tier must be between 1 and",
            ),
            (
                product_with("tier", "\"gold\""),
                "product P-1: tier must be an integer",
            ),
            (
                product_with("coverageType", "\"pet\""),
                "product P-1: coverageType must be one of life, health, auto, home",
            ),
            (
                product_with("policyId", "\"\""),
                "product #1: policyId is required",
            ),
            (
                product_with("name", "\"  \""),
                "product P-1: name is required",
            ),
            (
                format!("{PRODUCT}colour = \"red\""),
                "product P-1: unknown key colour",
            ),
            (
                format!("{PRODUCT}{PRODUCT}"),
                "product P-1: policyId is used by an earlier product",
            ),
            ("title = \"x\"".to_owned(), "unknown top-level key title"),
            (String::new(), "the catalogue has no [[product]] tables"),
            ("[[product]".to_owned(), "the catalogue is not valid TOML"),
        ];
        for (text, expected) in cases {
            let err = Catalogue::parse_toml(&text).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
        let text = product_with("minAge", "\"x\"").replace("\"10.00\"", "\"0\"");
        let err = Catalogue::parse_toml(&text).unwrap_err();
        assert_eq!(
            err,
            "product P-1: monthlyPremium must be greater than 0; product P-1: minAge must be an integer"
        );
    }

    #[test]
    fn a_recommendation_request_parses_coverage_and_an_exact_budget() {
        let r =
            RecommendationRequest::parse(&json!({"coverageType": "life", "monthlyBudget": 49.9}))
                .unwrap();
        assert_eq!(r, request(CoverageType::Life, Some(4990)));
        let r = RecommendationRequest::parse(
            &json!({"coverageType": "home", "monthlyBudget": 1000000}),
        )
        .unwrap();
        assert_eq!(r.monthly_budget_cents, Some(MAX_BUDGET_CENTS));
        let r =
            RecommendationRequest::parse(&json!({"coverageType": "auto", "monthlyBudget": 0.07}))
                .unwrap();
        assert_eq!(r.monthly_budget_cents, Some(7));
        for body in [
            json!({"coverageType": "health"}),
            json!({"coverageType": "health", "monthlyBudget": null}),
        ] {
            let r = RecommendationRequest::parse(&body).unwrap();
            assert_eq!(r, request(CoverageType::Health, None));
        }
    }

    #[test]
    fn budgets_outside_the_rules_are_refused_with_a_code() {
        for (budget, expected) in [
            (json!(0), "out_of_range"),
            (json!(-10), "out_of_range"),
            (json!(1000000.01), "out_of_range"),
            (json!(1e300), "out_of_range"),
            (json!(49.999), "invalid_format"),
            (json!(0.001), "invalid_format"),
            (json!("49.90"), "invalid_type"),
            (json!(true), "invalid_type"),
        ] {
            let errors = RecommendationRequest::parse(
                &json!({"coverageType": "life", "monthlyBudget": budget}),
            )
            .unwrap_err();
            assert_eq!(errors.0.len(), 1, "{budget}");
            assert_eq!(errors.0[0].field, "monthlyBudget");
            assert_eq!(errors.0[0].code, expected, "{budget}");
        }
    }

    #[test]
    fn every_problem_of_a_recommendation_request_is_reported_at_once() {
        let errors = RecommendationRequest::parse(
            &json!({"coverageType": "boat", "monthlyBudget": "x", "extra": 1}),
        )
        .unwrap_err();
        let mut got: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("coverageType", "invalid_value"),
                ("extra", "unknown_field"),
                ("monthlyBudget", "invalid_type")
            ]
        );
        let errors = RecommendationRequest::parse(&json!({})).unwrap_err();
        assert_eq!(errors.field_names(), ["coverageType"]);
        assert_eq!(errors.0[0].code, "required");
        let errors = RecommendationRequest::parse(&json!([1])).unwrap_err();
        assert_eq!(errors.field_names(), ["body"]);
    }
}
