//! Rule-based policy recommendation from the product catalogue (`data/catalogue.toml`).

use serde::{Deserialize, Serialize};

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

impl Catalogue {
    /// The catalogue bundled into the binary from `data/catalogue.toml`.
    pub fn bundled() -> Self {
        todo!("domain helper")
    }

    /// Parses the TOML format of `data/catalogue.toml`; errors say which product is wrong.
    pub fn parse_toml(text: &str) -> Result<Self, String> {
        todo!("domain helper: {}", text.len())
    }

    pub fn product(&self, policy_id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.policy_id == policy_id)
    }

    /// The best product for the request at the customer's age, or a sentence saying why none fits
    /// (shown to the client as a 422 on `monthlyBudget` or `coverageType`).
    pub fn recommend(
        &self,
        request: &RecommendationRequest,
        age: u32,
    ) -> Result<Recommendation, (String, String)> {
        todo!("domain helper: {request:?} {age}")
    }
}

impl RecommendationRequest {
    /// Parses `{"coverageType": "life"|"health"|"auto"|"home", "monthlyBudget": number?}`.
    pub fn parse(body: &serde_json::Value) -> Result<Self, super::validation::ValidationErrors> {
        todo!("domain helper: {body}")
    }
}
