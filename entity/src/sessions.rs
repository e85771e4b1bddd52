//! `sessions`: console sign-ins, kept server-side so they can be revoked.

use sea_orm::entity::prelude::*;

/// One browser session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the cookie's token, hex.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The key the person signed in with.
    pub key_id: i64,
    /// When it was opened.
    pub created_at: DateTimeUtc,
    /// When it ends by itself.
    pub expires_at: DateTimeUtc,
    /// When it was ended (sign-out, key revoked).
    pub revoked_at: Option<DateTimeUtc>,
}

/// Relations of `sessions`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The key signed in with.
    #[sea_orm(
        belongs_to = "super::api_keys::Entity",
        from = "Column::KeyId",
        to = "super::api_keys::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    ApiKeys,
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
