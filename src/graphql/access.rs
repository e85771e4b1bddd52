//! Who is asking (`me`) and the audit trail (`auditLog`, admin), SPEC §9.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::guard::Need;
use super::types::page_size;
use crate::domain::{self, Caller, Permission};
use crate::error::AppError;
use crate::service::audit::{self, AuditFilter};

/// Who the request acts as.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Actor")]
pub struct ActorInfo {
    /// The key's name (a person or a system), or `local` without sign-in.
    pub name: String,
    /// viewer, agent, ingest or admin.
    pub role: String,
}

/// One audited action.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEntry {
    /// The entry's id.
    pub id: ID,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `key:NAME`, `session:NAME`, `network:CIDR`, `local` or `cli`.
    pub actor: String,
    /// What: a mutation's name, `session.sign_in`, `key.create`, …
    pub action: String,
    /// The kind of object acted on.
    pub object_type: Option<String>,
    /// Its id.
    pub object_id: Option<ID>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// `ok`, `duplicate`, or the refusal's code.
    pub outcome: String,
    /// More about it.
    pub detail: Option<String>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(e: audit_log::Model) -> Self {
        Self {
            id: ID(e.id.to_string()),
            at: e.at,
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id.map(ID),
            request_id: e.request_id,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

/// A position in the audit trail: the id of the last entry seen.
pub struct AuditCursor(pub i64);

impl CursorType for AuditCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        s.parse()
            .map(Self)
            .map_err(|_| format!("{s:?} is not a cursor of the audit log"))
    }

    fn encode_cursor(&self) -> String {
        self.0.to_string()
    }
}

/// Queries about access.
#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// Who this request acts as; null without credentials.
    async fn me(&self, ctx: &Context<'_>) -> Option<ActorInfo> {
        ctx.data_opt::<Caller>().map(|caller| ActorInfo {
            name: caller.actor.name.clone(),
            role: domain::role_name(caller.actor.role).to_owned(),
        })
    }

    /// The audit trail, newest first (admin): every mutation, sign-in, key
    /// change and case transition, with who, what, which object, the
    /// request id and the outcome. Filters combine.
    #[graphql(guard = "Need(Permission::Admin)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per filter of the SPEC §9 contract"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        actor: Option<String>,
        action: Option<String>,
        object_type: Option<String>,
        object_id: Option<ID>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<AuditCursor, AuditEntry>> {
        let first = page_size(first.or(Some(50))).gql()?;
        let after = after
            .map(|a| {
                AuditCursor::decode_cursor(&a)
                    .map(|c| c.0)
                    .map_err(|reason| AppError::bad_input("after", reason))
            })
            .transpose()
            .gql()?;
        let filter = AuditFilter {
            actor,
            action,
            object_type,
            object_id: object_id.map(|id| id.0),
        };
        let db = ctx.data::<DatabaseConnection>()?;
        let page = audit::page(db, &filter, first, after).await.gql()?;
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        connection.edges.extend(
            page.entries
                .into_iter()
                .map(|e| Edge::new(AuditCursor(e.id), e.into())),
        );
        Ok(connection)
    }
}
