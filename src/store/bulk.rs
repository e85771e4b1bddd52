//! Bulk loading of users, plan versions, payments and scores in one
//! transaction (the seeder's writer): `COPY … FROM STDIN` on PostgreSQL,
//! multi-row INSERTs on SQLite. Ids are assigned by the caller from
//! [`BulkWriter::id_base`], under a table lock, and the sequences are moved
//! past them at commit.
//!
//! When a load at least doubles the data on PostgreSQL, the loaded tables'
//! secondary indexes, unique constraints and foreign keys are dropped inside
//! the transaction and rebuilt once from their own catalog definitions before
//! it commits: maintaining them row by row costs more than rebuilding them.
//! DDL is transactional there, so a failed load rolls the
//! drop back too. Readers wait until the load commits.
//!
//! When a load finds its tables empty on PostgreSQL, and every table whose
//! foreign keys lead to them empty as well, it truncates them all in its
//! transaction, which lets each COPY write its rows already frozen
//! (`COPY … FREEZE`): marked visible to every transaction and in the
//! visibility map. The vacuum that follows the load then has nothing to do
//! but sample, where it would otherwise rewrite every page of the data just
//! loaded (hint bits, visibility map); and index-only scans work at once.
//! Freezing only saves time: when another session holds a lock on one of
//! those tables, the load goes on unfrozen rather than wait for it.
//!
//! On PostgreSQL the rows are encoded while the previous COPY streams: each
//! full set of buffers is sent by a task of its own, which holds the
//! transaction until the server has taken them, so the server's work on one
//! set overlaps the encoding (and, upstream, the generation) of the next.
//! At most two sets are in memory: the one sending and the one filling.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{subscription_payments, user_subscriptions, users};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, Statement,
};

use crate::db;
use crate::domain::{PaymentStatus, PlanStatus};
use crate::store::copy::CopyBinary;
use crate::store::maintenance;
use crate::store::risk_scores::{self, ScoreRow};

/// The tables a bulk load writes, in foreign-key order.
pub const TABLES: [&str; 4] = [
    "users",
    "user_subscriptions",
    "subscription_payments",
    "risk_scores",
];

/// The tables whose ids the loader assigns (the first three of [`TABLES`]).
const ID_TABLES: [&str; 3] = ["users", "user_subscriptions", "subscription_payments"];

/// A user row.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    /// Assigned id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Account opening.
    pub created_at: DateTime<Utc>,
    /// Active flag.
    pub is_active: bool,
}

/// A plan version row.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRow {
    /// Assigned id.
    pub id: i64,
    /// Its user.
    pub user_id: i64,
    /// basic, premium, pro, enterprise, …
    pub subscription_type: &'static str,
    /// Its status.
    pub status: PlanStatus,
    /// Monthly price in cents.
    pub monthly_amount_cents: i64,
    /// ISO 4217 code.
    pub currency: &'static str,
    /// Recorded at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
    /// Start of the version.
    pub effective_from: DateTime<Utc>,
    /// End of the version, for a replaced plan.
    pub effective_until: Option<DateTime<Utc>>,
}

/// A payment row.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentRow {
    /// Assigned id.
    pub id: i64,
    /// The plan version paid for.
    pub subscription_id: i64,
    /// Its user.
    pub user_id: i64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: &'static str,
    /// Outcome.
    pub status: PaymentStatus,
    /// When it was attempted.
    pub payment_date: DateTime<Utc>,
    /// card, paypal or bank_transfer.
    pub payment_method: &'static str,
    /// Why it failed.
    pub failure_reason: Option<&'static str>,
}

/// Rows to load together: users with their plans, payments and scores.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Users.
    pub users: Vec<UserRow>,
    /// Their plan versions.
    pub plans: Vec<PlanRow>,
    /// Their payments.
    pub payments: Vec<PaymentRow>,
    /// Their scores.
    pub scores: Vec<ScoreRow>,
}

/// The first ids to assign (one past the current maximum of each table).
#[derive(Clone, Copy, Debug)]
pub struct IdBase {
    /// Next user id.
    pub user: i64,
    /// Next plan version id.
    pub plan: i64,
    /// Next payment id.
    pub payment: i64,
}

/// Why a bulk load failed (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// A statement failed.
    #[error("database error during a bulk load: {0}")]
    Db(#[from] DbErr),
    /// A PostgreSQL COPY failed.
    #[error("bulk copy failed: {0}")]
    Copy(#[from] sqlx::Error),
}

/// One bulk load under way, inside its transaction.
pub enum BulkWriter {
    /// COPY streams on PostgreSQL.
    Postgres {
        /// The transaction, at hand or busy with a flush.
        pipe: Pipe,
        /// Constraints to rebuild before commit, if they were dropped.
        deferred: Option<DeferredConstraints>,
        /// Rows buffered for the next COPY.
        buffers: Box<CopyBuffers>,
        /// Bytes of payment rows that make the buffers full.
        copy_bytes: usize,
        /// The tables were truncated in this transaction: COPY may freeze.
        frozen: bool,
        /// Whether the database's `lower` lowers ASCII as Rust does.
        lowers_ascii: bool,
        /// The digest generation the score rows are written in (migration
        /// 13), its shared lock held until the load commits.
        generation: i64,
    },
    /// Multi-row INSERTs on SQLite.
    Sqlite(DatabaseTransaction),
}

fn table_list() -> String {
    TABLES.join(", ")
}

fn quoted_table_list() -> String {
    TABLES.map(|t| format!("'{t}'")).join(", ")
}

/// Secondary indexes, unique constraints and foreign keys of [`TABLES`],
/// dropped inside the loading transaction and rebuilt from their own catalog
/// definitions before it commits. Primary keys stay.
pub struct DeferredConstraints {
    /// `CREATE INDEX …` statements.
    indexes: Vec<String>,
    /// `(table, name, definition)` of unique constraints, then foreign keys.
    constraints: Vec<(String, String, String)>,
}

impl DeferredConstraints {
    async fn drop(tx: &mut sqlx::PgConnection) -> Result<Self, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            table_list()
        )))
        .execute(&mut *tx)
        .await?;
        let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT i.indexname::text, i.indexdef FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ({}) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
             ORDER BY i.indexname",
            quoted_table_list()
        )))
        .fetch_all(&mut *tx)
        .await?;
        // Unique constraints first, foreign keys last, so they come back in that order.
        let constraints: Vec<(String, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid) \
                 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
                 WHERE t.relname IN ({}) AND c.contype IN ('u', 'f') \
                 AND t.relnamespace = current_schema()::regnamespace \
                 ORDER BY c.contype DESC, c.conname",
                quoted_table_list()
            )))
            .fetch_all(&mut *tx)
            .await?;
        for (table, name, _) in constraints.iter().rev() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT \"{name}\""
            )))
            .execute(&mut *tx)
            .await?;
        }
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .execute(&mut *tx)
                .await?;
        }
        Ok(Self {
            indexes: indexes.into_iter().map(|(_, def)| def).collect(),
            constraints,
        })
    }

    async fn restore(self, tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        for definition in self.indexes {
            sqlx::query(sqlx::AssertSqlSafe(definition))
                .execute(&mut *tx)
                .await?;
        }
        for (table, name, definition) in self.constraints {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT \"{name}\" {definition}"
            )))
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// The loaded tables and, recursively, every table with a foreign key to
/// one of them (alerts and what hangs off them), in the schema.
fn truncated_tables_query() -> String {
    format!(
        "WITH RECURSIVE linked(oid) AS ( \
           SELECT c.oid FROM pg_class c \
           WHERE c.relname IN ({}) AND c.relnamespace = current_schema()::regnamespace \
           UNION \
           SELECT k.conrelid FROM pg_constraint k JOIN linked l ON k.confrelid = l.oid \
           WHERE k.contype = 'f' \
         ) SELECT oid::regclass::text FROM linked ORDER BY 1",
        quoted_table_list()
    )
}

/// Truncates the loaded tables, with every table whose foreign keys lead to
/// them (PostgreSQL truncates a referenced table only with those), when
/// every one of them is empty; returns whether it did. Truncating an empty
/// table loses nothing, and a table truncated in a transaction may be
/// loaded with `COPY … FREEZE` there. Sequences keep their values.
///
/// Freezing only saves time, so it never waits: should another session
/// hold a lock on one of those tables (a running service's deliverer on
/// `deliveries`, say), the load goes on unfrozen instead of waiting for it,
/// or deadlocking with it. The attempt runs under a savepoint, which is
/// rolled back when it gives up.
async fn truncate_if_empty(tx: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    let tables: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(truncated_tables_query()))
        .fetch_all(&mut *tx)
        .await?;
    let tables: Vec<String> = tables.into_iter().map(|(table,)| table).collect();
    let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
    match truncate_all(&mut attempt, &tables).await {
        Ok(true) => {
            attempt.commit().await?;
            Ok(true)
        }
        Ok(false) => {
            attempt.rollback().await?;
            Ok(false)
        }
        Err(sqlx::Error::Database(error))
            if error.code().as_deref() == Some(LOCK_NOT_AVAILABLE) =>
        {
            attempt.rollback().await?;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// PostgreSQL's SQLSTATE for a `NOWAIT` lock another session holds.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// [`truncate_if_empty`]'s work: locks `tables` without waiting, then
/// truncates them if none holds a row (checked under the lock, so none can
/// gain one meanwhile).
async fn truncate_all(
    conn: &mut sqlx::PgConnection,
    tables: &[String],
) -> Result<bool, sqlx::Error> {
    let list = tables.join(", ");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {list} IN ACCESS EXCLUSIVE MODE NOWAIT"
    )))
    .execute(&mut *conn)
    .await?;
    let any_row = tables
        .iter()
        .map(|table| format!("EXISTS (SELECT 1 FROM {table})"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let (occupied,): (bool,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {any_row}")))
        .fetch_one(&mut *conn)
        .await?;
    if occupied {
        return Ok(false);
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {list}")))
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// The loading transaction.
type PgTransaction = sqlx::Transaction<'static, sqlx::Postgres>;

/// The loading transaction, at hand or lent to the task streaming the last
/// full buffers (which gives it back once the server has taken them).
pub struct Pipe {
    tx: Option<PgTransaction>,
    flushing: Option<tokio::task::JoinHandle<Result<PgTransaction, sqlx::Error>>>,
}

impl Pipe {
    /// Waits for any flush under way to end, and takes the transaction back
    /// from it; returns the flush's error if it failed (its transaction is
    /// then dropped, which rolls it back).
    async fn settle(&mut self) -> Result<(), sqlx::Error> {
        if let Some(flush) = self.flushing.take() {
            let tx = match flush.await {
                Ok(result) => result?,
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            };
            self.tx = Some(tx);
        }
        Ok(())
    }

    /// The transaction, once any flush under way has ended.
    async fn tx(&mut self) -> Result<&mut PgTransaction, sqlx::Error> {
        self.settle().await?;
        self.tx.as_mut().ok_or_else(transaction_lost)
    }

    /// The transaction itself, once any flush under way has ended.
    async fn take(&mut self) -> Result<PgTransaction, sqlx::Error> {
        self.settle().await?;
        self.tx.take().ok_or_else(transaction_lost)
    }

    /// Starts sending `buffers` in a task of its own, once the previous
    /// flush has ended.
    async fn flush_behind(
        &mut self,
        buffers: CopyBuffers,
        frozen: bool,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.take().await?;
        self.flushing = Some(tokio::spawn(async move {
            buffers.flush(&mut tx, frozen).await?;
            Ok(tx)
        }));
        Ok(())
    }
}

/// A [`Pipe`] without its transaction: only after a flush's task panicked,
/// which [`Pipe::settle`] passes on, so never seen in practice.
fn transaction_lost() -> sqlx::Error {
    sqlx::Error::Protocol("the bulk load's transaction was lost".into())
}

impl BulkWriter {
    /// Begins a load of `users_to_add` users: takes the tables' locks (ids
    /// are assigned by the caller, so no other writer may take one
    /// meanwhile) and, when the load at least doubles the users on
    /// PostgreSQL, drops the constraints to rebuild at commit.
    pub async fn begin(
        db: &DatabaseConnection,
        users_to_add: u64,
        copy_bytes: usize,
    ) -> Result<Self, BulkError> {
        if !db::is_postgres(db) {
            return Ok(Self::Sqlite(db::begin_write(db).await?));
        }
        let mut tx = db.get_postgres_connection_pool().begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
            table_list()
        )))
        .execute(&mut *tx)
        .await?;
        let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        let deferred = if users_to_add >= existing.max(0) as u64 {
            Some(DeferredConstraints::drop(&mut tx).await?)
        } else {
            None
        };
        let frozen = existing == 0 && truncate_if_empty(&mut tx).await?;
        let (lowers_ascii,): (bool,) = sqlx::query_as("SELECT lower($1) = $2")
            .bind(UPPER_ASCII)
            .bind(UPPER_ASCII.to_ascii_lowercase())
            .fetch_one(&mut *tx)
            .await?;
        let (generation,): (i64,) = sqlx::query_as("SELECT digest_generation_for_write()")
            .fetch_one(&mut *tx)
            .await?;
        Ok(Self::Postgres {
            pipe: Pipe {
                tx: Some(tx),
                flushing: None,
            },
            deferred,
            buffers: Box::default(),
            copy_bytes,
            frozen,
            lowers_ascii,
            generation,
        })
    }

    /// One past the largest id of each table.
    pub async fn id_base(&mut self) -> Result<IdBase, BulkError> {
        let sql = format!(
            "SELECT {}",
            ID_TABLES
                .map(|t| format!("(SELECT COALESCE(MAX(id), 0) FROM {t})"))
                .join(", ")
        );
        let (user, plan, payment): (i64, i64, i64) = match self {
            Self::Postgres { pipe, .. } => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut **pipe.tx().await?)
                    .await?
            }
            Self::Sqlite(tx) => {
                let row = tx
                    .query_one_raw(Statement::from_string(tx.get_database_backend(), sql))
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("id maxima".into()))?;
                (
                    row.try_get_by_index(0)?,
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                )
            }
        };
        Ok(IdBase {
            user: user + 1,
            plan: plan + 1,
            payment: payment + 1,
        })
    }

    /// Writes (or buffers) `rows`.
    pub async fn write(&mut self, rows: &Rows) -> Result<(), BulkError> {
        match self {
            Self::Postgres {
                pipe,
                buffers,
                copy_bytes,
                frozen,
                lowers_ascii,
                generation,
                ..
            } => {
                buffers.append(rows, *lowers_ascii, *generation);
                if buffers.payments.len() >= *copy_bytes {
                    pipe.flush_behind(std::mem::take(&mut **buffers), *frozen)
                        .await?;
                }
                Ok(())
            }
            Self::Sqlite(tx) => insert_rows(tx, rows).await,
        }
    }

    /// Flushes, rebuilds what was dropped, moves the sequences past the
    /// assigned ids, commits, then refreshes the planner's statistics.
    pub async fn commit(self, db: &DatabaseConnection) -> Result<(), BulkError> {
        match self {
            Self::Postgres {
                mut pipe,
                deferred,
                buffers,
                frozen,
                ..
            } => {
                let mut tx = pipe.take().await?;
                buffers.flush(&mut tx, frozen).await?;
                if let Some(deferred) = deferred {
                    deferred.restore(&mut tx).await?;
                }
                for table in ID_TABLES {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            Self::Sqlite(tx) => tx.commit().await?,
        }
        maintenance::refresh_statistics(db, &TABLES).await?;
        Ok(())
    }
}

/// The four COPY payloads being filled, flushed together in foreign-key order
/// once the payments pass the load's `copy_bytes` ([`COPY_FLUSH_BYTES`] by
/// default): few large COPYs rather than
/// four per batch, as each COPY costs a round trip that TCP's delayed
/// acknowledgement can stretch.
#[derive(Default)]
pub struct CopyBuffers {
    users: CopyBinary,
    plans: CopyBinary,
    payments: CopyBinary,
    scores: CopyBinary,
}

/// Bytes of payment rows buffered before a flush.
pub const COPY_FLUSH_BYTES: usize = 32 << 20;

/// Every upper-case ASCII letter, to check that the database's `lower`
/// gives what [`str::to_ascii_lowercase`] gives.
const UPPER_ASCII: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl CopyBuffers {
    /// Buffers `rows`. A score row carries its user's `search_name` and
    /// `search_email` (migration 12) when the user is among `rows`, their
    /// name and email are ASCII and the database lowers ASCII as Rust does
    /// (`lowers_ascii`), which makes them exactly `lower(…)`; otherwise it
    /// leaves them out and the database's trigger fills them, at the cost
    /// of a second write of that row.
    fn append(&mut self, rows: &Rows, lowers_ascii: bool, generation: i64) {
        let searched: HashMap<i64, &UserRow> = if lowers_ascii {
            rows.users
                .iter()
                .filter(|u| u.name.is_ascii() && u.email.is_ascii())
                .map(|u| (u.id, u))
                .collect()
        } else {
            HashMap::new()
        };
        for u in &rows.users {
            self.users
                .i64(u.id)
                .null()
                .text(&u.name)
                .text(&u.email)
                .time(u.created_at)
                .bool(u.is_active)
                .end_row();
        }
        for p in &rows.plans {
            self.plans
                .i64(p.id)
                .i64(p.user_id)
                .text(p.subscription_type)
                .text(&p.status.to_value())
                .i64(p.monthly_amount_cents)
                .text(p.currency)
                .time(p.created_at)
                .time(p.updated_at)
                .time(p.effective_from)
                .opt_time(p.effective_until)
                .end_row();
        }
        for p in &rows.payments {
            self.payments
                .i64(p.id)
                .null()
                .i64(p.subscription_id)
                .i64(p.user_id)
                .i64(p.amount_cents)
                .text(p.currency)
                .text(&p.status.to_value())
                .time(p.payment_date)
                .text(p.payment_method)
                .opt_text(p.failure_reason)
                .end_row();
        }
        for s in &rows.scores {
            let scores = &mut self.scores;
            scores
                .i64(s.user_id)
                .f64(s.score)
                .text(&s.level.to_value())
                .i32(s.patterns)
                .i32(s.total_payments)
                .i32(s.failed_payments)
                .i32(s.succeeded_payments)
                .f64(s.failure_rate)
                .bool(s.is_active)
                .opt_text(s.plan.as_ref().map(|p| p.subscription_type.as_str()));
            match &s.plan {
                Some(p) => scores.i64(p.monthly_amount_cents).text(&p.currency),
                None => scores.null().null(),
            };
            scores.opt_time(s.next_change_at).time(s.computed_at);
            match searched.get(&s.user_id) {
                Some(u) => scores
                    .text(&u.name.to_ascii_lowercase())
                    .text(&u.email.to_ascii_lowercase()),
                None => scores.null().null(),
            };
            scores.i64(generation).end_row();
        }
    }

    /// Sends the buffered rows, frozen when the tables were truncated in
    /// this transaction (`frozen`).
    async fn flush(self, tx: &mut sqlx::PgConnection, frozen: bool) -> Result<(), sqlx::Error> {
        let options = if frozen {
            "(FORMAT binary, FREEZE)"
        } else {
            "(FORMAT binary)"
        };
        let Self {
            users,
            plans,
            payments,
            scores,
        } = self;
        users
            .send(
                tx,
                &format!(
                    "COPY users (id, external_id, name, email, created_at, is_active) FROM STDIN \
                     {options}"
                ),
            )
            .await?;
        plans
            .send(
                tx,
                &format!(
                    "COPY user_subscriptions (id, user_id, subscription_type, status, \
                     monthly_amount_cents, currency, created_at, updated_at, effective_from, \
                     effective_until) FROM STDIN {options}"
                ),
            )
            .await?;
        payments
            .send(
                tx,
                &format!(
                    "COPY subscription_payments (id, external_id, subscription_id, user_id, \
                     amount_cents, currency, status, payment_date, payment_method, \
                     failure_reason) FROM STDIN {options}"
                ),
            )
            .await?;
        scores
            .send(
                tx,
                &format!(
                    "COPY risk_scores (user_id, score, level, patterns, total_payments, \
                     failed_payments, succeeded_payments, failure_rate, is_active, \
                     subscription_type, monthly_amount_cents, currency, next_change_at, \
                     computed_at, search_name, search_email, baseline_generation) FROM STDIN \
                     {options}"
                ),
            )
            .await?;
        Ok(())
    }
}

/// SQLite binds at most 32766 parameters a statement: 10 columns × 1000 rows fits.
const SQLITE_ROWS: usize = 1_000;

async fn insert_rows(tx: &DatabaseTransaction, rows: &Rows) -> Result<(), BulkError> {
    for chunk in rows.users.chunks(SQLITE_ROWS) {
        let models = chunk.iter().map(|u| users::ActiveModel {
            id: Set(u.id),
            external_id: Set(None),
            name: Set(u.name.clone()),
            email: Set(u.email.clone()),
            created_at: Set(u.created_at),
            is_active: Set(u.is_active),
        });
        users::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in rows.plans.chunks(SQLITE_ROWS) {
        let models = chunk.iter().map(|p| user_subscriptions::ActiveModel {
            id: Set(p.id),
            user_id: Set(p.user_id),
            subscription_type: Set(p.subscription_type.to_owned()),
            status: Set(p.status),
            monthly_amount_cents: Set(p.monthly_amount_cents),
            currency: Set(p.currency.to_owned()),
            created_at: Set(p.created_at),
            updated_at: Set(p.updated_at),
            effective_from: Set(p.effective_from),
            effective_until: Set(p.effective_until),
        });
        user_subscriptions::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in rows.payments.chunks(SQLITE_ROWS) {
        let models = chunk.iter().map(|p| subscription_payments::ActiveModel {
            id: Set(p.id),
            external_id: Set(None),
            subscription_id: Set(Some(p.subscription_id)),
            user_id: Set(p.user_id),
            amount_cents: Set(p.amount_cents),
            currency: Set(p.currency.to_owned()),
            status: Set(p.status),
            payment_date: Set(p.payment_date),
            payment_method: Set(p.payment_method.to_owned()),
            failure_reason: Set(p.failure_reason.map(str::to_owned)),
        });
        subscription_payments::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    if !rows.scores.is_empty() {
        let generation = super::digest::writing_generation(tx).await?;
        risk_scores::upsert_many(tx, rows.scores.clone(), generation).await?;
    }
    Ok(())
}
