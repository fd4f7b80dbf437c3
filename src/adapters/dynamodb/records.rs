//! Each record of the store port as a DynamoDB item and back. Attribute names are camelCase
//! like the seed's (`customerId`, `connectionId`); key attributes come from [`super::tables::attr`].

use super::codec::{time_key, ttl_seconds, Fields, Item, ItemBuilder};
use super::tables::attr;
use crate::domain::document::{ContentKind, DocumentType};
use crate::domain::event::Topic;
use crate::domain::ids::{ApplicationId, ConnectionId, DocumentId, EventId};
use crate::domain::kyc::KycDecision;
use crate::domain::policy::CoverageType;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationProjection, ApplicationRecord, AuditEntry, ConnectionRecord, CustomerRecord,
    DocumentRecord, IdempotentResponse, KycRecord, Notification, NotificationKind,
    RecommendationRecord, StoreResult,
};

pub(super) fn customer_item(c: &CustomerRecord) -> Item {
    ItemBuilder::default()
        .s(attr::CUSTOMER_ID, c.customer_id.as_str())
        .s("email", c.email.as_str())
        .s("firstName", c.first_name.as_str())
        .s("lastName", c.last_name.as_str())
        .s(
            "dateOfBirth",
            c.date_of_birth.format("%Y-%m-%d").to_string(),
        )
        .s("phoneNumber", c.phone_number.as_str())
        .instant("createdAt", c.created_at)
        .build()
}

pub(super) fn customer_record(item: &Item) -> StoreResult<CustomerRecord> {
    let f = Fields::of("users", item);
    Ok(CustomerRecord {
        customer_id: f.customer_id(attr::CUSTOMER_ID)?,
        email: f.value("email")?,
        first_name: f.value("firstName")?,
        last_name: f.value("lastName")?,
        date_of_birth: f.date("dateOfBirth")?,
        phone_number: f.value("phoneNumber")?,
        created_at: f.instant("createdAt")?,
    })
}

/// The application with its optimistic `version` (1 for a new one).
pub(super) fn application_item(a: &ApplicationRecord, version: u64) -> Item {
    ItemBuilder::default()
        .s(attr::APPLICATION_ID, a.application_id.to_string())
        .s(attr::CUSTOMER_ID, a.customer_id.as_str())
        .s(attr::CREATED_KEY, time_key(a.created_at, a.application_id))
        .s("status", a.status.as_str())
        .opt_s(
            attr::IN_PROGRESS_STATUS,
            ApplicationStatus::IN_PROGRESS
                .contains(&a.status)
                .then(|| a.status.as_str()),
        )
        .opt_s("policyId", a.policy_id.as_deref())
        .instant("createdAt", a.created_at)
        .instant(attr::UPDATED_AT, a.updated_at)
        .n("version", version)
        .build()
}

/// The application and the version it was read at.
pub(super) fn application_record(item: &Item) -> StoreResult<(ApplicationRecord, u64)> {
    let f = Fields::of("applications", item);
    Ok((
        ApplicationRecord {
            application_id: f.uuid(attr::APPLICATION_ID, ApplicationId)?,
            customer_id: f.customer_id(attr::CUSTOMER_ID)?,
            status: f.known("status", ApplicationStatus::parse)?,
            policy_id: f.opt_text("policyId")?,
            created_at: f.instant("createdAt")?,
            updated_at: f.instant("updatedAt")?,
        },
        f.unsigned("version")?,
    ))
}

pub(super) fn document_item(d: &DocumentRecord) -> Item {
    ItemBuilder::default()
        .s(attr::APPLICATION_ID, d.application_id.to_string())
        .s(attr::DOCUMENT_KEY, time_key(d.created_at, d.document_id))
        .s("documentId", d.document_id.to_string())
        .s("documentType", d.document_type.as_str())
        .s("documentNumber", d.document_number.as_str())
        .s("fullName", d.full_name.as_str())
        .s("expiryDate", d.expiry_date.format("%Y-%m-%d").to_string())
        .s("contentType", d.content_kind.mime())
        .n("sizeBytes", d.size_bytes)
        .s("sha256", d.sha256.as_str())
        .s("storedPath", d.stored_path.as_str())
        .instant("createdAt", d.created_at)
        .build()
}

pub(super) fn document_record(item: &Item) -> StoreResult<DocumentRecord> {
    let f = Fields::of("documents", item);
    Ok(DocumentRecord {
        document_id: f.uuid("documentId", DocumentId)?,
        application_id: f.uuid(attr::APPLICATION_ID, ApplicationId)?,
        document_type: f.known("documentType", DocumentType::parse)?,
        document_number: f.text("documentNumber")?,
        full_name: f.text("fullName")?,
        expiry_date: f.date("expiryDate")?,
        content_kind: f.known("contentType", ContentKind::parse_mime)?,
        size_bytes: f.int("sizeBytes")?,
        sha256: f.text("sha256")?,
        stored_path: f.text("storedPath")?,
        created_at: f.instant("createdAt")?,
    })
}

/// Sort key `<checkedAt>#<uuid v7>`: the newest result sorts last, ties by insertion order.
pub(super) fn kyc_item(k: &KycRecord) -> StoreResult<Item> {
    Ok(ItemBuilder::default()
        .s(attr::APPLICATION_ID, k.application_id.to_string())
        .s(
            attr::CHECKED_KEY,
            time_key(k.checked_at, uuid::Uuid::now_v7()),
        )
        .opt_s("documentId", k.document_id.map(|d| d.to_string()))
        .s("decision", k.decision.as_str())
        .json("reasons", &k.reasons)?
        .instant("checkedAt", k.checked_at)
        .build())
}

pub(super) fn kyc_record(item: &Item) -> StoreResult<KycRecord> {
    let f = Fields::of("kyc_results", item);
    Ok(KycRecord {
        application_id: f.uuid(attr::APPLICATION_ID, ApplicationId)?,
        document_id: f.opt_uuid("documentId", DocumentId)?,
        decision: f.known("decision", KycDecision::parse)?,
        reasons: f.json("reasons")?,
        checked_at: f.instant("checkedAt")?,
    })
}

pub(super) fn recommendation_item(r: &RecommendationRecord) -> StoreResult<Item> {
    Ok(ItemBuilder::default()
        .s(attr::APPLICATION_ID, r.application_id.to_string())
        .s("policyId", r.policy_id.as_str())
        .s("productName", r.product_name.as_str())
        .s("coverageType", r.coverage_type.as_str())
        .n("monthlyPremiumCents", r.monthly_premium_cents)
        .opt_n("monthlyBudgetCents", r.monthly_budget_cents)
        .json("reasons", &r.reasons)?
        .instant("createdAt", r.created_at)
        .build())
}

pub(super) fn recommendation_record(item: &Item) -> StoreResult<RecommendationRecord> {
    let f = Fields::of("recommendations", item);
    Ok(RecommendationRecord {
        application_id: f.uuid(attr::APPLICATION_ID, ApplicationId)?,
        policy_id: f.text("policyId")?,
        product_name: f.text("productName")?,
        coverage_type: f.known("coverageType", CoverageType::parse)?,
        monthly_premium_cents: f.int("monthlyPremiumCents")?,
        monthly_budget_cents: f.opt_int("monthlyBudgetCents")?,
        reasons: f.json("reasons")?,
        created_at: f.instant("createdAt")?,
    })
}

pub(super) fn idempotent_item(claim: &str, r: &IdempotentResponse, expires_at: i64) -> Item {
    ItemBuilder::default()
        .s(attr::CLAIM, claim)
        .s("requestHash", r.request_hash.as_str())
        .n("status", r.status)
        .s("body", r.body.as_str())
        .n(attr::EXPIRES_AT, expires_at)
        .build()
}

pub(super) fn idempotent_record(item: &Item) -> StoreResult<IdempotentResponse> {
    let f = Fields::of("idempotency", item);
    Ok(IdempotentResponse {
        request_hash: f.text("requestHash")?,
        status: f.unsigned("status")?,
        body: f.text("body")?,
    })
}

pub(super) fn audit_item(a: &AuditEntry) -> Item {
    ItemBuilder::default()
        .s(attr::CUSTOMER_ID, a.customer_id.as_str())
        .s(attr::AUDIT_KEY, time_key(a.at, a.event_id))
        .s(attr::EVENT_ID, a.event_id.to_string())
        .opt_s(
            attr::APPLICATION_ID,
            a.application_id.map(|a| a.to_string()),
        )
        .s("action", a.action.as_str())
        .instant("at", a.at)
        .build()
}

pub(super) fn audit_record(item: &Item) -> StoreResult<AuditEntry> {
    let f = Fields::of("audit", item);
    Ok(AuditEntry {
        event_id: f.uuid(attr::EVENT_ID, EventId)?,
        customer_id: f.customer_id(attr::CUSTOMER_ID)?,
        application_id: f.opt_uuid(attr::APPLICATION_ID, ApplicationId)?,
        action: f.text("action")?,
        at: f.instant("at")?,
    })
}

/// A notification's event type (its event's topic); `applicationId` is absent when the event
/// has no application.
const EVENT_TYPE: &str = "eventType";
/// A notification's correlation id, absent on items written before it was kept.
const CORRELATION_ID: &str = "correlationId";

/// A new, undelivered notification: in the due index from its creation on.
pub(super) fn notification_item(n: &Notification) -> Item {
    ItemBuilder::default()
        .s(attr::NOTIFICATION_ID, n.id.as_str())
        .s(attr::EVENT_ID, n.event_id.to_string())
        .s("kind", n.kind.as_str())
        .s(EVENT_TYPE, n.event_type.as_str())
        .opt_s(
            attr::APPLICATION_ID,
            n.application_id.map(|a| a.to_string()),
        )
        .opt_s(CORRELATION_ID, n.correlation_id.as_deref())
        .s("recipient", n.recipient.as_str())
        .s("subject", n.subject.as_str())
        .s("body", n.body.as_str())
        .instant("createdAt", n.created_at)
        .n("attempts", n.attempts)
        .s(attr::DUE_SHARD, super::notifications::DUE)
        .instant(attr::NEXT_ATTEMPT_AT, n.created_at)
        .build()
}

pub(super) fn notification_record(item: &Item) -> StoreResult<Notification> {
    let f = Fields::of("notifications", item);
    Ok(Notification {
        id: f.text(attr::NOTIFICATION_ID)?,
        event_id: f.uuid(attr::EVENT_ID, EventId)?,
        kind: f.known("kind", NotificationKind::parse)?,
        event_type: f.known(EVENT_TYPE, |raw| Topic::parse(raw).ok())?,
        application_id: f.opt_uuid(attr::APPLICATION_ID, ApplicationId)?,
        correlation_id: f.opt_text(CORRELATION_ID)?,
        recipient: f.text("recipient")?,
        subject: f.text("subject")?,
        body: f.text("body")?,
        created_at: f.instant("createdAt")?,
        attempts: f.unsigned("attempts")?,
    })
}

pub(super) fn connection_item(c: &ConnectionRecord) -> Item {
    ItemBuilder::default()
        .s(attr::CONNECTION_ID, c.connection_id.to_string())
        .s(attr::CUSTOMER_ID, c.customer_id.as_str())
        .s(
            attr::CONNECTED_KEY,
            time_key(c.connected_at, c.connection_id),
        )
        .s("nodeId", c.node_id.as_str())
        .s("nodeUrl", c.node_url.as_str())
        .s("sourceIp", c.source_ip.as_str())
        .instant("connectedAt", c.connected_at)
        .instant("lastSeenAt", c.last_seen_at)
        .instant("expiresAt", c.expires_at)
        .n(attr::TTL, ttl_seconds(c.expires_at))
        .build()
}

pub(super) fn connection_record(item: &Item) -> StoreResult<ConnectionRecord> {
    let f = Fields::of("websocket_connections", item);
    Ok(ConnectionRecord {
        connection_id: f.uuid(attr::CONNECTION_ID, ConnectionId)?,
        customer_id: f.customer_id(attr::CUSTOMER_ID)?,
        node_id: f.text("nodeId")?,
        node_url: f.text("nodeUrl")?,
        source_ip: f.text("sourceIp")?,
        connected_at: f.instant("connectedAt")?,
        last_seen_at: f.instant("lastSeenAt")?,
        expires_at: f.instant("expiresAt")?,
    })
}

/// A projection with the sequence of the event its status came from and its version.
#[derive(Debug, Clone)]
pub(super) struct StoredProjection {
    pub projection: ApplicationProjection,
    pub status_sequence: u64,
    pub version: u64,
}

pub(super) fn projection_item(p: &StoredProjection) -> Item {
    let v = &p.projection;
    ItemBuilder::default()
        .s(attr::APPLICATION_ID, v.application_id.to_string())
        .s(attr::CUSTOMER_ID, v.customer_id.as_str())
        .opt_s("status", v.status.map(ApplicationStatus::as_str))
        .n("statusSequence", p.status_sequence)
        .s("lastEventId", v.last_event_id.to_string())
        .s("lastEventType", v.last_event_type.as_str())
        .n("lastSequence", v.last_sequence)
        .n("eventCount", v.event_count)
        .instant("updatedAt", v.updated_at)
        .n("version", p.version)
        .build()
}

pub(super) fn projection_record(item: &Item) -> StoreResult<StoredProjection> {
    let f = Fields::of("projections", item);
    Ok(StoredProjection {
        projection: ApplicationProjection {
            application_id: f.uuid(attr::APPLICATION_ID, ApplicationId)?,
            customer_id: f.customer_id(attr::CUSTOMER_ID)?,
            status: f
                .opt_text("status")?
                .map(|_| f.known("status", ApplicationStatus::parse))
                .transpose()?,
            last_event_id: f.uuid("lastEventId", EventId)?,
            last_event_type: f.known("lastEventType", |t| Topic::parse(t).ok())?,
            last_sequence: f.unsigned("lastSequence")?,
            event_count: f.int("eventCount")?,
            updated_at: f.instant("updatedAt")?,
        },
        status_sequence: f.unsigned("statusSequence")?,
        version: f.unsigned("version")?,
    })
}
