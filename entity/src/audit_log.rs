//! `audit_log`: every mutation, sign-in, key change and case transition.

use sea_orm::entity::prelude::*;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Surrogate key, in the order of writing.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When.
    pub at: DateTimeUtc,
    /// Who: `key:NAME`, `session:NAME`, `network:CIDR`, `local` or `cli`.
    pub actor: String,
    /// What, e.g. `recordPayment`, `session.sign_in`, `key.revoke`.
    pub action: String,
    /// The kind of object acted on.
    pub object_type: Option<String>,
    /// Its id.
    pub object_id: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// `ok`, `duplicate`, `denied`, or the refusal's code.
    pub outcome: String,
    /// Anything else worth keeping.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
}

/// `audit_log` has no relations: entries outlive what they name.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
