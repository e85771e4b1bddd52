//! Connecting to the database (SQLite or PostgreSQL) and running migrations.
//!
//! SQLite is the embedded default: WAL journal so readers never wait for the
//! writer, a busy timeout so writers queue instead of failing, foreign keys on.
//! Write transactions begin IMMEDIATE on SQLite (see [`begin_write`]) so that
//! two writers never deadlock upgrading read locks.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

use crate::config::DatabaseSettings;

/// Opens the connection pool described by `settings`, creating the SQLite
/// file on first use. Statements may run as long as they need (migrations,
/// seeding, a full rescore).
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings, BUSY_TIMEOUT, None)).await
}

/// How long an SQLite statement waits for the write lock, outside requests.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a pooled connection may sit unused and still be handed out
/// without a ping first (HikariCP's bypass window is 500 ms, PgBouncer's
/// `server_check_delay` 30 s).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool that serves requests: like [`connect`], and on PostgreSQL every
/// statement is cancelled past `statement_timeout` (the request's time
/// budget, SPEC §9 `REQUEST_TIMEOUT_SECONDS`), so that a query whose client
/// has been answered `TIMEOUT` stops holding its connection and locks, and
/// writes nothing. SQLite has no statement timeout: there the wait for the
/// write lock (its busy timeout, the usual reason for a slow statement) is
/// bounded by the same budget.
pub async fn connect_serving(
    settings: &DatabaseSettings,
    statement_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = options(settings, statement_timeout, Some(statement_timeout));
    if settings.is_sqlite() {
        return Database::connect(options).await;
    }
    // A fixed-size pool: sqlx keeps `min_connections` open, replacing one
    // that idles out, ages out or breaks. Opened lazily, so that the pool's
    // own sequential opening does not hold up the start; the ping below
    // checks the database is reachable, as an eager pool's first
    // connection would, and `open_all` opens the rest together.
    options
        .min_connections(POSTGRES_POOL_SIZE)
        .connect_lazy(true);
    let db = Database::connect(options).await?;
    db.ping().await?;
    open_all(&db);
    Ok(db)
}

/// How many connections a PostgreSQL serving pool holds, all of them open
/// from the start, so that no request waits for one to be opened: over TLS
/// that waits twice on the server's delayed acknowledgement, as sqlx 0.9.0
/// leaves Nagle's algorithm on (sqlx issue 4335).
const POSTGRES_POOL_SIZE: u32 = 10;

/// Opens the pool's missing connections together, in the background: it
/// asks for as many connections as the pool keeps, all at once, so that the
/// pool opens those it lacks side by side, and returns each as soon as it
/// has it (holding them until all are out would keep the requests waiting
/// on a connection that another task holds). A connection that cannot be
/// opened now is left to sqlx's upkeep of `min_connections`, and to the
/// request that needs it.
fn open_all(db: &DatabaseConnection) {
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        let size = pool.options().get_min_connections();
        let opening = (0..size).map(|_| async { pool.acquire().await.map(drop) });
        let failed = futures::future::join_all(opening)
            .await
            .iter()
            .filter(|opened| opened.is_err())
            .count();
        if failed > 0 {
            tracing::warn!(
                failed,
                size,
                "could not open every connection of the pool at start"
            );
        }
    });
}

/// The `application_name` of the service's PostgreSQL sessions.
const APPLICATION_NAME: &str = "risk-monitor";

/// The pool's options; on PostgreSQL, every statement is cancelled past
/// `statement_timeout` when there is one.
fn options(
    settings: &DatabaseSettings,
    busy_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> ConnectOptions {
    let statement_timeout = statement_timeout.map(|t| t.as_millis().to_string());
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .sqlx_logging(false)
        .max_connections(if settings.is_sqlite() {
            4
        } else {
            POSTGRES_POOL_SIZE
        })
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // A connection is pinged as it leaves the pool only once it has sat
        // there this long: a busy pool's connections were all in use a
        // moment ago, and a ping on each checkout would add a round trip to
        // every statement and transaction. (One that broke in use is closed
        // as it comes back, by the ping every release makes.)
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        .map_sqlx_postgres_opts(move |o| {
            // Its sessions are told apart in `pg_stat_activity`, unless the
            // URL (or PGAPPNAME) names them already.
            let o = match o.get_application_name() {
                Some(_) => o,
                None => o.application_name(APPLICATION_NAME),
            };
            match &statement_timeout {
                Some(milliseconds) => o.options([("statement_timeout", milliseconds.as_str())]),
                None => o,
            }
        })
        .map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy_timeout)
                .foreign_keys(true)
        });
    options
}

/// Begins a transaction that will write: IMMEDIATE on SQLite (the write lock
/// is taken up front, so concurrent writers queue on the busy timeout rather
/// than fail), the default elsewhere.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Begins a read-only transaction whose every statement sees the database
/// as of its first: REPEATABLE READ on PostgreSQL; on SQLite (WAL) a read
/// transaction already does.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if is_postgres(db) {
        db.begin_with_options(TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

/// The pool that lists, analyses, statistics and exports read from: a
/// PostgreSQL streaming replica's (`DATABASE_READ_URL`), else the primary's.
/// A request that writes reads from the primary instead, so that what it
/// reads includes its own writes.
#[derive(Clone, Debug)]
pub struct Reads(pub DatabaseConnection);

/// Whether `db` is PostgreSQL (some bulk paths differ).
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// Applies every pending migration. If any was, and the database holds
/// users, refreshes the statistics of `risk_scores`, which migrations
/// backfill row by row: on PostgreSQL that also marks its pages
/// all-visible again, which the search's index-only walk (migration 12)
/// needs to stay index-only.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    let pending = Migrator::get_pending_migrations(db).await?.len();
    Migrator::up(db, None).await?;
    if pending > 0 && !crate::store::users::none(db).await? {
        crate::store::maintenance::refresh_statistics(db, &["risk_scores"]).await?;
    }
    Ok(())
}
