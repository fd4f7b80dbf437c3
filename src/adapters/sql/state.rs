//! Onboarding state tables: customers, applications, documents, KYC results, recommendations
//! and idempotent responses. Each query takes a connection, so plain reads (a pooled
//! connection) and a step's write transaction share it; the [`StepStore`] reads are here too.

use super::query::{parameter_list, sql, Columns, MAX_IDS_PER_STATEMENT};
use super::tx::SqlTx;
use super::{Dialect, SqlStore};
use crate::domain::customer::Email;
use crate::domain::document::{ContentKind, DocumentType};
use crate::domain::ids::{ApplicationId, CustomerId, DocumentId};
use crate::domain::kyc::KycDecision;
use crate::domain::policy::CoverageType;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationRecord, CustomerRecord, DocumentRecord, IdempotentResponse, KycRecord,
    RecommendationRecord, StepStore, StoreError, StoreResult, StoreTx,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

#[async_trait]
impl<D: Dialect> StepStore for SqlStore<D> {
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(SqlTx::<D> {
            tx: self.write_tx().await?,
        }))
    }

    async fn idempotent_response(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>> {
        idempotent_response::<D>(&mut *self.read_conn().await?, customer, key).await
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        customer::<D>(&mut *self.read_conn().await?, id).await
    }

    /// One read per [`MAX_IDS_PER_STATEMENT`] customers.
    async fn customers(
        &self,
        ids: &[CustomerId],
    ) -> StoreResult<HashMap<CustomerId, CustomerRecord>> {
        let mut found = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(found);
        }
        let mut conn = self.read_conn().await?;
        for chunk in ids.chunks(MAX_IDS_PER_STATEMENT) {
            let statement = format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id IN ({})",
                parameter_list(1, chunk.len())
            );
            let statement = chunk.iter().fold(sql::<D>(&statement), |statement, id| {
                statement.text(id.as_str())
            });
            for row in statement.fetch_all(&mut *conn).await? {
                let customer = customer_row::<D>(&row)?;
                found.insert(customer.customer_id.clone(), customer);
            }
        }
        Ok(found)
    }

    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>> {
        application::<D>(&mut *self.read_conn().await?, id, "").await
    }

    async fn documents(&self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        documents::<D>(&mut *self.read_conn().await?, application).await
    }

    async fn kyc_result(&self, application: ApplicationId) -> StoreResult<Option<KycRecord>> {
        kyc_result::<D>(&mut *self.read_conn().await?, application).await
    }

    async fn recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        recommendation::<D>(&mut *self.read_conn().await?, application).await
    }
}

// ---- customers ---------------------------------------------------------------------------

fn customer_row<D: Dialect>(row: &D::Row) -> StoreResult<CustomerRecord> {
    let c = Columns::<D>::of("customers", row);
    Ok(CustomerRecord {
        customer_id: c.customer_id("customer_id")?,
        email: c.value("email")?,
        first_name: c.value("first_name")?,
        last_name: c.value("last_name")?,
        date_of_birth: c.date("date_of_birth")?,
        phone_number: c.value("phone_number")?,
        created_at: c.instant("created_at")?,
    })
}

const CUSTOMER_COLUMNS: &str =
    "customer_id, email, first_name, last_name, date_of_birth, phone_number, created_at";

pub(super) async fn customer<D: Dialect>(
    conn: &mut D::Connection,
    id: &CustomerId,
) -> StoreResult<Option<CustomerRecord>> {
    let statement = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id = $1");
    sql::<D>(&statement)
        .text(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|row| customer_row::<D>(&row))
        .transpose()
}

pub(super) async fn customer_id_by_email<D: Dialect>(
    conn: &mut D::Connection,
    email: &Email,
) -> StoreResult<Option<CustomerId>> {
    sql::<D>("SELECT customer_id FROM customers WHERE email = $1")
        .text(email.as_str())
        .fetch_optional(conn)
        .await?
        .map(|row| Columns::<D>::of("customers", &row).customer_id("customer_id"))
        .transpose()
}

pub(super) async fn insert_customer<D: Dialect>(
    conn: &mut D::Connection,
    c: &CustomerRecord,
) -> StoreResult<()> {
    sql::<D>(
        "INSERT INTO customers
           (customer_id, email, first_name, last_name, date_of_birth, phone_number, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(c.customer_id.as_str())
    .text(c.email.as_str())
    .text(c.first_name.as_str())
    .text(c.last_name.as_str())
    .date(c.date_of_birth)
    .text(c.phone_number.as_str())
    .instant(c.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- applications ------------------------------------------------------------------------

fn application_row<D: Dialect>(row: &D::Row) -> StoreResult<ApplicationRecord> {
    let c = Columns::<D>::of("applications", row);
    Ok(ApplicationRecord {
        application_id: c.id("application_id", ApplicationId)?,
        customer_id: c.customer_id("customer_id")?,
        status: c.known("status", ApplicationStatus::parse)?,
        policy_id: c.opt_text("policy_id")?,
        created_at: c.instant("created_at")?,
        updated_at: c.instant("updated_at")?,
    })
}

const APPLICATION_COLUMNS: &str =
    "application_id, customer_id, status, policy_id, created_at, updated_at";

/// The application; `lock` ends the statement (the dialect's row lock, or nothing).
pub(super) async fn application<D: Dialect>(
    conn: &mut D::Connection,
    id: ApplicationId,
    lock: &str,
) -> StoreResult<Option<ApplicationRecord>> {
    let statement =
        format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE application_id = $1{lock}");
    sql::<D>(&statement)
        .uuid(id.0)
        .fetch_optional(conn)
        .await?
        .map(|row| application_row::<D>(&row))
        .transpose()
}

pub(super) async fn applications_of<D: Dialect>(
    conn: &mut D::Connection,
    customer: &CustomerId,
) -> StoreResult<Vec<ApplicationRecord>> {
    let statement = format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications WHERE customer_id = $1
         ORDER BY created_at DESC, application_id DESC"
    );
    sql::<D>(&statement)
        .text(customer.as_str())
        .fetch_all(conn)
        .await?
        .iter()
        .map(application_row::<D>)
        .collect()
}

/// Applications in `status` last changed before `changed_before`, oldest change first.
pub(super) async fn applications_stalled_in<D: Dialect>(
    conn: &mut D::Connection,
    status: ApplicationStatus,
    changed_before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<ApplicationRecord>> {
    let statement = format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications WHERE status = $1 AND updated_at < $2
         ORDER BY updated_at, application_id LIMIT $3"
    );
    sql::<D>(&statement)
        .text(status.as_str())
        .instant(changed_before)
        .int(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(application_row::<D>)
        .collect()
}

pub(super) async fn insert_application<D: Dialect>(
    conn: &mut D::Connection,
    a: &ApplicationRecord,
) -> StoreResult<()> {
    let statement =
        format!("INSERT INTO applications ({APPLICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
    sql::<D>(&statement)
        .uuid(a.application_id.0)
        .text(a.customer_id.as_str())
        .text(a.status.as_str())
        .opt_text(a.policy_id.as_deref())
        .instant(a.created_at)
        .instant(a.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn update_application<D: Dialect>(
    conn: &mut D::Connection,
    id: ApplicationId,
    status: ApplicationStatus,
    policy_id: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = sql::<D>(
        "UPDATE applications SET status = $1, policy_id = $2, updated_at = $3
         WHERE application_id = $4",
    )
    .text(status.as_str())
    .opt_text(policy_id)
    .instant(at)
    .uuid(id.0)
    .execute(conn)
    .await?;
    if changed == 0 {
        // The caller read the application in this transaction; a missing row is a bug upstream.
        return Err(StoreError::Other(format!("no application {id} to update")));
    }
    Ok(())
}

// ---- documents ---------------------------------------------------------------------------

fn document_row<D: Dialect>(row: &D::Row) -> StoreResult<DocumentRecord> {
    let c = Columns::<D>::of("documents", row);
    Ok(DocumentRecord {
        document_id: c.id("document_id", DocumentId)?,
        application_id: c.id("application_id", ApplicationId)?,
        document_type: c.known("document_type", DocumentType::parse)?,
        document_number: c.text("document_number")?,
        full_name: c.text("full_name")?,
        expiry_date: c.date("expiry_date")?,
        content_kind: c.known("content_type", ContentKind::parse_mime)?,
        size_bytes: c.int("size_bytes")?,
        sha256: c.text("sha256")?,
        stored_path: c.text("stored_path")?,
        created_at: c.instant("created_at")?,
    })
}

pub(super) async fn documents<D: Dialect>(
    conn: &mut D::Connection,
    application: ApplicationId,
) -> StoreResult<Vec<DocumentRecord>> {
    sql::<D>(
        "SELECT document_id, application_id, document_type, document_number, full_name,
                expiry_date, content_type, size_bytes, sha256, stored_path, created_at
         FROM documents WHERE application_id = $1
         ORDER BY created_at, document_id",
    )
    .uuid(application.0)
    .fetch_all(conn)
    .await?
    .iter()
    .map(document_row::<D>)
    .collect()
}

pub(super) async fn insert_document<D: Dialect>(
    conn: &mut D::Connection,
    d: &DocumentRecord,
) -> StoreResult<()> {
    sql::<D>(
        "INSERT INTO documents
           (document_id, application_id, document_type, document_number, full_name, expiry_date,
            content_type, size_bytes, sha256, stored_path, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .uuid(d.document_id.0)
    .uuid(d.application_id.0)
    .text(d.document_type.as_str())
    .text(d.document_number.as_str())
    .text(d.full_name.as_str())
    .date(d.expiry_date)
    .text(d.content_kind.mime())
    .int(d.size_bytes)
    .text(d.sha256.as_str())
    .text(d.stored_path.as_str())
    .instant(d.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- KYC results -------------------------------------------------------------------------

/// The newest KYC result of the application.
pub(super) async fn kyc_result<D: Dialect>(
    conn: &mut D::Connection,
    application: ApplicationId,
) -> StoreResult<Option<KycRecord>> {
    let Some(row) = sql::<D>(
        "SELECT application_id, document_id, decision, reasons, checked_at
         FROM kyc_results WHERE application_id = $1
         ORDER BY checked_at DESC, seq DESC LIMIT 1",
    )
    .uuid(application.0)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let c = Columns::<D>::of("kyc_results", &row);
    Ok(Some(KycRecord {
        application_id: c.id("application_id", ApplicationId)?,
        document_id: c.opt_id("document_id", DocumentId)?,
        decision: c.known("decision", KycDecision::parse)?,
        reasons: c.json("reasons")?,
        checked_at: c.instant("checked_at")?,
    }))
}

pub(super) async fn insert_kyc_result<D: Dialect>(
    conn: &mut D::Connection,
    k: &KycRecord,
) -> StoreResult<()> {
    sql::<D>(
        "INSERT INTO kyc_results (application_id, document_id, decision, reasons, checked_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .uuid(k.application_id.0)
    .opt_uuid(k.document_id.map(|d| d.0))
    .text(k.decision.as_str())
    .json(&k.reasons)
    .instant(k.checked_at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- policy recommendations --------------------------------------------------------------

pub(super) async fn recommendation<D: Dialect>(
    conn: &mut D::Connection,
    application: ApplicationId,
) -> StoreResult<Option<RecommendationRecord>> {
    let Some(row) = sql::<D>(
        "SELECT application_id, policy_id, product_name, coverage_type, monthly_premium_cents,
                monthly_budget_cents, reasons, created_at
         FROM policy_recommendations WHERE application_id = $1",
    )
    .uuid(application.0)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let c = Columns::<D>::of("policy_recommendations", &row);
    Ok(Some(RecommendationRecord {
        application_id: c.id("application_id", ApplicationId)?,
        policy_id: c.text("policy_id")?,
        product_name: c.text("product_name")?,
        coverage_type: c.known("coverage_type", CoverageType::parse)?,
        monthly_premium_cents: c.int("monthly_premium_cents")?,
        monthly_budget_cents: c.opt_int("monthly_budget_cents")?,
        reasons: c.json("reasons")?,
        created_at: c.instant("created_at")?,
    }))
}

pub(super) async fn upsert_recommendation<D: Dialect>(
    conn: &mut D::Connection,
    r: &RecommendationRecord,
) -> StoreResult<()> {
    sql::<D>(
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
    .uuid(r.application_id.0)
    .text(r.policy_id.as_str())
    .text(r.product_name.as_str())
    .text(r.coverage_type.as_str())
    .int(r.monthly_premium_cents)
    .opt_int(r.monthly_budget_cents)
    .json(&r.reasons)
    .instant(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- idempotent responses ----------------------------------------------------------------

pub(super) async fn idempotent_response<D: Dialect>(
    conn: &mut D::Connection,
    customer: &CustomerId,
    key: &str,
) -> StoreResult<Option<IdempotentResponse>> {
    // `status` is a 32-bit integer in PostgreSQL; read as 64-bit like every other integer.
    let Some(row) = sql::<D>(
        "SELECT request_hash, CAST(status AS BIGINT) AS status, body FROM idempotency_keys
         WHERE customer_id = $1 AND idempotency_key = $2",
    )
    .text(customer.as_str())
    .text(key)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let c = Columns::<D>::of("idempotency_keys", &row);
    Ok(Some(IdempotentResponse {
        request_hash: c.text("request_hash")?,
        status: u16::try_from(c.int("status")?)
            .map_err(|_| super::corrupt("idempotency_keys.status", "is not an HTTP status"))?,
        body: c.text("body")?,
    }))
}

/// A key stored first by another transaction makes this insert fail with a unique violation
/// (`Conflict`); on PostgreSQL it waits for that transaction to end first.
pub(super) async fn save_idempotent_response<D: Dialect>(
    conn: &mut D::Connection,
    customer: &CustomerId,
    key: &str,
    response: &IdempotentResponse,
) -> StoreResult<()> {
    sql::<D>(
        "INSERT INTO idempotency_keys
           (customer_id, idempotency_key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .text(customer.as_str())
    .text(key)
    .text(response.request_hash.as_str())
    .int(i64::from(response.status))
    .text(response.body.as_str())
    .instant(Utc::now())
    .execute(conn)
    .await?;
    Ok(())
}
