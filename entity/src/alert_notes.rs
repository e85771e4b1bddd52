//! `alert_notes`: the thread of notes on a case.

use sea_orm::entity::prelude::*;

/// One note on a case.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_notes")]
pub struct Model {
    /// Surrogate key; the thread's order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The case.
    pub alert_id: i64,
    /// When it was written.
    pub at: DateTimeUtc,
    /// Who wrote it (the audit trail's name of the actor).
    pub author: String,
    /// What they wrote.
    #[sea_orm(column_type = "Text")]
    pub text: String,
}

/// Relations of `alert_notes`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
