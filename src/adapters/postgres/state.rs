//! Onboarding state tables: customers, applications, documents, KYC results, recommendations
//! and idempotent responses. Functions take any executor so the pool (plain reads) and a write
//! transaction share one query each.

use super::codec::{self, corrupt};
use super::error::db;
use crate::domain::customer::Email;
use crate::domain::document::{ContentKind, DocumentType};
use crate::domain::ids::{ApplicationId, CustomerId, DocumentId};
use crate::domain::kyc::KycDecision;
use crate::domain::policy::CoverageType;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationRecord, CustomerRecord, DocumentRecord, IdempotentResponse, KycRecord,
    RecommendationRecord, StoreError, StoreResult,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Executor, FromRow, Postgres};
use uuid::Uuid;

// ---- customers ---------------------------------------------------------------------------

#[derive(FromRow)]
struct CustomerRow {
    customer_id: String,
    email: String,
    first_name: String,
    last_name: String,
    date_of_birth: NaiveDate,
    phone_number: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<CustomerRow> for CustomerRecord {
    type Error = StoreError;
    fn try_from(r: CustomerRow) -> StoreResult<Self> {
        Ok(Self {
            customer_id: codec::customer_id("customers.customer_id", &r.customer_id)?,
            email: codec::text_value("customers.email", r.email)?,
            first_name: codec::text_value("customers.first_name", r.first_name)?,
            last_name: codec::text_value("customers.last_name", r.last_name)?,
            date_of_birth: r.date_of_birth,
            phone_number: codec::text_value("customers.phone_number", r.phone_number)?,
            created_at: r.created_at,
        })
    }
}

pub(super) async fn customer<'e, E>(ex: E, id: &CustomerId) -> StoreResult<Option<CustomerRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query_as::<_, CustomerRow>(
        "SELECT customer_id, email, first_name, last_name, date_of_birth, phone_number, created_at
         FROM customers WHERE customer_id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(ex)
    .await
    .map_err(db)?
    .map(CustomerRecord::try_from)
    .transpose()
}

pub(super) async fn customer_id_by_email<'e, E>(
    ex: E,
    email: &Email,
) -> StoreResult<Option<CustomerId>>
where
    E: Executor<'e, Database = Postgres>,
{
    let found: Option<String> =
        sqlx::query_scalar("SELECT customer_id FROM customers WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(ex)
            .await
            .map_err(db)?;
    found
        .map(|id| codec::customer_id("customers.customer_id", &id))
        .transpose()
}

pub(super) async fn insert_customer<'e, E>(ex: E, c: &CustomerRecord) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO customers
           (customer_id, email, first_name, last_name, date_of_birth, phone_number, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.customer_id.as_str())
    .bind(c.email.as_str())
    .bind(c.first_name.as_str())
    .bind(c.last_name.as_str())
    .bind(c.date_of_birth)
    .bind(c.phone_number.as_str())
    .bind(c.created_at)
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}

// ---- applications ------------------------------------------------------------------------

#[derive(FromRow)]
struct ApplicationRow {
    application_id: Uuid,
    customer_id: String,
    status: String,
    policy_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ApplicationRow> for ApplicationRecord {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> StoreResult<Self> {
        Ok(Self {
            application_id: ApplicationId(r.application_id),
            customer_id: codec::customer_id("applications.customer_id", &r.customer_id)?,
            status: codec::known("applications.status", ApplicationStatus::parse(&r.status))?,
            policy_id: r.policy_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const APPLICATION_COLUMNS: &str =
    "application_id, customer_id, status, policy_id, created_at, updated_at";

/// The application; with `lock`, also takes its row lock until the transaction ends, so two
/// steps on one application run one after the other.
pub(super) async fn application<'e, E>(
    ex: E,
    id: ApplicationId,
    lock: bool,
) -> StoreResult<Option<ApplicationRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as::<_, ApplicationRow>(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications WHERE application_id = $1{lock}"
    ))
    .bind(id.0)
    .fetch_optional(ex)
    .await
    .map_err(db)?
    .map(ApplicationRecord::try_from)
    .transpose()
}

pub(super) async fn applications_of<'e, E>(
    ex: E,
    customer: &CustomerId,
) -> StoreResult<Vec<ApplicationRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query_as::<_, ApplicationRow>(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications WHERE customer_id = $1
         ORDER BY created_at DESC, application_id DESC"
    ))
    .bind(customer.as_str())
    .fetch_all(ex)
    .await
    .map_err(db)?
    .into_iter()
    .map(ApplicationRecord::try_from)
    .collect()
}

pub(super) async fn insert_application<'e, E>(ex: E, a: &ApplicationRecord) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(&format!(
        "INSERT INTO applications ({APPLICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(a.application_id.0)
    .bind(a.customer_id.as_str())
    .bind(a.status.as_str())
    .bind(a.policy_id.as_deref())
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn update_application<'e, E>(
    ex: E,
    id: ApplicationId,
    status: ApplicationStatus,
    policy_id: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    let done = sqlx::query(
        "UPDATE applications SET status = $1, policy_id = $2, updated_at = $3
         WHERE application_id = $4",
    )
    .bind(status.as_str())
    .bind(policy_id)
    .bind(at)
    .bind(id.0)
    .execute(ex)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        // The caller read the application in this transaction; a missing row is a bug upstream.
        return Err(StoreError::Other(format!("no application {id} to update")));
    }
    Ok(())
}

// ---- documents ---------------------------------------------------------------------------

#[derive(FromRow)]
struct DocumentRow {
    document_id: Uuid,
    application_id: Uuid,
    document_type: String,
    document_number: String,
    full_name: String,
    expiry_date: NaiveDate,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    stored_path: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<DocumentRow> for DocumentRecord {
    type Error = StoreError;
    fn try_from(r: DocumentRow) -> StoreResult<Self> {
        Ok(Self {
            document_id: DocumentId(r.document_id),
            application_id: ApplicationId(r.application_id),
            document_type: codec::known(
                "documents.document_type",
                DocumentType::parse(&r.document_type),
            )?,
            document_number: r.document_number,
            full_name: r.full_name,
            expiry_date: r.expiry_date,
            content_kind: codec::known(
                "documents.content_type",
                ContentKind::parse_mime(&r.content_type),
            )?,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            stored_path: r.stored_path,
            created_at: r.created_at,
        })
    }
}

pub(super) async fn documents<'e, E>(
    ex: E,
    application: ApplicationId,
) -> StoreResult<Vec<DocumentRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query_as::<_, DocumentRow>(
        "SELECT document_id, application_id, document_type, document_number, full_name,
                expiry_date, content_type, size_bytes, sha256, stored_path, created_at
         FROM documents WHERE application_id = $1
         ORDER BY created_at, document_id",
    )
    .bind(application.0)
    .fetch_all(ex)
    .await
    .map_err(db)?
    .into_iter()
    .map(DocumentRecord::try_from)
    .collect()
}

pub(super) async fn insert_document<'e, E>(ex: E, d: &DocumentRecord) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO documents
           (document_id, application_id, document_type, document_number, full_name, expiry_date,
            content_type, size_bytes, sha256, stored_path, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(d.document_id.0)
    .bind(d.application_id.0)
    .bind(d.document_type.as_str())
    .bind(&d.document_number)
    .bind(&d.full_name)
    .bind(d.expiry_date)
    .bind(d.content_kind.mime())
    .bind(d.size_bytes)
    .bind(&d.sha256)
    .bind(&d.stored_path)
    .bind(d.created_at)
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}

// ---- KYC results -------------------------------------------------------------------------

#[derive(FromRow)]
struct KycRow {
    application_id: Uuid,
    document_id: Option<Uuid>,
    decision: String,
    reasons: String,
    checked_at: DateTime<Utc>,
}

impl TryFrom<KycRow> for KycRecord {
    type Error = StoreError;
    fn try_from(r: KycRow) -> StoreResult<Self> {
        Ok(Self {
            application_id: ApplicationId(r.application_id),
            document_id: r.document_id.map(DocumentId),
            decision: codec::known("kyc_results.decision", KycDecision::parse(&r.decision))?,
            reasons: codec::from_json("kyc_results.reasons", &r.reasons)?,
            checked_at: r.checked_at,
        })
    }
}

/// The newest KYC result of the application.
pub(super) async fn kyc_result<'e, E>(
    ex: E,
    application: ApplicationId,
) -> StoreResult<Option<KycRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query_as::<_, KycRow>(
        "SELECT application_id, document_id, decision, reasons::text AS reasons, checked_at
         FROM kyc_results WHERE application_id = $1
         ORDER BY checked_at DESC, seq DESC LIMIT 1",
    )
    .bind(application.0)
    .fetch_optional(ex)
    .await
    .map_err(db)?
    .map(KycRecord::try_from)
    .transpose()
}

pub(super) async fn insert_kyc_result<'e, E>(ex: E, k: &KycRecord) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO kyc_results (application_id, document_id, decision, reasons, checked_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(k.application_id.0)
    .bind(k.document_id.map(|d| d.0))
    .bind(k.decision.as_str())
    .bind(codec::jsonb(&k.reasons)?)
    .bind(k.checked_at)
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}

// ---- policy recommendations --------------------------------------------------------------

#[derive(FromRow)]
struct RecommendationRow {
    application_id: Uuid,
    policy_id: String,
    product_name: String,
    coverage_type: String,
    monthly_premium_cents: i64,
    monthly_budget_cents: Option<i64>,
    reasons: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<RecommendationRow> for RecommendationRecord {
    type Error = StoreError;
    fn try_from(r: RecommendationRow) -> StoreResult<Self> {
        Ok(Self {
            application_id: ApplicationId(r.application_id),
            policy_id: r.policy_id,
            product_name: r.product_name,
            coverage_type: codec::known(
                "policy_recommendations.coverage_type",
                CoverageType::parse(&r.coverage_type),
            )?,
            monthly_premium_cents: r.monthly_premium_cents,
            monthly_budget_cents: r.monthly_budget_cents,
            reasons: codec::from_json("policy_recommendations.reasons", &r.reasons)?,
            created_at: r.created_at,
        })
    }
}

pub(super) async fn recommendation<'e, E>(
    ex: E,
    application: ApplicationId,
) -> StoreResult<Option<RecommendationRecord>>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query_as::<_, RecommendationRow>(
        "SELECT application_id, policy_id, product_name, coverage_type, monthly_premium_cents,
                monthly_budget_cents, reasons::text AS reasons, created_at
         FROM policy_recommendations WHERE application_id = $1",
    )
    .bind(application.0)
    .fetch_optional(ex)
    .await
    .map_err(db)?
    .map(RecommendationRecord::try_from)
    .transpose()
}

pub(super) async fn upsert_recommendation<'e, E>(ex: E, r: &RecommendationRecord) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO policy_recommendations
           (application_id, policy_id, product_name, coverage_type, monthly_premium_cents,
            monthly_budget_cents, reasons, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (application_id) DO UPDATE SET
           policy_id = excluded.policy_id,
           product_name = excluded.product_name,
           coverage_type = excluded.coverage_type,
           monthly_premium_cents = excluded.monthly_premium_cents,
           monthly_budget_cents = excluded.monthly_budget_cents,
           reasons = excluded.reasons,
           created_at = excluded.created_at",
    )
    .bind(r.application_id.0)
    .bind(&r.policy_id)
    .bind(&r.product_name)
    .bind(r.coverage_type.as_str())
    .bind(r.monthly_premium_cents)
    .bind(r.monthly_budget_cents)
    .bind(codec::jsonb(&r.reasons)?)
    .bind(r.created_at)
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}

// ---- idempotent responses ----------------------------------------------------------------

#[derive(FromRow)]
struct IdempotentRow {
    request_hash: String,
    status: i32,
    body: String,
}

pub(super) async fn idempotent_response<'e, E>(
    ex: E,
    customer: &CustomerId,
    key: &str,
) -> StoreResult<Option<IdempotentResponse>>
where
    E: Executor<'e, Database = Postgres>,
{
    let row = sqlx::query_as::<_, IdempotentRow>(
        "SELECT request_hash, status, body FROM idempotency_keys
         WHERE customer_id = $1 AND idempotency_key = $2",
    )
    .bind(customer.as_str())
    .bind(key)
    .fetch_optional(ex)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok(IdempotentResponse {
            request_hash: r.request_hash,
            status: u16::try_from(r.status)
                .map_err(|_| corrupt("idempotency_keys.status", "is not an HTTP status"))?,
            body: r.body,
        })
    })
    .transpose()
}

/// A concurrent transaction that inserted the same key first makes this insert wait for it,
/// then fail with a unique violation (`Conflict`) once it commits.
pub(super) async fn save_idempotent_response<'e, E>(
    ex: E,
    customer: &CustomerId,
    key: &str,
    response: &IdempotentResponse,
) -> StoreResult<()>
where
    E: Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO idempotency_keys
           (customer_id, idempotency_key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(customer.as_str())
    .bind(key)
    .bind(&response.request_hash)
    .bind(i32::from(response.status))
    .bind(&response.body)
    .bind(Utc::now())
    .execute(ex)
    .await
    .map_err(db)?;
    Ok(())
}
