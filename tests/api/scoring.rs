//! Scores kept fresh (SPEC §3.4): rescored on every write, refreshed when time
//! alone changes them, fully recomputed on demand, and computed as of a past
//! instant; always equal to the pure core's computation from the stored rows.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::risk_scores;
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::helpers::internals::ingest::{self, NewPayment, UserUpsert};
use crate::helpers::internals::store::payments;
use crate::helpers::internals::{
    AppError, Cents, CurrencyCode, Email, Outcome, PaymentStatus, PlanStatus, RiskLevel,
    RiskPattern, Rules, ScoringConfig, UserFacts, Weights, When, assess_stored, level_of, risk,
    scoring, store, tester,
};
use crate::helpers::{Backend, Dice, TestDb, backend_tests, stored_score};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

async fn user(db: &DatabaseConnection, email: &str, created_at: DateTime<Utc>) -> i64 {
    let input = UserUpsert {
        external_id: None,
        name: "Test User".into(),
        email: Email::parse(email).expect("email"),
        created_at: Some(created_at),
        is_active: Some(true),
    };
    ingest::upsert_user(db, &Rules::default(), input, &tester(), t0())
        .await
        .expect("upsert user")
        .id
}

fn payment(user_id: i64, status: PaymentStatus, day: i64, euros: f64) -> NewPayment {
    NewPayment {
        user_id,
        subscription_id: None,
        external_id: None,
        amount: Cents::from_units(euros).expect("amount"),
        currency: CurrencyCode::euro(),
        status,
        payment_date: t0() - Duration::days(day),
        payment_method: "card".into(),
        failure_reason: None,
        caller: tester(),
    }
}

async fn pay(db: &DatabaseConnection, p: NewPayment, now: DateTime<Utc>) {
    ingest::record_payment(db, &Rules::default(), p, now)
        .await
        .expect("record payment");
}

/// Records an active plan version of `user_id` in euros, open-ended;
/// returns its id.
async fn plan(
    db: &DatabaseConnection,
    user_id: i64,
    kind: &str,
    euros: f64,
    effective_from: DateTime<Utc>,
) -> i64 {
    ingest::record_subscription(
        db,
        &Rules::default(),
        ingest::NewSubscription {
            user_id,
            subscription_type: kind.into(),
            status: PlanStatus::Active,
            monthly_amount: Cents::from_units(euros).expect("amount"),
            currency: CurrencyCode::euro(),
            effective_from,
            effective_until: None,
        },
        &tester(),
        t0(),
    )
    .await
    .expect("plan")
    .id
}

/// The pure core's answer from the rows stored now.
async fn fresh(
    db: &DatabaseConnection,
    user_id: i64,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> risk::Assessment {
    let user = store::users::find(db, user_id)
        .await
        .expect("query")
        .expect("user");
    let facts = payments::facts(db, user_id).await.expect("payments");
    risk::assess(
        &UserFacts {
            created_at: user.created_at,
        },
        &facts,
        config,
        now,
    )
}

fn assert_matches(row: &risk_scores::Model, expected: &risk::Assessment, context: &str) {
    assert_eq!(row.score, expected.score, "{context}: score");
    assert_eq!(level_of(row), expected.level, "{context}: level");
    assert_eq!(
        RiskPattern::from_mask(row.patterns),
        expected.patterns,
        "{context}: patterns"
    );
    assert_eq!(
        row.total_payments as u32, expected.total_payments,
        "{context}: total"
    );
    assert_eq!(
        row.failed_payments as u32, expected.failed_payments,
        "{context}: failed"
    );
    assert_eq!(
        row.next_change_at, expected.next_change,
        "{context}: next change"
    );
}

backend_tests!(recording_a_payment_rescores_its_user_in_the_same_write);
async fn recording_a_payment_rescores_its_user_in_the_same_write(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let id = user(db, "ann@example.com", t0() - Duration::days(200)).await;
    assert_eq!(
        stored_score(db, id).await.score,
        0.0,
        "{backend:?}: a new user is stored at 0"
    );

    pay(db, payment(id, PaymentStatus::Success, 90, 9.99), t0()).await;
    pay(db, payment(id, PaymentStatus::Failed, 60, 9.99), t0()).await;
    pay(db, payment(id, PaymentStatus::Declined, 30, 9.99), t0()).await;

    let row = stored_score(db, id).await;
    assert_matches(
        &row,
        &fresh(db, id, &ScoringConfig::default(), t0()).await,
        &format!("{backend:?}"),
    );
    assert!(
        row.score >= 0.4,
        "{backend:?}: two failures of the last three is high risk"
    );
    assert!(RiskPattern::from_mask(row.patterns).contains(&RiskPattern::PayOnceThenDecline));
}

backend_tests!(concurrent_payments_for_one_user_never_leave_a_stale_score);
async fn concurrent_payments_for_one_user_never_leave_a_stale_score(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = test_db.db.clone();
    let id = user(&db, "busy@example.com", t0() - Duration::days(400)).await;

    // 40 payments for the same user at once, in random-looking order.
    let writes = (0..40).map(|i| {
        let db = db.clone();
        let status = if (i * 7) % 5 < 2 {
            PaymentStatus::Failed
        } else {
            PaymentStatus::Success
        };
        let amount = if i % 3 == 0 { 1.99 } else { 12.99 };
        tokio::spawn(async move { pay(&db, payment(id, status, 40 - i, amount), t0()).await })
    });
    for write in futures::future::join_all(writes).await {
        write.expect("no write panicked");
    }

    let row = stored_score(&db, id).await;
    assert_eq!(
        row.total_payments, 40,
        "{backend:?}: the stored score saw every payment"
    );
    assert_matches(
        &row,
        &fresh(&db, id, &ScoringConfig::default(), t0()).await,
        &format!("{backend:?}"),
    );
}

/// What a user of the API sees of one recorded payment.
fn seen(result: &Result<ingest::PaymentRecorded, AppError>) -> String {
    match result {
        Ok(r) => format!(
            "ok duplicate={} user={} external={:?} amount={} status={:?} score={} level={:?} patterns={:?}",
            r.duplicate,
            r.payment.user_id,
            r.payment.external_id,
            r.payment.amount_cents,
            r.payment.status,
            r.assessment.score,
            r.assessment.level,
            r.assessment.patterns
        ),
        Err(error) => format!("{}: {error}", error.code()),
    }
}

/// Two users (ids 1 and 2, in this order on a fresh database) with a plan
/// each for user 1 and a payment recorded under external id "e0" for user 2.
async fn batch_fixture(db: &DatabaseConnection) -> (i64, i64, i64) {
    let ann = user(db, "ann@example.com", t0() - Duration::days(400)).await;
    let bob = user(db, "bob@example.com", t0() - Duration::days(20)).await;
    let plan = plan(db, ann, "premium", 12.99, t0() - Duration::days(300)).await;
    let mut earlier = payment(bob, PaymentStatus::Success, 50, 4.99);
    earlier.external_id = Some("e0".into());
    pay(db, earlier, t0()).await;
    (ann, bob, plan)
}

backend_tests!(a_batch_of_payments_answers_each_as_if_recorded_alone_in_turn);
async fn a_batch_of_payments_answers_each_as_if_recorded_alone_in_turn(backend: Backend) {
    // Arrange: the same users on two databases.
    let alone_db = TestDb::migrated(backend).await;
    let batch_db = TestDb::migrated(backend).await;
    let (ann, bob, ann_plan) = batch_fixture(&alone_db.db).await;
    assert_eq!(batch_fixture(&batch_db.db).await, (ann, bob, ann_plan));
    let with = |mut p: NewPayment, edit: &dyn Fn(&mut NewPayment)| {
        edit(&mut p);
        p
    };
    let inputs = vec![
        payment(ann, PaymentStatus::Success, 30, 12.99),
        with(payment(ann, PaymentStatus::Failed, 20, 12.99), &|p| {
            p.external_id = Some("e1".into())
        }),
        // Refused: another user's plan.
        with(payment(bob, PaymentStatus::Success, 19, 4.99), &|p| {
            p.subscription_id = Some(ann_plan)
        }),
        // Refused: no such user.
        payment(999_999, PaymentStatus::Success, 18, 4.99),
        // The same external id again in the same batch: a duplicate.
        with(payment(ann, PaymentStatus::Declined, 10, 1.99), &|p| {
            p.external_id = Some("e1".into())
        }),
        // Refused: that external id is another user's.
        with(payment(bob, PaymentStatus::Failed, 9, 4.99), &|p| {
            p.external_id = Some("e1".into())
        }),
        // Recorded before the batch: a duplicate.
        with(payment(bob, PaymentStatus::Failed, 8, 4.99), &|p| {
            p.external_id = Some("e0".into())
        }),
        // Two identical payments are two payments.
        payment(bob, PaymentStatus::Failed, 5, 4.99),
        payment(bob, PaymentStatus::Failed, 5, 4.99),
        // Refused: no such plan.
        with(payment(bob, PaymentStatus::Success, 4, 4.99), &|p| {
            p.subscription_id = Some(999_999)
        }),
        with(payment(ann, PaymentStatus::Success, 3, 12.99), &|p| {
            p.subscription_id = Some(ann_plan)
        }),
        payment(ann, PaymentStatus::Failed, 1, 1.99),
    ];
    let config = ScoringConfig::default();

    // Act: one at a time on one database, all at once on the other.
    let mut alone = Vec::new();
    for input in inputs.clone() {
        alone.push(ingest::record_payment(&alone_db.db, &Rules::from(config), input, t0()).await);
    }
    let batch = ingest::record_payments(&batch_db.db, &Rules::from(config), inputs, t0()).await;

    // Assert: the same answers, in order, and the same stored rows.
    let alone: Vec<String> = alone.iter().map(seen).collect();
    let batch_seen: Vec<String> = batch.iter().map(seen).collect();
    assert_eq!(batch_seen, alone, "{backend:?}");
    let codes: Vec<&str> = batch
        .iter()
        .map(|r| r.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "ok",
            "BAD_USER_INPUT",
            "NOT_FOUND",
            "ok",
            "BAD_USER_INPUT",
            "ok",
            "ok",
            "ok",
            "BAD_USER_INPUT",
            "ok",
            "ok"
        ],
        "{backend:?}"
    );
    let duplicates: Vec<bool> = batch.iter().flatten().map(|r| r.duplicate).collect();
    assert_eq!(
        duplicates,
        [false, false, true, true, false, false, false, false]
    );
    let twins: Vec<i64> = batch[7..9].iter().flatten().map(|r| r.payment.id).collect();
    assert_ne!(twins[0], twins[1], "{backend:?}: two rows for two payments");
    for id in [ann, bob] {
        let row = stored_score(&batch_db.db, id).await;
        assert_matches(
            &row,
            &fresh(&batch_db.db, id, &config, t0()).await,
            &format!("{backend:?} user {id}"),
        );
        assert_eq!(
            (row.score, row.total_payments, row.failed_payments),
            {
                let a = stored_score(&alone_db.db, id).await;
                (a.score, a.total_payments, a.failed_payments)
            },
            "{backend:?} user {id}"
        );
    }
    assert_eq!(stored_score(&batch_db.db, ann).await.total_payments, 4);
    assert_eq!(stored_score(&batch_db.db, bob).await.total_payments, 3);
}

backend_tests!(the_refresher_rescores_exactly_the_users_whose_instant_has_passed);
async fn the_refresher_rescores_exactly_the_users_whose_instant_has_passed(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let config = ScoringConfig::default();
    // New (29 days): changes at 30 days. Mid (100 days): changes at 180. Old: never.
    let new = user(db, "new@example.com", t0() - Duration::days(29)).await;
    let mid = user(db, "mid@example.com", t0() - Duration::days(100)).await;
    let old = user(db, "old@example.com", t0() - Duration::days(400)).await;
    for id in [new, mid, old] {
        pay(db, payment(id, PaymentStatus::Success, 20, 9.99), t0()).await;
        pay(db, payment(id, PaymentStatus::Failed, 1, 9.99), t0()).await;
    }
    assert_eq!(
        stored_score(db, new).await.next_change_at,
        Some(t0() + Duration::days(1))
    );
    assert_eq!(
        stored_score(db, mid).await.next_change_at,
        Some(t0() + Duration::days(80))
    );
    assert_eq!(stored_score(db, old).await.next_change_at, None);
    let before_new = stored_score(db, new).await;

    // Nothing is due yet.
    assert_eq!(
        scoring::rescore_due(db, &Rules::from(config), t0() + Duration::hours(23), 100)
            .await
            .expect("refresh"),
        0
    );

    // Two days later: only the new account crossed a boundary.
    let later = t0() + Duration::days(2);
    assert_eq!(
        scoring::rescore_due(db, &Rules::from(config), later, 100)
            .await
            .expect("refresh"),
        1,
        "{backend:?}"
    );
    let after_new = stored_score(db, new).await;
    assert_eq!(after_new.computed_at, later);
    assert!(
        after_new.score < before_new.score,
        "{backend:?}: the age factor dropped"
    );
    assert_matches(
        &after_new,
        &fresh(db, new, &config, later).await,
        &format!("{backend:?} new"),
    );
    assert_eq!(
        stored_score(db, mid).await.computed_at,
        t0(),
        "{backend:?}: mid untouched"
    );
    assert_eq!(
        stored_score(db, old).await.computed_at,
        t0(),
        "{backend:?}: old untouched"
    );

    // 81 days later: the mid account, and the new one again (it reached 90 days).
    let much_later = t0() + Duration::days(81);
    assert_eq!(
        scoring::rescore_due(db, &Rules::from(config), much_later, 100)
            .await
            .expect("refresh"),
        2
    );
    assert_eq!(stored_score(db, mid).await.computed_at, much_later);
    assert_eq!(
        stored_score(db, old).await.computed_at,
        t0(),
        "{backend:?}: old still untouched"
    );
    assert_matches(
        &stored_score(db, mid).await,
        &fresh(db, mid, &config, much_later).await,
        "mid",
    );
}

backend_tests!(a_full_rescore_in_many_batches_scores_every_user_with_new_weights);
async fn a_full_rescore_in_many_batches_scores_every_user_with_new_weights(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    test_db.seed(60, 5, t0()).await;

    let weights = Weights::new(0.6, 0.1, 0.15, 0.1, 0.05).expect("valid weights");
    let config = ScoringConfig {
        weights,
        ..ScoringConfig::default()
    };
    let later = t0() + Duration::days(3);
    let mut reported = 0;
    let done = scoring::rescore_all(db, &Rules::from(config), later, 7, |n| reported += n)
        .await
        .expect("rescore");
    assert_eq!((done.users, reported), (60, 60), "{backend:?}");
    assert!(
        done.changed > 30,
        "{backend:?}: new weights move most scores ({done:?})"
    );

    let mut rows = risk_scores::Entity::find().all(db).await.expect("scores");
    rows.sort_by_key(|row| row.user_id);
    assert_eq!(rows.len(), 60);
    let rewritten = rows.iter().filter(|row| row.computed_at == later).count();
    assert_eq!(
        rewritten as u64, done.changed,
        "{backend:?}: rows rewritten"
    );
    for row in &rows {
        assert_matches(
            row,
            &fresh(db, row.user_id, &config, later).await,
            &format!("{backend:?} user {}", row.user_id),
        );
    }

    // The same rules again, a moment later: every row already holds its
    // score, none is written.
    let again = later + Duration::seconds(1);
    let done = scoring::rescore_all(db, &Rules::from(config), again, 7, |_| {})
        .await
        .expect("rescore again");
    assert_eq!((done.users, done.changed), (60, 0), "{backend:?}");
    let mut after = risk_scores::Entity::find().all(db).await.expect("scores");
    after.sort_by_key(|row| row.user_id);
    assert_eq!(after, rows, "{backend:?}: rows untouched");
}

backend_tests!(a_full_rescore_beside_payments_being_recorded_leaves_no_stale_score);
async fn a_full_rescore_beside_payments_being_recorded_leaves_no_stale_score(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = test_db.db.clone();
    let report = test_db.seed(120, 9, t0()).await;
    let users = report.users as i64;
    let weights = Weights::new(0.6, 0.1, 0.15, 0.1, 0.05).expect("valid weights");
    let config = ScoringConfig {
        weights,
        ..ScoringConfig::default()
    };
    let rules = Rules::from(config);

    // New weights, and payments recorded under them while the rescore
    // runs, each by a write of its own.
    let writes = (0..60).map(|i: i64| {
        let (db, rules) = (db.clone(), rules.clone());
        let status = if i % 3 == 0 {
            PaymentStatus::Declined
        } else {
            PaymentStatus::Success
        };
        let p = payment(1 + (i * 37) % users, status, i % 20, 9.99);
        tokio::spawn(async move { ingest::record_payment(&db, &rules, p, t0()).await })
    });
    let writes = futures::future::join_all(writes);
    let (done, written) = tokio::join!(scoring::rescore_all(&db, &rules, t0(), 7, |_| {}), writes);
    let done = done.expect("rescore");
    assert_eq!(done.users, report.users, "{backend:?}");
    for write in written {
        write.expect("no write panicked").expect("payment recorded");
    }

    // Every stored row is the full computation over what is stored now:
    // no rescore wrote a score read before a payment over the payment's.
    for id in 1..=users {
        let row = stored_score(&db, id).await;
        assert_matches(
            &row,
            &fresh(&db, id, &config, t0()).await,
            &format!("{backend:?} user {id}"),
        );
    }
    let again = scoring::rescore_all(&db, &rules, t0(), 7, |_| {})
        .await
        .expect("rescore again");
    assert_eq!(again.changed, 0, "{backend:?}: nothing left to rescore");
}

/// A full rescore that changes nothing takes no lock on PostgreSQL, where a
/// row lock is a write (a locked row keeps its locker in `xmax`): every
/// range is first scored without locks, a range without users (a gap in
/// the ids) included.
#[tokio::test]
async fn a_full_rescore_that_changes_nothing_locks_no_user() {
    use sea_orm::ConnectionTrait;
    if !crate::helpers::postgres_configured(
        "scoring::a_full_rescore_that_changes_nothing_locks_no_user",
    ) {
        return;
    }
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = &test_db.db;
    test_db.seed(60, 5, t0()).await;
    db.execute_unprepared("DELETE FROM users WHERE id BETWEEN 8 AND 14")
        .await
        .expect("a gap in the ids");
    let locked = || async {
        crate::helpers::count(db, "SELECT count(*) FROM users WHERE xmax <> '0'").await
    };
    assert_eq!(locked().await, 0, "no user locked before");

    let done = scoring::rescore_all(db, &Rules::default(), t0(), 7, |_| {})
        .await
        .expect("rescore");
    assert_eq!((done.users, done.changed), (53, 0));
    assert_eq!(locked().await, 0, "no user locked by the rescore");

    // New weights change rows: those are locked and written.
    let weights = Weights::new(0.6, 0.1, 0.15, 0.1, 0.05).expect("valid weights");
    let config = ScoringConfig {
        weights,
        ..ScoringConfig::default()
    };
    let done = scoring::rescore_all(db, &Rules::from(config), t0(), 7, |_| {})
        .await
        .expect("rescore with new weights");
    assert!(done.changed > 0);
    assert!(
        locked().await > 0,
        "the users whose rows changed were locked"
    );
}

backend_tests!(a_full_rescore_reads_each_user_whatever_is_stored_of_them);
async fn a_full_rescore_reads_each_user_whatever_is_stored_of_them(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let mut ids = Vec::new();
    for (i, age) in [400, 30, 200, 90, 10, 700, 5, 365].into_iter().enumerate() {
        let id = user(db, &format!("u{i}@example.com"), t0() - Duration::days(age)).await;
        for (day, status, euros) in [
            (60, PaymentStatus::Success, 29.99),
            (30, PaymentStatus::Failed, 29.99),
            (20, PaymentStatus::Pending, 4.99),
            (10, PaymentStatus::Declined, 4.99),
        ]
        .into_iter()
        .skip(i % 4)
        {
            pay(db, payment(id, status, day, euros), t0()).await;
        }
        ids.push(id);
    }
    let [
        never_scored,
        tied_plans,
        drifted,
        unscored_payments,
        deactivated,
        untouched,
        gone,
        no_payments,
    ] = ids[..]
    else {
        unreachable!()
    };
    // Two plan versions from one instant: the later recorded is current.
    for kind in ["basic", "premium"] {
        plan(db, tied_plans, kind, 9.99, t0() - Duration::days(100)).await;
    }
    let later = t0() + Duration::hours(1);
    let config = ScoringConfig::default();
    scoring::rescore_all(db, &Rules::from(config), later, 3, |_| {})
        .await
        .expect("rescore");
    let before = stored_score(db, untouched).await;
    // What the writes keep is then undone behind the service's back.
    let sql = [
        format!("DELETE FROM risk_scores WHERE user_id = {never_scored}"),
        format!(
            "UPDATE risk_scores SET subscription_type = NULL, monthly_amount_cents = NULL, \
             currency = NULL WHERE user_id = {tied_plans}"
        ),
        format!(
            "UPDATE risk_scores SET total_payments = 99, failed_payments = 50, \
             succeeded_payments = NULL WHERE user_id = {drifted}"
        ),
        format!("UPDATE users SET is_active = false WHERE id = {deactivated}"),
        format!("DELETE FROM risk_scores WHERE user_id = {gone}"),
        format!("DELETE FROM subscription_payments WHERE user_id = {gone}"),
        format!("DELETE FROM users WHERE id = {gone}"),
        format!("DELETE FROM subscription_payments WHERE user_id = {no_payments}"),
    ];
    for statement in sql {
        db.execute_unprepared(&statement).await.expect(&statement);
    }
    store::payments::insert_new(
        db,
        &[store::payments::PaymentFields::from(payment(
            unscored_payments,
            PaymentStatus::Declined,
            1,
            4.99,
        ))],
    )
    .await
    .expect("a payment not rescored");

    let later = later + Duration::seconds(1);
    let done = scoring::rescore_all(db, &Rules::from(config), later, 3, |_| {})
        .await
        .expect("rescore");

    assert_eq!(done.users, 7, "{backend:?}: every user but the one deleted");
    assert_eq!(
        risk_scores::Entity::find_by_id(gone)
            .one(db)
            .await
            .expect("query"),
        None
    );
    for &id in ids.iter().filter(|&&id| id != gone) {
        let row = stored_score(db, id).await;
        let context = format!("{backend:?} user {id}");
        assert_matches(&row, &fresh(db, id, &config, later).await, &context);
        let user = store::users::find(db, id)
            .await
            .expect("query")
            .expect("user");
        assert_eq!(row.is_active, user.is_active, "{context}");
        let facts = payments::facts(db, id).await.expect("payments");
        let succeeded = facts
            .iter()
            .filter(|f| f.outcome == Outcome::Success)
            .count();
        assert_eq!(
            row.succeeded_payments,
            Some(i32::try_from(succeeded).expect("count")),
            "{context}"
        );
    }
    let tied = stored_score(db, tied_plans).await;
    assert_eq!(
        (
            tied.subscription_type.as_deref(),
            tied.monthly_amount_cents,
            tied.currency.as_deref()
        ),
        (Some("premium"), Some(999), Some("EUR")),
        "{backend:?}: the plan recorded last of two from one instant"
    );
    assert!(!stored_score(db, deactivated).await.is_active);
    assert_eq!(stored_score(db, no_payments).await.total_payments, 0);
    assert_eq!(
        stored_score(db, untouched).await,
        before,
        "{backend:?}: a row already right is left as it was"
    );
}

backend_tests!(a_writes_reads_in_one_statement_are_the_reads_one_by_one);
/// What a write reads of its locked users before scoring them
/// (`store::summaries::rescoring_of`: one statement on PostgreSQL) is what
/// the four reads it replaces find, whatever is stored of each user.
async fn a_writes_reads_in_one_statement_are_the_reads_one_by_one(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let mut ids = Vec::new();
    for i in 0..6_i64 {
        let id = user(db, &format!("r{i}@example.com"), t0() - Duration::days(90)).await;
        // Eight payments for most: more than the newest 5 and oldest 4,
        // two of them at one instant.
        for n in 0..(8 - i) {
            let status = [PaymentStatus::Success, PaymentStatus::Failed][(n % 2) as usize];
            pay(
                db,
                payment(id, status, 40 - n.min(6), 9.99 + n as f64),
                t0(),
            )
            .await;
        }
        ids.push(id);
    }
    let [tied_plans, one_plan, no_score, no_counts, _, no_payments] = ids[..] else {
        unreachable!()
    };
    for kind in ["basic", "premium"] {
        plan(db, tied_plans, kind, 9.99, t0() - Duration::days(100)).await;
    }
    plan(db, one_plan, "pro", 49.0, t0() - Duration::days(10)).await;
    let sql = [
        format!("DELETE FROM risk_scores WHERE user_id = {no_score}"),
        format!("DELETE FROM subscription_payments WHERE user_id = {no_payments}"),
    ];
    for statement in sql {
        db.execute_unprepared(&statement).await.expect(&statement);
    }
    forget_counts(db, no_counts).await;
    // An id without a user, and the users out of order.
    let mut asked = ids.clone();
    asked.reverse();
    asked.push(999_999);

    let txn = db.begin().await.expect("begin");
    let read = store::summaries::rescoring_of(&txn, &asked)
        .await
        .expect("one statement");
    let sorted = |mut parts: store::summaries::SummaryParts| {
        for facts in [&mut parts.newest, &mut parts.oldest] {
            facts.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        }
        parts
    };
    let parts = store::summaries::parts_of(&txn, &asked)
        .await
        .expect("parts");
    assert_eq!(read.parts.len(), parts.len(), "{backend:?}");
    for (id, expected) in parts {
        let got = read.parts.get(&id).cloned().expect("the user's parts");
        assert_eq!(sorted(got), sorted(expected), "{backend:?} user {id}");
    }
    assert_eq!(
        read.levels,
        store::risk_scores::levels_of(&txn, &asked)
            .await
            .expect("levels"),
        "{backend:?}"
    );
    assert_eq!(
        read.plans,
        store::subscriptions::current_plans_of(&txn, &asked)
            .await
            .expect("plans"),
        "{backend:?}"
    );
    assert_eq!(
        read.plans
            .get(&tied_plans)
            .map(|p| p.subscription_type.as_str()),
        Some("premium"),
        "{backend:?}: the plan recorded last of two from one instant"
    );
    assert_eq!(read.levels.len(), 5, "{backend:?}: every user with a score");
    assert_eq!(read.parts[&no_counts].counts, None, "{backend:?}");
    assert!(read.parts[&no_payments].newest.is_empty(), "{backend:?}");
    assert_eq!(
        read.generation,
        store::digest::writing_generation(&txn)
            .await
            .expect("generation"),
        "{backend:?}"
    );
    txn.rollback().await.expect("rollback");
}

/// A full rescore reads through binary COPY on pool connections; one read
/// stopped midway (an error, a cancelled batch) must not leave its
/// connection in the pool with the rest of the COPY still to come.
#[tokio::test]
async fn a_binary_copy_stopped_midway_leaves_the_pool_answering_right() {
    use sea_orm::{ConnectionTrait, DbErr, Statement};
    use store::copy::{binary_i64, copy_out, present};
    if !crate::helpers::postgres_configured(
        "scoring::a_binary_copy_stopped_midway_leaves_the_pool_answering_right",
    ) {
        return;
    }
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let mut options = sea_orm::ConnectOptions::new(test_db.url.clone());
    options.max_connections(1).sqlx_logging(false);
    let db = sea_orm::Database::connect(options)
        .await
        .expect("a pool of one");
    let pool = db.get_postgres_connection_pool();
    let many = "COPY (SELECT generate_series(1, 100000)::int8) TO STDOUT (FORMAT binary)";

    let mut seen = 0;
    let stopped = copy_out::<1>(pool, many, |_| {
        seen += 1;
        if seen == 3 {
            return Err(DbErr::Custom("stop here".into()));
        }
        Ok(())
    })
    .await;
    assert_eq!(stopped, Err(DbErr::Custom("stop here".into())));
    assert_eq!(seen, 3);

    // The pool's one connection then answers its own queries, and reads a
    // whole COPY again.
    for n in [7_i64, 8] {
        let row = db
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!("SELECT {n}::int8 AS n"),
            ))
            .await
            .expect("query")
            .expect("a row");
        assert_eq!(row.try_get::<i64>("", "n").expect("n"), n);
    }
    let mut sum = 0;
    copy_out::<1>(pool, many, |[n]| {
        sum += binary_i64(present(n)?)?;
        Ok(())
    })
    .await
    .expect("a whole COPY");
    assert_eq!(sum, 100_000 * 100_001 / 2);
}

backend_tests!(the_rescore_command_applies_the_configured_weights);
async fn the_rescore_command_applies_the_configured_weights(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    test_db.seed(40, 6, Utc::now()).await;

    let output = test_db
        .cli(&["rescore"])
        .env("RISK_WEIGHT_RECENT_FAILURES", "0.30")
        .env("RISK_WEIGHT_AMOUNT", "0.40")
        .env("HIGH_RISK_THRESHOLD", "0.3")
        .output()
        .expect("run risk-monitor rescore");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{backend:?}: {stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("rescored 40 users ("));
    assert!(stderr.contains("rescore: 40/40"), "{stderr}");

    let weights = Weights::new(0.30, 0.40, 0.15, 0.10, 0.05).expect("weights");
    let thresholds = risk::Thresholds::new(0.3, 0.7).expect("thresholds");
    let config = ScoringConfig {
        weights,
        thresholds,
    };
    for row in risk_scores::Entity::find().all(db).await.expect("scores") {
        assert_matches(
            &row,
            &fresh(db, row.user_id, &config, row.computed_at).await,
            &format!("{backend:?}"),
        );
    }
}

backend_tests!(a_score_as_of_a_past_instant_sees_only_the_payments_up_to_then);
async fn a_score_as_of_a_past_instant_sees_only_the_payments_up_to_then(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let config = ScoringConfig::default();
    let id = user(db, "history@example.com", t0() - Duration::days(300)).await;
    for (status, day) in [
        (PaymentStatus::Success, 120),
        (PaymentStatus::Success, 90),
        (PaymentStatus::Failed, 60),
        (PaymentStatus::Failed, 30),
    ] {
        pay(db, payment(id, status, day, 9.99), t0()).await;
    }
    // Before the failures: low risk then; high now.
    let then = t0() - Duration::days(75);
    let as_of = assess_stored(db, &config, id, When::AsOf(then))
        .await
        .expect("user");
    assert_eq!(as_of.total_payments, 2, "{backend:?}");
    assert_eq!(as_of.failed_payments, 0);
    assert_eq!(as_of.level, RiskLevel::Low);
    let facts = payments::facts(db, id).await.expect("payments");
    let expected = risk::assess_as_of(
        &UserFacts {
            created_at: t0() - Duration::days(300),
        },
        &facts,
        &config,
        then,
    );
    assert_eq!(as_of, expected);
    assert!(
        stored_score(db, id).await.score > as_of.score,
        "{backend:?}: the score rose since"
    );
    assert!(
        assess_stored(db, &config, 999_999, When::AsOf(then))
            .await
            .is_none()
    );
}

backend_tests!(writes_score_from_the_summary_exactly_as_from_the_whole_history);
async fn writes_score_from_the_summary_exactly_as_from_the_whole_history(backend: Backend) {
    // Arrange: users of every age bracket, and what each has paid so far,
    // kept here in the order the writes were answered.
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let config = ScoringConfig::default();
    let rules = Rules::from(config);
    let mut users = Vec::new();
    for (n, age) in [400, 120, 45, 10].into_iter().enumerate() {
        let created_at = t0() - Duration::days(age);
        let id = user(db, &format!("user{n}@example.com"), created_at).await;
        users.push((id, UserFacts { created_at }));
    }
    let mut paid: std::collections::HashMap<i64, Vec<risk::PaymentFact>> = Default::default();
    let statuses = [
        PaymentStatus::Success,
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::Declined,
        PaymentStatus::Pending,
        PaymentStatus::Refunded,
    ];
    let mut dice = Dice(0x5EED_u64 + backend as u64);
    let mut external = 0;

    for round in 0..100 {
        // Act: a batch of 1 to 12 payments for random users, on a coarse
        // grid of 60 instants in the last 300 days (so that payments at one
        // instant are frequent, at either end of a history), most of them
        // backdated before payments already recorded; a few repeat an
        // external id (duplicates, recorded once).
        let mut batch = Vec::new();
        for _ in 0..=dice.below(12) {
            let (id, _) = dice.pick(&users);
            let day = dice.below(20) as i64 * 15;
            let euros = dice.pick(&[0.99, 2.99, 4.99, 9.99, 14.99]);
            let mut p = payment(id, dice.pick(&statuses), day, euros);
            p.payment_date -= Duration::hours(dice.below(3) as i64);
            if dice.below(5) == 0 {
                external += 1;
                p.external_id = Some(format!("x{}", external - dice.below(2)));
            }
            batch.push(p);
        }
        // A user whose counts are unknown (a row written by a binary older
        // than migration 10): the next write sums up their whole history
        // once, then the counts are kept again.
        if round == 50 {
            forget_counts(db, users[0].0).await;
        }
        let results = ingest::record_payments(db, &rules, batch, t0()).await;

        // Assert: each answer is the full computation over every payment
        // its user had made at that point, bit for bit, messages included.
        for result in results {
            let recorded = match result {
                Ok(recorded) => recorded,
                Err(error) => {
                    assert_eq!(error.code().as_str(), "BAD_USER_INPUT", "{error}");
                    continue;
                }
            };
            let id = recorded.payment.user_id;
            let history = paid.entry(id).or_default();
            if !recorded.duplicate {
                history.push(payments::fact_of(&recorded.payment));
            }
            let facts = users.iter().find(|(user, _)| *user == id).expect("ours").1;
            assert_eq!(
                recorded.assessment,
                risk::assess(&facts, history, &config, t0()),
                "{backend:?} round {round}: the answer for user {id}"
            );
        }
        // And each stored row, counts included, is the full computation
        // over the payments stored.
        for (id, _) in &users {
            let row = stored_score(db, *id).await;
            let expected = fresh(db, *id, &config, t0()).await;
            assert_matches(&row, &expected, &format!("{backend:?} round {round}"));
            assert_eq!(
                row.succeeded_payments,
                Some(expected.succeeded_payments as i32),
                "{backend:?} round {round}: succeeded"
            );
            // The analysis reads the same summary, with its user in the
            // same round trip.
            let analysed = assess_stored(db, &config, *id, When::Now(t0())).await;
            assert_eq!(
                analysed.as_ref(),
                Some(&expected),
                "{backend:?} round {round}: analysis"
            );
            let (user, now) = scoring::user_assessed_now(db, &config, *id, t0())
                .await
                .expect("analysis")
                .expect("a user");
            assert_eq!(user.id, *id);
            assert_eq!(
                now, expected,
                "{backend:?} round {round}: analysis in one round trip"
            );
        }
    }
    let total: usize = paid.values().map(Vec::len).sum();
    assert!(total > 450, "{backend:?}: {total} payments recorded");

    // A full recomputation finds every stored score already right.
    let done = scoring::rescore_all(db, &rules, t0(), 100, |_| {})
        .await
        .expect("rescore");
    assert_eq!((done.users, done.changed), (4, 0), "{backend:?}");

    // An analysis of a user whose counts are unknown, or who has no score
    // row at all, sums up their whole history; an unknown user has none.
    forget_counts(db, users[1].0).await;
    sea_orm::ConnectionTrait::execute_unprepared(
        db,
        &format!("DELETE FROM risk_scores WHERE user_id = {}", users[2].0),
    )
    .await
    .expect("drop a score row");
    for (id, _) in &users[1..3] {
        let analysed = scoring::user_assessed_now(db, &config, *id, t0())
            .await
            .expect("analysis")
            .map(|(_, assessment)| assessment);
        assert_eq!(
            analysed,
            Some(fresh(db, *id, &config, t0()).await),
            "{backend:?}: user {id} without stored counts"
        );
    }
    assert!(
        scoring::user_assessed_now(db, &config, 999_999, t0())
            .await
            .expect("analysis")
            .is_none()
    );
}

/// Makes `user_id`'s stored counts unknown, as a binary older than
/// migration 10 leaves the rows it writes.
async fn forget_counts(db: &DatabaseConnection, user_id: i64) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
    let mut row = stored_score(db, user_id).await.into_active_model();
    row.succeeded_payments = Set(None);
    row.update(db).await.expect("forget the counts");
}

backend_tests!(a_score_updated_in_place_is_the_score_an_upsert_writes);
/// A write's scores go to existing rows through one `UPDATE` on PostgreSQL
/// (`store::risk_scores::write_many`), to the others through the upsert:
/// both must store the same values, and move the digest's baselines alike
/// (the same generation again, the next one, one further on).
async fn a_score_updated_in_place_is_the_score_an_upsert_writes(backend: Backend) {
    use entity::sea_orm_active_enums::RiskLevel as Stored;
    use sea_orm::TransactionTrait;
    use store::risk_scores::{CurrentPlan, ScoreRow, upsert_many, write_many};
    let test_db = TestDb::migrated(backend).await;
    let db = &test_db.db;
    let updated = user(db, "in-place@example.com", t0()).await;
    let upserted = user(db, "upsert@example.com", t0()).await;
    let created = user(db, "created@example.com", t0()).await;
    let row = |user_id: i64, n: i32, plan: bool| ScoreRow {
        user_id,
        score: 0.1 * f64::from(n) + 1.0 / 3.0,
        level: [Stored::Low, Stored::Medium, Stored::High, Stored::Critical][n as usize % 4],
        patterns: n,
        total_payments: 10 + n,
        failed_payments: n,
        succeeded_payments: 10,
        failure_rate: f64::from(n) / f64::from(10 + n),
        is_active: n % 2 == 0,
        plan: plan.then(|| CurrentPlan {
            subscription_type: format!("pro \"{n}\" \\ é,{{x}}"),
            monthly_amount_cents: 999 + i64::from(n),
            currency: "EUR".into(),
        }),
        // Nanoseconds: each path must cut them to what the column keeps.
        next_change_at: (n % 3 != 0)
            .then(|| t0() + Duration::nanoseconds(86_400_123_456_789 * i64::from(n))),
        computed_at: t0() + Duration::nanoseconds(1_999 + i64::from(n)),
    };
    let stored = |user: i64| user == updated || user == created;
    let txn = db.begin().await.expect("begin");
    upsert_many(
        &txn,
        vec![row(updated, 0, false), row(upserted, 0, false)],
        5,
    )
    .await
    .expect("first rows");
    for (n, generation, plan) in [(1, 5, true), (2, 6, false), (3, 6, true), (4, 9, true)] {
        write_many(
            &txn,
            vec![row(updated, n, plan), row(created, n, plan)],
            generation,
            stored,
        )
        .await
        .expect("in place");
        upsert_many(&txn, vec![row(upserted, n, plan)], generation)
            .await
            .expect("upsert");
        let mut rows = Vec::new();
        for id in [updated, upserted, created] {
            let found = risk_scores::Entity::find_by_id(id).one(&txn).await;
            // `created` was told stored while it had no row: it gets one.
            rows.push(found.expect("read").expect("every user has a row"));
        }
        let [a, b, c] = &rows[..] else { unreachable!() };
        assert_eq!(
            &risk_scores::Model {
                user_id: b.user_id,
                ..a.clone()
            },
            b,
            "{backend:?}: write {n} in generation {generation}"
        );
        assert_eq!(c.score, a.score, "{backend:?}: write {n}");
        assert_eq!(a.baseline_generation, generation, "{backend:?}: write {n}");
    }
    txn.rollback().await.expect("rollback");
}
