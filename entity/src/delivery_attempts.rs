//! `delivery_attempts`: every try of every delivery.

use sea_orm::entity::prelude::*;

/// One try.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The delivery tried.
    pub delivery_id: i64,
    /// When the request was sent.
    pub at: DateTimeUtc,
    /// The answer's HTTP status; none without an answer.
    pub status_code: Option<i32>,
    /// From sending to the answer (or the failure), in milliseconds.
    pub latency_ms: i32,
    /// What went wrong, if anything.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

/// Relations of `delivery_attempts`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
