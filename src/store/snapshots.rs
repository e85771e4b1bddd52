//! `shared_snapshots`: results shared by every service process on the
//! database, by name, with the lease of the process computing the next one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden};

#[derive(DeriveIden)]
enum SharedSnapshots {
    Table,
    Name,
    Body,
    PublishedAt,
    LeaseUntil,
}

/// A stored snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The result, as JSON.
    pub body: String,
    /// When it was stored.
    pub published_at: DateTime<Utc>,
}

/// The snapshot stored under `name`, if one has been published.
pub async fn read<C: ConnectionTrait>(conn: &C, name: &str) -> Result<Option<Stored>, DbErr> {
    let select = Query::select()
        .columns([SharedSnapshots::Body, SharedSnapshots::PublishedAt])
        .from(SharedSnapshots::Table)
        .and_where(Expr::col(SharedSnapshots::Name).eq(name))
        .to_owned();
    let Some(row) = conn
        .query_one_raw(conn.get_database_backend().build(&select))
        .await?
    else {
        return Ok(None);
    };
    let body: Option<String> = row.try_get_by_index(0)?;
    let published_at: Option<DateTime<Utc>> = row.try_get_by_index(1)?;
    Ok(body
        .zip(published_at)
        .map(|(body, published_at)| Stored { body, published_at }))
}

/// Claims the computation of `name`'s next snapshot until `lease_until`:
/// true for the one caller that finds no snapshot published after
/// `stale_before` (one published at that instant is stale) and no lease
/// running at `now`. `lease_until` is then the claim's token: only
/// [`publish`] and [`release`] with it end the lease.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let create = Query::insert()
        .into_table(SharedSnapshots::Table)
        .columns([SharedSnapshots::Name])
        .values_panic([name.into()])
        .on_conflict(
            OnConflict::column(SharedSnapshots::Name)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute_raw(backend.build(&create)).await?;
    let take = Query::update()
        .table(SharedSnapshots::Table)
        .value(SharedSnapshots::LeaseUntil, lease_until)
        .and_where(Expr::col(SharedSnapshots::Name).eq(name))
        .cond_where(
            Condition::any()
                .add(Expr::col(SharedSnapshots::LeaseUntil).is_null())
                .add(Expr::col(SharedSnapshots::LeaseUntil).lte(now)),
        )
        .cond_where(
            Condition::any()
                .add(Expr::col(SharedSnapshots::PublishedAt).is_null())
                .add(Expr::col(SharedSnapshots::PublishedAt).lte(stale_before)),
        )
        .to_owned();
    Ok(conn
        .execute_raw(backend.build(&take))
        .await?
        .rows_affected()
        == 1)
}

/// Stores `name`'s new snapshot, published at `published_at`, and ends
/// the lease, if the lease is still the one claimed until `lease_until`
/// (a process whose lease ran out, and was taken over, changes nothing);
/// tells whether it did.
pub async fn publish<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    body: &str,
    published_at: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let update = Query::update()
        .table(SharedSnapshots::Table)
        .value(SharedSnapshots::Body, body)
        .value(SharedSnapshots::PublishedAt, published_at)
        .value(SharedSnapshots::LeaseUntil, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(SharedSnapshots::Name).eq(name))
        .and_where(Expr::col(SharedSnapshots::LeaseUntil).eq(lease_until))
        .to_owned();
    let done = conn
        .execute_raw(conn.get_database_backend().build(&update))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the lease on `name` claimed until `lease_until`, without a new
/// snapshot (its computation failed), so that another process may try at
/// once.
pub async fn release<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), DbErr> {
    let update = Query::update()
        .table(SharedSnapshots::Table)
        .value(SharedSnapshots::LeaseUntil, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(SharedSnapshots::Name).eq(name))
        .and_where(Expr::col(SharedSnapshots::LeaseUntil).eq(lease_until))
        .to_owned();
    conn.execute_raw(conn.get_database_backend().build(&update))
        .await?;
    Ok(())
}
