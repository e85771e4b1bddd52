//! Deterministic demo data (SPEC §7.1), bulk-loaded and scored.
//!
//! Per 25 users, the legacy mix: 5 "pays once, then declines", 7 downgrades,
//! 3 with recent failures, 10 healthy. Every user draws from its own random
//! stream, seeded by (seed, user index), so the same seed gives the same rows
//! whatever the batch size, and dates are relative to the day of seeding.
//!
//! Rows are generated on a blocking thread and written by the async side as
//! they come: `COPY … FROM STDIN` on PostgreSQL, multi-row INSERTs on SQLite,
//! all in one transaction, so a failed seed leaves nothing behind. Each user's
//! score is computed with [`crate::risk`] from the very rows written.

use chrono::{DateTime, Duration, DurationRound, Utc};
use fake::Fake;
use fake::faker::internet::en::SafeEmail;
use fake::faker::name::en::Name;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement};
use tokio::sync::mpsc;

use crate::db;
use crate::domain::PaymentStatus;
use crate::progress::Progress;
use crate::risk::{self, PaymentFact, ScoringConfig, UserFacts};
use crate::store::copy::CopyText;
use crate::store::risk_scores::{self, CurrentPlan, ScoreRow};

/// Users generated and written per batch.
const BATCH_USERS: u64 = 2_000;

/// The currency of every demo amount.
const CURRENCY: &str = "EUR";

/// The demo user's risk profile, by position in each group of 25 (SPEC §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The oldest payment succeeds, the later ones fail or are declined.
    PaysOnceThenDeclines,
    /// A premium plan at 8.99–15.99 replaced by a basic one at 1.21–2.99.
    Downgrade,
    /// The two newest payments failed.
    RecentFailures,
    /// 8 to 15 monthly payments, about 90% successful (at most 2 failures).
    Healthy,
}

impl Profile {
    /// The profile of the user at `index` (0-based) in the generated sequence.
    pub fn for_index(index: u64) -> Self {
        match index % 25 {
            0..5 => Self::PaysOnceThenDeclines,
            5..12 => Self::Downgrade,
            12..15 => Self::RecentFailures,
            _ => Self::Healthy,
        }
    }
}

/// What `seed` was asked for.
#[derive(Clone, Copy, Debug)]
pub struct SeedOptions {
    /// How many users to add.
    pub users: u64,
    /// The random seed.
    pub seed: u64,
    /// The current instant: scores are computed at it, and dates are laid out
    /// back from the start of its day.
    pub now: DateTime<Utc>,
}

/// What `seed` wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Users added.
    pub users: u64,
    /// Plan versions added.
    pub subscriptions: u64,
    /// Payments added.
    pub payments: u64,
}

/// Why seeding failed (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A database statement failed.
    #[error("database error while seeding: {0}")]
    Db(#[from] DbErr),
    /// A PostgreSQL bulk copy failed.
    #[error("bulk copy failed while seeding: {0}")]
    Copy(#[from] sqlx::Error),
    /// The generator thread stopped unexpectedly.
    #[error("the demo data generator stopped: {0}")]
    Generator(String),
}

/// A demo user row.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoUser {
    /// Assigned id.
    pub id: i64,
    /// Realistic name from `fake`.
    pub name: String,
    /// Unique email (the id is part of it).
    pub email: String,
    /// Account creation, shortly before the first payment.
    pub created_at: DateTime<Utc>,
    /// About 3% of demo users are inactive.
    pub is_active: bool,
    /// Which risk profile produced it.
    pub profile: Profile,
}

/// A demo plan version.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoSubscription {
    /// Assigned id.
    pub id: i64,
    /// Its user.
    pub user_id: i64,
    /// basic, premium, pro or enterprise.
    pub subscription_type: &'static str,
    /// active or cancelled.
    pub status: &'static str,
    /// Monthly price.
    pub monthly_amount_cents: i64,
    /// Start of the version.
    pub effective_from: DateTime<Utc>,
    /// End of the version, for a replaced plan.
    pub effective_until: Option<DateTime<Utc>>,
}

/// A demo payment.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoPayment {
    /// Assigned id.
    pub id: i64,
    /// The plan version paid for.
    pub subscription_id: i64,
    /// Its user.
    pub user_id: i64,
    /// Amount.
    pub amount_cents: i64,
    /// Outcome.
    pub status: PaymentStatus,
    /// Date, monthly spacing.
    pub payment_date: DateTime<Utc>,
    /// card, paypal or bank_transfer.
    pub payment_method: &'static str,
    /// For failed and declined payments.
    pub failure_reason: Option<&'static str>,
}

/// One batch of generated rows with their scores.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Users.
    pub users: Vec<DemoUser>,
    /// Their plan versions.
    pub subscriptions: Vec<DemoSubscription>,
    /// Their payments.
    pub payments: Vec<DemoPayment>,
    /// Their scores.
    pub scores: Vec<ScoreRow>,
}

/// The first ids to assign (one past the current maximum of each table).
#[derive(Clone, Copy, Debug)]
pub struct IdBase {
    /// Next user id.
    pub user: i64,
    /// Next subscription id.
    pub subscription: i64,
    /// Next payment id.
    pub payment: i64,
}

/// Generates demo rows in order; the same seed and anchor give the same rows.
pub struct Generator {
    seed: u64,
    anchor: DateTime<Utc>,
    now: DateTime<Utc>,
    scoring: ScoringConfig,
    next_index: u64,
    next: IdBase,
}

const FAILURE_REASONS: [&str; 5] = [
    "Insufficient funds",
    "Card expired",
    "Card declined by issuer",
    "Authentication failed",
    "Payment method removed",
];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Generator {
    /// A generator for `seed`, laying dates back from the start of `now`'s day
    /// and scoring at `now`.
    pub fn new(seed: u64, now: DateTime<Utc>, scoring: ScoringConfig, ids: IdBase) -> Self {
        let anchor = now.duration_trunc(Duration::days(1)).unwrap_or(now);
        Self {
            seed,
            anchor,
            now,
            scoring,
            next_index: 0,
            next: ids,
        }
    }

    /// The next `count` users with their plans, payments and scores.
    pub fn batch(&mut self, count: u64) -> Batch {
        let mut batch = Batch::default();
        for _ in 0..count {
            self.user(&mut batch);
        }
        batch
    }

    fn user(&mut self, batch: &mut Batch) {
        let index = self.next_index;
        self.next_index += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(splitmix(self.seed ^ splitmix(index)));
        let profile = Profile::for_index(index);
        let user_id = self.next.user;
        self.next.user += 1;

        let newest = self.anchor
            - Duration::days(rng.random_range(0..28))
            - Duration::seconds(rng.random_range(1..86_400));
        let monthly = |n: usize, i: usize| newest - Duration::days(30 * (n - 1 - i) as i64);
        let first_sub = batch.subscriptions.len();
        let first_payment = batch.payments.len();

        // (subscription index within the user, status) per payment, oldest first.
        let mut plan_payments: Vec<(usize, PaymentStatus)> = Vec::new();
        let mut plans: Vec<(&'static str, i64)> = Vec::new();
        match profile {
            Profile::PaysOnceThenDeclines => {
                let n = rng.random_range(3..=6);
                plans.push(pick(
                    &mut rng,
                    &[("basic", 499), ("premium", 999), ("premium", 1299)],
                ));
                plan_payments.push((0, PaymentStatus::Success));
                for _ in 1..n {
                    plan_payments.push((0, failure(&mut rng)));
                }
            }
            Profile::Downgrade => {
                plans.push(("premium", rng.random_range(899..=1599)));
                plans.push(("basic", rng.random_range(121..=299)));
                for _ in 0..rng.random_range(3..=5) {
                    plan_payments.push((0, success_with(&mut rng, 0.9)));
                }
                for _ in 0..rng.random_range(2..=4) {
                    plan_payments.push((1, success_with(&mut rng, 0.6)));
                }
            }
            Profile::RecentFailures => {
                let n = rng.random_range(4..=8);
                plans.push(pick(
                    &mut rng,
                    &[
                        ("basic", 99),
                        ("basic", 100),
                        ("basic", 199),
                        ("basic", 299),
                        ("premium", 999),
                    ],
                ));
                for i in 0..n {
                    let status = if i + 2 >= n {
                        failure(&mut rng)
                    } else {
                        PaymentStatus::Success
                    };
                    plan_payments.push((0, status));
                }
            }
            Profile::Healthy => {
                let n = rng.random_range(8..=15);
                plans.push(pick(
                    &mut rng,
                    &[
                        ("premium", 999),
                        ("premium", 1199),
                        ("pro", 1299),
                        ("pro", 1499),
                        ("enterprise", 1599),
                    ],
                ));
                // About 90% successful: at most two failures, never the newest
                // payment (that would read as a recent-failure history).
                plan_payments.resize(n, (0, PaymentStatus::Success));
                for _ in 0..rng.random_range(0..=2) {
                    let at = rng.random_range(0..n - 1);
                    plan_payments[at].1 = failure(&mut rng);
                }
            }
        }

        let n = plan_payments.len();
        let created_at = monthly(n, 0)
            - Duration::days(rng.random_range(0..=5))
            - Duration::seconds(rng.random_range(0..86_400));
        // Where each plan version starts: the first, at account creation; a
        // replacement, a few days before its first payment.
        for (plan_index, (subscription_type, cents)) in plans.iter().enumerate() {
            let effective_from = if plan_index == 0 {
                created_at
            } else {
                let first = plan_payments
                    .iter()
                    .position(|(p, _)| *p == plan_index)
                    .unwrap_or(n - 1);
                monthly(n, first) - Duration::days(rng.random_range(1..=7))
            };
            let id = self.next.subscription;
            self.next.subscription += 1;
            batch.subscriptions.push(DemoSubscription {
                id,
                user_id,
                subscription_type,
                status: "active",
                monthly_amount_cents: *cents,
                effective_from,
                effective_until: None,
            });
        }
        // A replaced version ends where the next begins.
        for i in first_sub + 1..batch.subscriptions.len() {
            let until = batch.subscriptions[i].effective_from;
            let previous = &mut batch.subscriptions[i - 1];
            previous.effective_until = Some(until);
            previous.status = "cancelled";
        }

        for (i, (plan_index, status)) in plan_payments.into_iter().enumerate() {
            let sub = &batch.subscriptions[first_sub + plan_index];
            let id = self.next.payment;
            self.next.payment += 1;
            let failure_reason = (status.outcome() == risk::Outcome::Failed)
                .then(|| FAILURE_REASONS[rng.random_range(0..FAILURE_REASONS.len())]);
            let payment_method = match rng.random_range(0..20) {
                0..12 => "card",
                12..17 => "paypal",
                _ => "bank_transfer",
            };
            batch.payments.push(DemoPayment {
                id,
                subscription_id: sub.id,
                user_id,
                amount_cents: sub.monthly_amount_cents,
                status,
                payment_date: monthly(n, i),
                payment_method,
                failure_reason,
            });
        }

        let name: String = Name().fake_with_rng(&mut rng);
        let email: String = SafeEmail().fake_with_rng(&mut rng);
        let email = match email.split_once('@') {
            Some((local, domain)) => format!("{local}.{user_id}@{domain}"),
            None => format!("user.{user_id}@example.com"),
        };
        let is_active = rng.random_bool(0.97);

        let facts: Vec<PaymentFact> = batch.payments[first_payment..]
            .iter()
            .map(|p| PaymentFact {
                paid_at: p.payment_date,
                amount: p.amount_cents as f64 / 100.0,
                outcome: p.status.outcome(),
            })
            .collect();
        let assessment = risk::assess(&UserFacts { created_at }, &facts, &self.scoring, self.now);
        let current = batch.subscriptions[first_sub..]
            .iter()
            .max_by_key(|s| (s.effective_from, s.id))
            .map(|s| CurrentPlan {
                subscription_type: s.subscription_type.to_owned(),
                monthly_amount_cents: s.monthly_amount_cents,
                currency: CURRENCY.to_owned(),
            });
        batch.scores.push(ScoreRow::new(
            user_id,
            is_active,
            current,
            &assessment,
            self.now,
        ));
        batch.users.push(DemoUser {
            id: user_id,
            name,
            email,
            created_at,
            is_active,
            profile,
        });
    }
}

fn pick(rng: &mut ChaCha8Rng, options: &[(&'static str, i64)]) -> (&'static str, i64) {
    options[rng.random_range(0..options.len())]
}

fn failure(rng: &mut ChaCha8Rng) -> PaymentStatus {
    if rng.random_bool(0.5) {
        PaymentStatus::Failed
    } else {
        PaymentStatus::Declined
    }
}

fn success_with(rng: &mut ChaCha8Rng, p: f64) -> PaymentStatus {
    if rng.random_bool(p) {
        PaymentStatus::Success
    } else {
        failure(rng)
    }
}

/// Seeds `options.users` demo users into `db`, in one transaction, reporting
/// progress per batch.
pub async fn run(
    db: &DatabaseConnection,
    scoring: &ScoringConfig,
    options: SeedOptions,
    mut progress: Progress,
) -> Result<SeedReport, SeedError> {
    let mut sink = Sink::begin(db, options.users).await?;
    let ids = sink.id_base(db).await?;

    let (tx, mut rx) = mpsc::channel::<Batch>(4);
    let scoring = *scoring;
    let total = options.users;
    let generator = tokio::task::spawn_blocking(move || {
        let mut generator = Generator::new(options.seed, options.now, scoring, ids);
        let mut left = total;
        while left > 0 {
            let count = left.min(BATCH_USERS);
            left -= count;
            if tx.blocking_send(generator.batch(count)).is_err() {
                break; // the writer failed and hung up
            }
        }
    });

    let mut report = SeedReport::default();
    while let Some(batch) = rx.recv().await {
        sink.write(&batch).await?;
        report.users += batch.users.len() as u64;
        report.subscriptions += batch.subscriptions.len() as u64;
        report.payments += batch.payments.len() as u64;
        progress.inc(batch.users.len() as u64);
    }
    generator
        .await
        .map_err(|e| SeedError::Generator(e.to_string()))?;
    if report.users != total {
        return Err(SeedError::Generator(format!(
            "made {} of {total} users",
            report.users
        )));
    }
    sink.commit().await?;
    db::refresh_statistics(db, &LOADED_TABLE_NAMES).await?;
    progress.finish();
    Ok(report)
}

/// Where batches go: a PostgreSQL COPY stream or SQLite INSERTs, both inside
/// one transaction.
enum Sink {
    Postgres {
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        deferred: Option<DeferredConstraints>,
        buffers: Box<CopyBuffers>,
    },
    Sqlite(sea_orm::DatabaseTransaction),
}

/// The bulk-loaded tables.
const LOADED_TABLE_NAMES: [&str; 4] = [
    "users",
    "user_subscriptions",
    "subscription_payments",
    "risk_scores",
];

/// [`LOADED_TABLE_NAMES`] as an SQL list.
const LOADED_TABLES: &str = "'users', 'user_subscriptions', 'subscription_payments', 'risk_scores'";

/// Secondary indexes, unique constraints and foreign keys of the loaded
/// tables, dropped inside the seeding transaction and rebuilt from their own
/// catalog definitions before it commits (PostgreSQL DDL is transactional:
/// a failed seed rolls the drop back too). Primary keys stay.
struct DeferredConstraints {
    /// `CREATE INDEX …` statements.
    indexes: Vec<String>,
    /// `(table, name, definition)` of unique constraints, then foreign keys.
    constraints: Vec<(String, String, String)>,
}

impl DeferredConstraints {
    async fn drop(tx: &mut sqlx::PgConnection) -> Result<Self, sqlx::Error> {
        // Readers wait until the seed commits: the tables change shape meanwhile.
        sqlx::query(
            "LOCK TABLE users, user_subscriptions, subscription_payments, risk_scores \
             IN ACCESS EXCLUSIVE MODE",
        )
        .execute(&mut *tx)
        .await?;
        let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT i.indexname::text, i.indexdef FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ({LOADED_TABLES}) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
             ORDER BY i.indexname"
        )))
        .fetch_all(&mut *tx)
        .await?;
        // Unique constraints first, foreign keys last, so they come back in that order.
        let constraints: Vec<(String, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid) \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             WHERE t.relname IN ({LOADED_TABLES}) AND c.contype IN ('u', 'f') \
             AND t.relnamespace = current_schema()::regnamespace \
             ORDER BY c.contype DESC, c.conname"
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

impl Sink {
    async fn begin(db: &DatabaseConnection, users_to_add: u64) -> Result<Self, SeedError> {
        if db::is_postgres(db) {
            let mut tx = db.get_postgres_connection_pool().begin().await?;
            // Ids are assigned here, so no other writer may take one meanwhile.
            sqlx::query(
                "LOCK TABLE users, user_subscriptions, subscription_payments, risk_scores \
                 IN SHARE ROW EXCLUSIVE MODE",
            )
            .execute(&mut *tx)
            .await?;
            let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await?;
            // Loading at least as many rows as are there: maintaining secondary
            // indexes and checking foreign keys row by row costs more than
            // rebuilding them once at the end (measured: 4× on 1M users).
            let deferred = if users_to_add >= existing.max(0) as u64 {
                Some(DeferredConstraints::drop(&mut tx).await?)
            } else {
                None
            };
            Ok(Self::Postgres {
                tx,
                deferred,
                buffers: Box::default(),
            })
        } else {
            Ok(Self::Sqlite(db::begin_write(db).await?))
        }
    }

    async fn id_base(&mut self, db: &DatabaseConnection) -> Result<IdBase, SeedError> {
        const SQL: &str = "SELECT (SELECT COALESCE(MAX(id), 0) FROM users), \
             (SELECT COALESCE(MAX(id), 0) FROM user_subscriptions), \
             (SELECT COALESCE(MAX(id), 0) FROM subscription_payments)";
        let (u, s, p): (i64, i64, i64) = match self {
            Self::Postgres { tx, .. } => sqlx::query_as(SQL).fetch_one(&mut **tx).await?,
            Self::Sqlite(tx) => {
                let row = tx
                    .query_one_raw(Statement::from_string(db.get_database_backend(), SQL))
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
            user: u + 1,
            subscription: s + 1,
            payment: p + 1,
        })
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), SeedError> {
        match self {
            Self::Postgres { tx, buffers, .. } => {
                buffers.append(batch);
                if buffers.is_full() {
                    buffers.flush(tx).await?;
                }
                Ok(())
            }
            Self::Sqlite(tx) => insert_batch(tx, batch).await,
        }
    }

    async fn commit(self) -> Result<(), SeedError> {
        match self {
            Self::Postgres {
                mut tx,
                deferred,
                mut buffers,
            } => {
                buffers.flush(&mut tx).await?;
                if let Some(deferred) = deferred {
                    deferred.restore(&mut tx).await?;
                }
                // Explicit ids bypassed the sequences: move them past the new rows.
                for sql in [
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM users), false)",
                    "SELECT setval(pg_get_serial_sequence('user_subscriptions', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM user_subscriptions), false)",
                    "SELECT setval(pg_get_serial_sequence('subscription_payments', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM subscription_payments), false)",
                ] {
                    sqlx::query(sql).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Self::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// The four COPY payloads being filled, flushed together in foreign-key order
/// once the largest passes [`COPY_FLUSH_BYTES`]. Few large COPYs rather than
/// four per batch: each COPY costs a round trip that TCP's delayed
/// acknowledgement can stretch to tens of milliseconds.
#[derive(Default)]
struct CopyBuffers {
    users: CopyText,
    subscriptions: CopyText,
    payments: CopyText,
    scores: CopyText,
}

/// Bytes of payment rows buffered before a flush.
const COPY_FLUSH_BYTES: usize = 32 << 20;

impl CopyBuffers {
    fn append(&mut self, batch: &Batch) {
        for u in &batch.users {
            self.users
                .display(u.id)
                .null()
                .text(&u.name)
                .text(&u.email)
                .time(u.created_at)
                .display(u.is_active)
                .end_row();
        }
        for s in &batch.subscriptions {
            self.subscriptions
                .display(s.id)
                .display(s.user_id)
                .text(s.subscription_type)
                .text(s.status)
                .display(s.monthly_amount_cents)
                .text(CURRENCY)
                .time(s.effective_from)
                .time(s.effective_until.unwrap_or(s.effective_from))
                .time(s.effective_from)
                .opt_time(s.effective_until)
                .end_row();
        }
        for p in &batch.payments {
            self.payments
                .display(p.id)
                .null()
                .display(p.subscription_id)
                .display(p.user_id)
                .display(p.amount_cents)
                .text(CURRENCY)
                .text(p.status.as_str())
                .time(p.payment_date)
                .text(p.payment_method)
                .opt_text(p.failure_reason)
                .end_row();
        }
        for s in &batch.scores {
            let scores = &mut self.scores;
            scores
                .display(s.user_id)
                .display(s.score)
                .text(s.level)
                .display(s.patterns)
                .display(s.total_payments)
                .display(s.failed_payments)
                .display(s.failure_rate)
                .display(s.is_active)
                .opt_text(s.plan.as_ref().map(|p| p.subscription_type.as_str()));
            match &s.plan {
                Some(p) => scores.display(p.monthly_amount_cents).text(&p.currency),
                None => scores.null().null(),
            };
            scores
                .opt_time(s.next_change_at)
                .time(s.computed_at)
                .end_row();
        }
    }

    fn is_full(&self) -> bool {
        self.payments.len() >= COPY_FLUSH_BYTES
    }

    async fn flush(&mut self, tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        let Self {
            users,
            subscriptions,
            payments,
            scores,
        } = std::mem::take(self);
        users
            .send(
                tx,
                "COPY users (id, external_id, name, email, created_at, is_active) FROM STDIN",
            )
            .await?;
        subscriptions
            .send(
                tx,
                "COPY user_subscriptions (id, user_id, subscription_type, status, \
                 monthly_amount_cents, currency, created_at, updated_at, effective_from, \
                 effective_until) FROM STDIN",
            )
            .await?;
        payments
            .send(
                tx,
                "COPY subscription_payments (id, external_id, subscription_id, user_id, \
                 amount_cents, currency, status, payment_date, payment_method, failure_reason) \
                 FROM STDIN",
            )
            .await?;
        scores
            .send(
                tx,
                "COPY risk_scores (user_id, score, level, patterns, total_payments, \
                 failed_payments, failure_rate, is_active, subscription_type, \
                 monthly_amount_cents, currency, next_change_at, computed_at) FROM STDIN",
            )
            .await?;
        Ok(())
    }
}

async fn insert_batch(tx: &sea_orm::DatabaseTransaction, batch: &Batch) -> Result<(), SeedError> {
    use sea_orm::ActiveValue::Set;
    // SQLite binds at most 32766 parameters a statement: 10 columns × 1000 rows fits.
    const ROWS: usize = 1_000;

    for chunk in batch.users.chunks(ROWS) {
        let models = chunk.iter().map(|u| entity::users::ActiveModel {
            id: Set(u.id),
            external_id: Set(None),
            name: Set(u.name.clone()),
            email: Set(u.email.clone()),
            created_at: Set(u.created_at),
            is_active: Set(u.is_active),
        });
        entity::users::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in batch.subscriptions.chunks(ROWS) {
        let models = chunk
            .iter()
            .map(|s| entity::user_subscriptions::ActiveModel {
                id: Set(s.id),
                user_id: Set(s.user_id),
                subscription_type: Set(s.subscription_type.to_owned()),
                status: Set(s.status.to_owned()),
                monthly_amount_cents: Set(s.monthly_amount_cents),
                currency: Set(CURRENCY.to_owned()),
                created_at: Set(s.effective_from),
                updated_at: Set(s.effective_until.unwrap_or(s.effective_from)),
                effective_from: Set(s.effective_from),
                effective_until: Set(s.effective_until),
            });
        entity::user_subscriptions::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in batch.payments.chunks(ROWS) {
        let models = chunk
            .iter()
            .map(|p| entity::subscription_payments::ActiveModel {
                id: Set(p.id),
                external_id: Set(None),
                subscription_id: Set(Some(p.subscription_id)),
                user_id: Set(p.user_id),
                amount_cents: Set(p.amount_cents),
                currency: Set(CURRENCY.to_owned()),
                status: Set(p.status.as_str().to_owned()),
                payment_date: Set(p.payment_date),
                payment_method: Set(p.payment_method.to_owned()),
                failure_reason: Set(p.failure_reason.map(str::to_owned)),
            });
        entity::subscription_payments::Entity::insert_many(models)
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in batch.scores.chunks(ROWS) {
        risk_scores::upsert_many(tx, chunk.to_vec()).await?;
    }
    Ok(())
}
