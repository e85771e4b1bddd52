//! `audit_log`: the trail of who did what.

use chrono::{DateTime, Utc};
use entity::audit_log::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// An entry to write: every column but the id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFields {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The kind of object acted on.
    pub object_type: Option<String>,
    /// Its id.
    pub object_id: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// More.
    pub detail: Option<String>,
}

impl EntryFields {
    fn active_model(self) -> ActiveModel {
        ActiveModel {
            at: Set(self.at),
            actor: Set(self.actor),
            action: Set(self.action),
            object_type: Set(self.object_type),
            object_id: Set(self.object_id),
            request_id: Set(self.request_id),
            outcome: Set(self.outcome),
            detail: Set(self.detail),
            ..Default::default()
        }
    }
}

/// Writes `entries` (in the caller's transaction, when it has one).
pub async fn insert<C: ConnectionTrait>(conn: &C, entries: Vec<EntryFields>) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    Entity::insert_many(entries.into_iter().map(EntryFields::active_model))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Which entries to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this kind of object.
    pub object_type: Option<String>,
    /// Only this object.
    pub object_id: Option<String>,
}

/// Up to `limit` entries under `filter`, newest first, older than entry
/// `before` when given (keyset pagination on the id).
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    filter: &EntryFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find();
    for (column, value) in [
        (Column::Actor, &filter.actor),
        (Column::Action, &filter.action),
        (Column::ObjectType, &filter.object_type),
        (Column::ObjectId, &filter.object_id),
    ] {
        if let Some(value) = value {
            query = query.filter(column.eq(value.as_str()));
        }
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}
