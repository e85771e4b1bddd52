//! `digests`: the daily digest, one per day.

use sea_orm::entity::prelude::*;

/// The digest of one day.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "digests")]
pub struct Model {
    /// The day, `YYYY-MM-DD` (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    /// The digest as Markdown.
    #[sea_orm(column_type = "Text")]
    pub markdown: String,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// The digest generation it closed (none: made before migration 13).
    pub generation: Option<i64>,
    /// Whether its Markdown is stored (false: being made).
    pub made: bool,
}

/// Relations of `digests`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
