//! Deterministic demo data (SPEC §7.1), bulk-loaded and scored.
//!
//! Per 25 users, the legacy mix: 5 "pays once, then declines", 7 downgrades,
//! 3 with recent failures, 10 healthy. Every user draws from its own random
//! stream, seeded by (seed, user index), so the same seed gives the same rows
//! whatever the batch size, and dates are relative to the day of seeding.
//!
//! Rows are generated on a blocking thread and written by the async side as
//! they come through [`crate::store::bulk`], all in one transaction, so a
//! failed seed leaves nothing behind. Each user's score is computed with
//! [`crate::risk`] from the very rows written.

use chrono::{DateTime, Duration, DurationRound, Utc};
use fake::Fake;
use fake::faker::internet::en::SafeEmail;
use fake::faker::name::en::Name;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::domain::{Cents, PaymentStatus, PlanStatus};
use crate::progress::Progress;
use crate::risk::{self, Outcome, PaymentFact, ScoringConfig, UserFacts};
use crate::store::bulk::{self, BulkError, BulkWriter, IdBase, PaymentRow, PlanRow, Rows, UserRow};
use crate::store::risk_scores::{CurrentPlan, ScoreRow};

/// Users generated and written per batch.
pub const BATCH_USERS: u64 = 2_000;

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
    /// Bytes of payment rows gathered before each set of COPYs on
    /// PostgreSQL (checked once a batch of [`BATCH_USERS`] users).
    pub copy_bytes: usize,
}

impl SeedOptions {
    /// `users` users from `seed` at `now`, sent in COPYs of
    /// [`bulk::COPY_FLUSH_BYTES`].
    pub fn new(users: u64, seed: u64, now: DateTime<Utc>) -> Self {
        Self {
            users,
            seed,
            now,
            copy_bytes: bulk::COPY_FLUSH_BYTES,
        }
    }
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
    /// Writing the rows failed.
    #[error("seeding failed: {0}")]
    Store(#[from] BulkError),
    /// The generator thread stopped unexpectedly.
    #[error("the demo data generator stopped: {0}")]
    Generator(String),
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
    pub fn batch(&mut self, count: u64) -> Rows {
        let mut batch = Rows::default();
        for _ in 0..count {
            self.user(&mut batch);
        }
        batch
    }

    fn user(&mut self, batch: &mut Rows) {
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
        let first_sub = batch.plans.len();
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
            let id = self.next.plan;
            self.next.plan += 1;
            batch.plans.push(PlanRow {
                id,
                user_id,
                subscription_type,
                status: PlanStatus::Active,
                monthly_amount_cents: *cents,
                currency: CURRENCY,
                created_at: effective_from,
                updated_at: effective_from,
                effective_from,
                effective_until: None,
            });
        }
        // A replaced version ends where the next begins.
        for i in first_sub + 1..batch.plans.len() {
            let until = batch.plans[i].effective_from;
            let previous = &mut batch.plans[i - 1];
            previous.effective_until = Some(until);
            previous.updated_at = until;
            previous.status = PlanStatus::Cancelled;
        }

        for (i, (plan_index, status)) in plan_payments.into_iter().enumerate() {
            let sub = &batch.plans[first_sub + plan_index];
            let id = self.next.payment;
            self.next.payment += 1;
            let failure_reason = (Outcome::from(status) == Outcome::Failed)
                .then(|| FAILURE_REASONS[rng.random_range(0..FAILURE_REASONS.len())]);
            let payment_method = match rng.random_range(0..20) {
                0..12 => "card",
                12..17 => "paypal",
                _ => "bank_transfer",
            };
            batch.payments.push(PaymentRow {
                id,
                subscription_id: sub.id,
                user_id,
                amount_cents: sub.monthly_amount_cents,
                currency: CURRENCY,
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
                amount: Cents::new(p.amount_cents).units(),
                outcome: Outcome::from(p.status),
            })
            .collect();
        let assessment = risk::assess(&UserFacts { created_at }, &facts, &self.scoring, self.now);
        let current = batch.plans[first_sub..]
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
        batch.users.push(UserRow {
            id: user_id,
            name,
            email,
            created_at,
            is_active,
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
    let mut writer = BulkWriter::begin(db, options.users, options.copy_bytes).await?;
    let ids = writer.id_base().await?;

    let (tx, mut rx) = mpsc::channel::<Rows>(4);
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
        writer.write(&batch).await?;
        report.users += batch.users.len() as u64;
        report.subscriptions += batch.plans.len() as u64;
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
    writer.commit(db).await?;
    progress.finish();
    Ok(report)
}
