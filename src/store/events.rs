//! Live events between processes: PostgreSQL's `NOTIFY` (delivered at
//! commit, to every listening process), or on SQLite, whose writers share
//! one file, the `event_queue` table that readers poll.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, FromQueryResult, Statement,
};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "risk_monitor_events";

/// Publishes `payloads` (each under PostgreSQL's 8000-byte limit) when the
/// caller's transaction commits, and only then.
pub async fn publish<C: ConnectionTrait>(conn: &C, payloads: &[String]) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    for payload in payloads {
        let statement = match backend {
            DatabaseBackend::Postgres => Statement::from_sql_and_values(
                backend,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.as_str().into()],
            ),
            _ => backend.build(
                Query::insert()
                    .into_table(EventQueue::Table)
                    .columns([EventQueue::Payload, EventQueue::CreatedAt])
                    .values_panic([payload.as_str().into(), Utc::now().into()]),
            ),
        };
        conn.execute_raw(statement).await?;
    }
    Ok(())
}

#[derive(sea_orm::DeriveIden)]
enum EventQueue {
    Table,
    Id,
    Payload,
    CreatedAt,
}

#[derive(FromQueryResult)]
struct Queued {
    id: i64,
    payload: String,
}

/// The newest queued event's id (SQLite), 0 when none.
pub async fn last_queued(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let statement = db.get_database_backend().build(
        Query::select()
            .columns([EventQueue::Id, EventQueue::Payload])
            .from(EventQueue::Table)
            .order_by(EventQueue::Id, Order::Desc)
            .limit(1),
    );
    let newest = Queued::find_by_statement(statement).one(db).await?;
    Ok(newest.map_or(0, |q| q.id))
}

/// The events queued after `after` (SQLite), oldest first, with their ids.
pub async fn queued_after(
    db: &DatabaseConnection,
    after: i64,
    limit: u64,
) -> Result<Vec<(i64, String)>, DbErr> {
    let statement = db.get_database_backend().build(
        Query::select()
            .columns([EventQueue::Id, EventQueue::Payload])
            .from(EventQueue::Table)
            .and_where(Expr::col(EventQueue::Id).gt(after))
            .order_by(EventQueue::Id, Order::Asc)
            .limit(limit),
    );
    let rows = Queued::find_by_statement(statement).all(db).await?;
    Ok(rows.into_iter().map(|q| (q.id, q.payload)).collect())
}

/// Forgets queued events older than `before` (every reader has seen them).
pub async fn prune_queue(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<(), DbErr> {
    let statement = db.get_database_backend().build(
        Query::delete()
            .from_table(EventQueue::Table)
            .and_where(Expr::col(EventQueue::CreatedAt).lt(before)),
    );
    db.execute_raw(statement).await?;
    Ok(())
}

/// Listens for notifications on PostgreSQL and hands each payload to
/// `deliver`, until the connection fails (the caller reconnects).
pub async fn listen(db: &DatabaseConnection, mut deliver: impl FnMut(String)) -> Result<(), DbErr> {
    let pool = db.get_postgres_connection_pool();
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .map_err(super::driver_error)?;
    listener
        .listen(CHANNEL)
        .await
        .map_err(super::driver_error)?;
    loop {
        let notification = listener.recv().await.map_err(super::driver_error)?;
        deliver(notification.payload().to_owned());
    }
}
