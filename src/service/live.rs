//! What the live feed (SPEC §10 `SubscriptionRoot`) reads when an event
//! arrives: the alert or the user it names, on the pool, outside any
//! transaction. It writes nothing; the events themselves come from
//! [`super::events`].

use entity::{alerts, users};
use sea_orm::DatabaseConnection;

use crate::error::AppResult;
use crate::store;

/// The alert `id`, or `None` if it is gone.
pub async fn alert(db: &DatabaseConnection, id: i64) -> AppResult<Option<alerts::Model>> {
    Ok(store::alerts::find(db, id).await?)
}

/// The user `id`, or `None` if it is gone.
pub async fn user(db: &DatabaseConnection, id: i64) -> AppResult<Option<users::Model>> {
    Ok(store::users::find(db, id).await?)
}
