//! `api_keys`: the keys clients and people authenticate with; only a hash
//! of each key is stored.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::Role;

/// One API key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who holds it (a person or a system), unique.
    #[sea_orm(unique)]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// SHA-256 of the key, hex.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTimeUtc>,
}

/// Relations of `api_keys`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Sessions opened with the key.
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
