//! The statistics PostgreSQL keeps by the writes (migration 14): after any
//! sequence of writes, through every path that writes the counted tables,
//! they equal a scan of the tables, folded or not. SQLite scans, so these
//! tests are PostgreSQL's.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::helpers::internals::ingest::{self, NewPayment, NewSubscription, UserUpsert};
use crate::helpers::internals::{
    Cents, CurrencyCode, Email, PaymentStatus, PlanStatus, Rules, ScoringConfig, Weights, scoring,
    stats_cache, store, tester,
};
use crate::helpers::{Backend, Dice, TestDb, postgres_configured};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// The first day of the longest trend the service reads.
fn first_day() -> NaiveDate {
    t0().date_naive() - Duration::days(365)
}

/// Asserts that the counters read now, and read again after a fold, equal
/// a scan of the tables: every count exactly, the score sum to the last
/// few bits (the scan adds floats, the counters decimals).
async fn assert_kept(db: &DatabaseConnection, context: &str) {
    let scanned = store::stats::scanned(db, first_day()).await.expect("scan");
    for moment in ["before a fold", "after a fold"] {
        if moment == "after a fold" {
            store::stats::fold(db).await.expect("fold");
        }
        let mut counted = store::stats::counted(db, first_day())
            .await
            .expect("counters");
        let sum = scanned.scores.score_sum;
        assert!(
            (counted.scores.score_sum - sum).abs() <= 1e-9 * sum.abs().max(1.0),
            "{context}, {moment}: score sum {} against {sum}",
            counted.scores.score_sum
        );
        counted.scores.score_sum = sum;
        assert_eq!(counted, scanned, "{context}, {moment}");
    }
}

async fn user(db: &DatabaseConnection, email: &str, active: bool, age_days: i64) -> i64 {
    let input = UserUpsert {
        external_id: None,
        name: "Kept Counter".into(),
        email: Email::parse(email).expect("email"),
        created_at: Some(t0() - Duration::days(age_days)),
        is_active: Some(active),
    };
    ingest::upsert_user(db, &Rules::default(), input, &tester(), t0())
        .await
        .expect("upsert user")
        .id
}

#[tokio::test]
async fn kept_statistics_equal_a_scan_of_the_tables_after_every_kind_of_write() {
    if !postgres_configured(
        "statistics::kept_statistics_equal_a_scan_of_the_tables_after_every_kind_of_write",
    ) {
        return;
    }
    // Arrange: a seeded database (the bulk loader's COPY path).
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    let seeded = test_db.seed(150, 13, t0()).await;
    assert_kept(db, "after the seed").await;
    let figures = store::stats::counted(db, first_day())
        .await
        .expect("counters");
    assert_eq!(figures.scores.total_users, seeded.users);
    assert_eq!(figures.payments.total, seeded.payments);
    assert!(figures.scores.levels.iter().sum::<u64>() > 0 && !figures.days.is_empty());

    let mut dice = Dice(0x57A7);
    let mut emails: Vec<(String, bool)> = Vec::new();
    let statuses = [
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::Declined,
        PaymentStatus::Pending,
        PaymentStatus::Refunded,
    ];
    let users = i64::try_from(seeded.users).expect("count");
    for round in 0..60 {
        // Act: one write of a random kind.
        let kind = dice.below(7);
        match kind {
            // A new user, active or not.
            0 => {
                let email = format!("kept{round}@example.com");
                let active = dice.below(4) != 0;
                user(db, &email, active, dice.below(400) as i64).await;
                emails.push((email, active));
            }
            // A user deactivated or reactivated.
            1 if !emails.is_empty() => {
                let index = dice.below(emails.len() as u64) as usize;
                let (email, active) = emails[index].clone();
                user(db, &email, !active, 100).await;
                emails[index].1 = !active;
            }
            // Payments of seeded users, on any day of the last year, most of
            // them before payments already recorded.
            2 | 3 => {
                let batch = (0..=dice.below(8))
                    .map(|_| NewPayment {
                        user_id: 1 + dice.below(users as u64) as i64,
                        subscription_id: None,
                        external_id: None,
                        amount: Cents::from_units(dice.pick(&[2.99, 9.99])).expect("amount"),
                        currency: CurrencyCode::euro(),
                        status: dice.pick(&statuses),
                        payment_date: t0() - Duration::hours(dice.below(24 * 370) as i64),
                        payment_method: "card".into(),
                        failure_reason: None,
                        caller: tester(),
                    })
                    .collect();
                for result in ingest::record_payments(db, &Rules::default(), batch, t0()).await {
                    result.expect("payment");
                }
            }
            // A plan change, which moves a high-risk user between plans.
            4 => {
                ingest::record_subscription(
                    db,
                    &Rules::default(),
                    NewSubscription {
                        user_id: 1 + dice.below(users as u64) as i64,
                        subscription_type: dice.pick(&["basic", "premium", "Pro"]).into(),
                        status: PlanStatus::Active,
                        monthly_amount: Cents::from_units(4.99).expect("amount"),
                        currency: CurrencyCode::euro(),
                        effective_from: t0() - Duration::days(dice.below(30) as i64),
                        effective_until: None,
                    },
                    &tester(),
                    t0(),
                )
                .await
                .expect("plan");
            }
            // Every score rewritten with other weights, in parallel batches.
            5 => {
                let weights = if dice.below(2) == 0 {
                    Weights::new(0.6, 0.1, 0.15, 0.1, 0.05).expect("weights")
                } else {
                    ScoringConfig::default().weights
                };
                let config = ScoringConfig {
                    weights,
                    ..ScoringConfig::default()
                };
                scoring::rescore_all(db, &Rules::from(config), t0(), 17, |_| {})
                    .await
                    .expect("rescore");
            }
            // A fold between writes, as each serve process makes them.
            _ => stats_cache::fold_counters(db).await,
        }
        // Assert: the counters are the scan's.
        assert_kept(db, &format!("round {round}, write of kind {kind}")).await;
    }

    // Scores on the histogram's edges, as floats give them.
    db.execute_unprepared(
        "UPDATE risk_scores SET score = CASE user_id % 6 WHEN 0 THEN 0.1 \
         WHEN 1 THEN 0.1::float8 + 0.2::float8 WHEN 2 THEN 1.0 WHEN 3 THEN 0.0 \
         WHEN 4 THEN 0.7 ELSE 0.9 END WHERE user_id <= 60",
    )
    .await
    .expect("scores on the edges");
    assert_kept(db, "with scores on the histogram's edges").await;

    // A truncation forgets what the truncated tables counted.
    db.execute_unprepared(
        "TRUNCATE users, user_subscriptions, subscription_payments, risk_scores CASCADE",
    )
    .await
    .expect("truncate");
    assert_kept(db, "after a truncation").await;
    assert_eq!(
        store::stats::counted(db, first_day())
            .await
            .expect("counters"),
        store::stats::Figures::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_and_folds_lose_no_count() {
    if !postgres_configured("statistics::concurrent_writes_and_folds_lose_no_count") {
        return;
    }
    // Arrange: users to pay for.
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    test_db.seed(40, 3, t0()).await;
    let before = store::stats::counted(db, first_day())
        .await
        .expect("counters");

    // Act: eight writers record 25 payments each, one at a time, while
    // two processes (two pools) fold beside them.
    let writers = (0..8_i64).map(|writer| {
        let db = db.clone();
        tokio::spawn(async move {
            for n in 0..25_i64 {
                let payment = NewPayment {
                    user_id: 1 + (writer * 25 + n) % 40,
                    subscription_id: None,
                    external_id: None,
                    amount: Cents::from_units(9.99).expect("amount"),
                    currency: CurrencyCode::euro(),
                    status: if n % 3 == 0 {
                        PaymentStatus::Failed
                    } else {
                        PaymentStatus::Success
                    },
                    payment_date: t0() - Duration::days(n),
                    payment_method: "card".into(),
                    failure_reason: None,
                    caller: tester(),
                };
                ingest::record_payment(&db, &Rules::default(), payment, t0())
                    .await
                    .expect("payment");
            }
        })
    });
    let writers = futures::future::join_all(writers.collect::<Vec<_>>());
    let other = test_db.alias().await;
    let folds = |db: DatabaseConnection| async move {
        for _ in 0..20 {
            stats_cache::fold_counters(&db).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let (written, (), ()) = tokio::join!(writers, folds(db.clone()), folds(other.db.clone()));
    for writer in written {
        writer.expect("writer");
    }

    // Assert: every payment counted once, the rest as the scan says.
    let after = store::stats::counted(db, first_day())
        .await
        .expect("counters");
    assert_eq!(after.payments.total, before.payments.total + 200);
    assert_eq!(after.payments.failed, before.payments.failed + 8 * 9);
    assert_kept(db, "after concurrent writes and folds").await;
    stats_cache::fold_counters(db).await;
    assert_eq!(
        crate::helpers::count(db, "SELECT count(*) FROM stats_deltas").await,
        0,
        "a fold with no writer leaves no delta"
    );
}

#[tokio::test]
async fn migration_14_counts_what_the_database_already_holds() {
    if !postgres_configured("statistics::migration_14_counts_what_the_database_already_holds") {
        return;
    }
    // Arrange: a database at migration 13 holding seeded users.
    let test_db = TestDb::empty(Backend::Postgres).await;
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name().contains("_000014_"))
        .expect("migration 14");
    Migrator::up(&test_db.db, Some(before as u32))
        .await
        .expect("up to 13");
    let seeded = test_db.seed(80, 21, t0()).await;

    // Act
    Migrator::up(&test_db.db, Some(1)).await.expect("up to 14");

    // Assert: the counters start from what was there, then follow writes.
    assert_kept(&test_db.db, "after the migration").await;
    let counted = store::stats::counted(&test_db.db, first_day())
        .await
        .expect("counters");
    assert_eq!(
        (counted.scores.total_users, counted.payments.total),
        (seeded.users, seeded.payments)
    );
    user(&test_db.db, "after@example.com", true, 10).await;
    assert_kept(&test_db.db, "after a write").await;
}
