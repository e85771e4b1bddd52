//! The audit trail (SPEC §9): every mutation, sign-in, key change and case
//! transition, with who (the caller's actor), what, which object, the
//! request id, when and the outcome. A change writes its entry in its own
//! transaction, so there is never one without the other; a refusal (nothing
//! changed) is written alone.

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::Caller;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self as store, EntryFields, EntryFilter};

/// The outcome of a change that happened.
pub const OK: &str = "ok";

/// An action to record, before it is tied to a caller and an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// What, e.g. `recordPayment` or `key.revoke`.
    pub action: String,
    /// The kind of object acted on and its id.
    pub object: Option<(&'static str, String)>,
    /// `ok`, `duplicate`, `denied`, or a refusal's code.
    pub outcome: String,
    /// Anything else worth keeping.
    pub detail: Option<String>,
}

impl Action {
    /// `action` on `object`, done.
    pub fn ok(action: &str, object: Option<(&'static str, String)>) -> Self {
        Self {
            action: action.to_owned(),
            object,
            outcome: OK.to_owned(),
            detail: None,
        }
    }

    /// `action` on `object`, refused with `error` (nothing changed).
    pub fn refused(action: &str, object: Option<(&'static str, String)>, error: &AppError) -> Self {
        Self::refused_with(action, object, error.code().as_str(), error.to_string())
    }

    /// `action` on `object`, refused with `code` and `message`.
    pub fn refused_with(
        action: &str,
        object: Option<(&'static str, String)>,
        code: &str,
        message: String,
    ) -> Self {
        Self {
            action: action.to_owned(),
            object,
            outcome: code.to_owned(),
            detail: Some(message),
        }
    }

    /// The same action with `outcome`.
    pub fn with_outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.to_owned();
        self
    }

    /// The entry `caller` leaves at `at`.
    pub fn entry(self, caller: &Caller, at: DateTime<Utc>) -> EntryFields {
        let (object_type, object_id) = match self.object {
            Some((kind, id)) => (Some(kind.to_owned()), Some(id)),
            None => (None, None),
        };
        EntryFields {
            at,
            actor: caller.actor.audit_name(),
            action: self.action,
            object_type,
            object_id,
            request_id: caller.request_id.clone(),
            outcome: self.outcome,
            detail: self.detail,
        }
    }
}

/// Writes `action` by `caller` on `conn` (inside the caller's transaction
/// when the action changed something).
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    action: Action,
    at: DateTime<Utc>,
) -> AppResult<()> {
    Ok(store::insert(conn, vec![action.entry(caller, at)]).await?)
}

/// Writes a refusal by itself; a failure to write it is logged, not
/// returned, so that the client still gets the refusal's own code.
pub async fn record_refusal(
    db: &DatabaseConnection,
    caller: &Caller,
    action: Action,
    at: DateTime<Utc>,
) {
    if let Err(error) = record(db, caller, action, at).await {
        tracing::error!(%error, "could not record a refusal in the audit trail");
    }
}

/// Which entries an admin asks for.
pub type AuditFilter = EntryFilter;

/// One page of the trail, newest first.
#[derive(Clone, Debug)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<audit_log::Model>,
    /// More follow.
    pub has_next_page: bool,
}

/// Up to `first` entries under `filter`, older than entry `after` when given.
pub async fn page(
    db: &DatabaseConnection,
    filter: &AuditFilter,
    first: u64,
    after: Option<i64>,
) -> AppResult<AuditPage> {
    let mut entries = store::page(db, filter, after, first + 1).await?;
    let has_next_page = entries.len() as u64 > first;
    entries.truncate(first as usize);
    Ok(AuditPage {
        entries,
        has_next_page,
    })
}
