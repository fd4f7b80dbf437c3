//! How domain values meet PostgreSQL columns (the conventions of
//! `migrations/postgres/0001_initial.sql`): UUID ids as `uuid`, instants as `timestamptz`, dates
//! as `date`, JSON as `jsonb` (bound through [`Jsonb`], read back as text with `::text`). The
//! rules shared with other adapters live in [`crate::adapters::sql_store`].

pub(super) use crate::adapters::sql_store::{
    corrupt, customer_id, from_json, known, sequence, sequence_param, text_value,
};
use crate::ports::store::StoreResult;
use serde::Serialize;

/// A value bound to a `jsonb` parameter, encoded once by serde before the query runs so an
/// encoding failure is a store error rather than a failed bind.
pub(super) type Jsonb = sqlx::types::Json<serde_json::Value>;

pub(super) fn jsonb<T: Serialize>(value: &T) -> StoreResult<Jsonb> {
    serde_json::to_value(value)
        .map(sqlx::types::Json)
        .map_err(|e| crate::ports::store::StoreError::Other(format!("cannot encode JSON: {e}")))
}
