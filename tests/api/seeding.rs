//! Demo data: deterministic, the legacy mix, the right counts, and scored.

use chrono::{DateTime, TimeZone, Utc};
use entity::{risk_scores, subscription_payments, user_subscriptions, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, TransactionTrait,
};
use std::collections::{BTreeMap, HashSet};

use risk_monitor::seed::{BATCH_USERS, SeedOptions};
use risk_monitor::store::bulk::TABLES;

use crate::helpers::internals::{
    Cents, Outcome, PaymentFact, PaymentStatus, RiskPattern, ScoringConfig, UserFacts, level_of,
    risk,
};
use crate::helpers::{Backend, TestDb, backend_tests};

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0)
        .single()
        .expect("valid date")
}

/// Everything a user would compare between two seeded databases.
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: Vec<users::Model>,
    subscriptions: Vec<user_subscriptions::Model>,
    payments: Vec<subscription_payments::Model>,
    scores: Vec<risk_scores::Model>,
}

async fn snapshot(test_db: &TestDb) -> Snapshot {
    Snapshot {
        users: users::Entity::find()
            .order_by_asc(users::Column::Id)
            .all(&test_db.db)
            .await
            .expect("users"),
        subscriptions: user_subscriptions::Entity::find()
            .order_by_asc(user_subscriptions::Column::Id)
            .all(&test_db.db)
            .await
            .expect("subscriptions"),
        payments: subscription_payments::Entity::find()
            .order_by_asc(subscription_payments::Column::Id)
            .all(&test_db.db)
            .await
            .expect("payments"),
        scores: risk_scores::Entity::find()
            .order_by_asc(risk_scores::Column::UserId)
            .all(&test_db.db)
            .await
            .expect("scores"),
    }
}

/// PostgreSQL loads through binary COPY, each field in its column's binary
/// form; SQLite through INSERTs of the same rows. Every value must arrive
/// the same: the timestamps to the microsecond, the scores to the bit, the
/// NULLs where they are.
#[tokio::test]
async fn the_same_seed_stores_the_same_rows_on_both_backends() {
    if !crate::helpers::postgres_configured(
        "seeding::the_same_seed_stores_the_same_rows_on_both_backends",
    ) {
        return;
    }
    let (postgres, sqlite) = (
        TestDb::migrated(Backend::Postgres).await,
        TestDb::migrated(Backend::Sqlite).await,
    );
    postgres.seed(150, 11, fixed_now()).await;
    sqlite.seed(150, 11, fixed_now()).await;
    let (on_postgres, on_sqlite) = (snapshot(&postgres).await, snapshot(&sqlite).await);
    assert_eq!(on_postgres.users.len(), 150);
    assert!(
        on_postgres
            .payments
            .iter()
            .any(|p| p.failure_reason.is_some())
            && on_postgres
                .subscriptions
                .iter()
                .any(|s| s.effective_until.is_some())
            && on_postgres
                .scores
                .iter()
                .any(|s| s.next_change_at.is_none()),
        "the seed writes NULLs and values in the nullable columns"
    );
    assert_eq!(on_postgres, on_sqlite);
}

/// On PostgreSQL a seed sends its rows in COPYs of about 32 MB, each
/// streamed by a task of its own while the next rows are encoded. A seed
/// sent in a COPY per batch of users (three batches here, so two flushes
/// overlap the encoding of the next) stores exactly the rows of a seed
/// sent in one.
#[tokio::test]
async fn a_seed_sent_in_many_copies_stores_the_rows_of_a_seed_sent_in_one() {
    if !crate::helpers::postgres_configured(
        "seeding::a_seed_sent_in_many_copies_stores_the_rows_of_a_seed_sent_in_one",
    ) {
        return;
    }
    let (many, one) = (
        TestDb::migrated(Backend::Postgres).await,
        TestDb::migrated(Backend::Postgres).await,
    );
    let users = 2 * BATCH_USERS + 500;
    let report = many
        .seed_with(SeedOptions {
            copy_bytes: 1,
            ..SeedOptions::new(users, 13, fixed_now())
        })
        .await;
    one.seed(users, 13, fixed_now()).await;
    let (in_many, in_one) = (snapshot(&many).await, snapshot(&one).await);
    assert_eq!(in_many.users.len() as u64, users);
    assert_eq!(in_many.payments.len() as u64, report.payments);
    assert_eq!(in_many.scores.len() as u64, users);
    assert!(
        in_many == in_one,
        "the same rows, sent in many COPYs or one"
    );
}

/// A COPY the server refuses (here a check the seed does not drop, which
/// declined payments break) fails the seed with the server's error, even
/// when it was streaming behind the encoding of the next rows, and leaves
/// nothing written.
#[tokio::test]
async fn a_copy_refused_while_the_next_rows_are_encoded_fails_the_seed_and_writes_nothing() {
    if !crate::helpers::postgres_configured(
        "seeding::a_copy_refused_while_the_next_rows_are_encoded_fails_the_seed_and_writes_nothing",
    ) {
        return;
    }
    let test_db = TestDb::migrated(Backend::Postgres).await;
    test_db
        .db
        .execute_unprepared(
            "ALTER TABLE subscription_payments \
             ADD CONSTRAINT no_declines CHECK (status <> 'declined')",
        )
        .await
        .expect("a check");
    let refused = test_db
        .try_seed_with(SeedOptions {
            copy_bytes: 1,
            ..SeedOptions::new(2 * BATCH_USERS + 500, 13, fixed_now())
        })
        .await;
    let error = refused.expect_err("declined payments break the check");
    assert!(error.to_string().contains("no_declines"), "{error}");
    for table in TABLES {
        let rows =
            crate::helpers::count(&test_db.db, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(rows, 0, "{table}: nothing written");
    }
}

/// A migrated PostgreSQL database whose visibility map can be read
/// (`pg_visibility`).
async fn migrated_with_visibility_map() -> TestDb {
    let test_db = TestDb::migrated(Backend::Postgres).await;
    test_db
        .db
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        .await
        .expect("pg_visibility");
    test_db
}

/// Pages of `table` all-frozen in the visibility map, and all its pages.
async fn frozen_pages(test_db: &TestDb, table: &str) -> (i64, i64) {
    let of = |what: &str| {
        format!("SELECT count(*) FILTER (WHERE {what}) FROM pg_visibility_map('{table}')")
    };
    (
        crate::helpers::count(&test_db.db, &of("all_frozen")).await,
        crate::helpers::count(&test_db.db, &of("true")).await,
    )
}

/// A seed into an empty PostgreSQL database writes its rows already frozen
/// (the empty tables truncated in its transaction, then `COPY … FREEZE`):
/// every page of the four tables it loads is all-frozen, so the vacuum
/// after the load has no page to rewrite. A seed into a database that holds
/// rows truncates nothing: the first seed's users, and an alert with its
/// note, are all still there after a second one.
#[tokio::test]
async fn a_seed_into_an_empty_postgres_database_loads_frozen_rows_and_the_next_keeps_them() {
    if !crate::helpers::postgres_configured(
        "seeding::a_seed_into_an_empty_postgres_database_loads_frozen_rows_and_the_next_keeps_them",
    ) {
        return;
    }
    let test_db = migrated_with_visibility_map().await;
    test_db.seed(400, 3, fixed_now()).await;
    for table in TABLES {
        let (frozen, pages) = frozen_pages(&test_db, table).await;
        assert!(pages > 0, "{table} has pages");
        assert_eq!(frozen, pages, "{table}: every page frozen");
    }

    test_db
        .db
        .execute_unprepared(
            "INSERT INTO alerts (user_id, risk_score, risk_level, created_at) \
             VALUES (7, 0.9, 'high', now()); \
             INSERT INTO alert_notes (alert_id, author, text, at) \
             SELECT id, 'ops', 'called them', now() FROM alerts",
        )
        .await
        .expect("an alert with a note");
    test_db.seed(50, 4, fixed_now()).await;
    assert_eq!(snapshot(&test_db).await.users.len(), 450);
    for table in ["alerts", "alert_notes"] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            crate::helpers::count(&test_db.db, &sql).await,
            1,
            "{table} kept"
        );
    }
}

/// Freezing never waits: while another session holds a lock on `alerts`
/// (a running service reading it), a seed into an empty database loads
/// every row, unfrozen, instead of waiting for that session to end.
#[tokio::test]
async fn a_seed_loads_unfrozen_rather_than_wait_for_another_sessions_lock() {
    if !crate::helpers::postgres_configured(
        "seeding::a_seed_loads_unfrozen_rather_than_wait_for_another_sessions_lock",
    ) {
        return;
    }
    let test_db = migrated_with_visibility_map().await;
    let reader = test_db.db.begin().await.expect("a second session");
    reader
        .execute_unprepared("LOCK TABLE alerts IN ACCESS SHARE MODE")
        .await
        .expect("a lock on alerts");

    let seeded = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        test_db.seed(200, 5, fixed_now()),
    )
    .await;

    assert!(seeded.is_ok(), "the seed waited for another session's lock");
    reader.rollback().await.expect("end the second session");
    assert_eq!(snapshot(&test_db).await.users.len(), 200);
    let (frozen, pages) = frozen_pages(&test_db, "subscription_payments").await;
    assert!(
        pages > 0 && frozen < pages,
        "loaded unfrozen: {frozen} of {pages} pages frozen"
    );
}

backend_tests!(the_same_seed_gives_the_same_rows_and_another_seed_does_not);
async fn the_same_seed_gives_the_same_rows_and_another_seed_does_not(backend: Backend) {
    let (a, b, c) = (
        TestDb::migrated(backend).await,
        TestDb::migrated(backend).await,
        TestDb::migrated(backend).await,
    );
    a.seed(120, 7, fixed_now()).await;
    b.seed(120, 7, fixed_now()).await;
    c.seed(120, 8, fixed_now()).await;
    let (sa, sb, sc) = (snapshot(&a).await, snapshot(&b).await, snapshot(&c).await);
    assert_eq!(sa.users.len(), 120);
    assert_eq!(sa, sb, "{backend:?}: same seed, same rows");
    assert_ne!(sa.users, sc.users, "{backend:?}: another seed, other users");
}

/// What kind of history a user has, read back from the stored rows.
fn classify(
    subs: &[&user_subscriptions::Model],
    payments: &[&subscription_payments::Model],
) -> &'static str {
    let statuses: Vec<PaymentStatus> = payments.iter().map(|p| p.status).collect();
    let failed = |s: &PaymentStatus| Outcome::from(*s) == Outcome::Failed;
    let n = statuses.len();
    if subs.len() == 2 {
        let (old, new) = (subs[0], subs[1]);
        let premium_to_basic = old.subscription_type == "premium"
            && (899..=1599).contains(&old.monthly_amount_cents)
            && new.subscription_type == "basic"
            && (121..=299).contains(&new.monthly_amount_cents)
            && old.effective_until == Some(new.effective_from);
        let paid_on_both = payments.iter().any(|p| p.subscription_id == Some(old.id))
            && payments.iter().any(|p| p.subscription_id == Some(new.id));
        if premium_to_basic && paid_on_both {
            return "downgrade";
        }
    } else if subs.len() == 1 {
        // S F F fits both shapes; recent-failure users have 4 to 8 payments.
        if (3..=6).contains(&n)
            && statuses[0] == PaymentStatus::Success
            && statuses[1..].iter().all(failed)
        {
            return "pays_once";
        }
        if n >= 4
            && statuses[n - 2..].iter().all(failed)
            && statuses[..n - 2]
                .iter()
                .all(|s| *s == PaymentStatus::Success)
        {
            return "recent_failures";
        }
        let failures = statuses.iter().filter(|s| failed(s)).count();
        if (8..=15).contains(&n)
            && subs[0].monthly_amount_cents >= 999
            && failures <= 2
            && !failed(&statuses[n - 1])
        {
            return "healthy";
        }
    }
    "unexpected"
}

backend_tests!(demo_data_has_the_legacy_mix_of_patterns_and_consistent_rows);
async fn demo_data_has_the_legacy_mix_of_patterns_and_consistent_rows(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let report = test_db.seed(500, 42, fixed_now()).await;
    let snap = snapshot(&test_db).await;

    assert_eq!(report.users, 500);
    assert_eq!(snap.users.len(), 500);
    assert_eq!(report.subscriptions as usize, snap.subscriptions.len());
    assert_eq!(report.payments as usize, snap.payments.len());
    let emails: HashSet<&str> = snap.users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails.len(), 500, "{backend:?}: emails are unique");
    assert!(
        snap.users
            .iter()
            .all(|u| u.name.contains(' ') && u.email.contains('@'))
    );

    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &snap.users {
        let subs: Vec<_> = snap
            .subscriptions
            .iter()
            .filter(|s| s.user_id == user.id)
            .collect();
        let mut payments: Vec<_> = snap
            .payments
            .iter()
            .filter(|p| p.user_id == user.id)
            .collect();
        payments.sort_by_key(|p| (p.payment_date, p.id));
        assert!(
            payments
                .first()
                .is_some_and(|p| p.payment_date >= user.created_at),
            "{backend:?}: paid after opening"
        );
        assert!(
            payments
                .last()
                .is_some_and(|p| p.payment_date <= fixed_now()),
            "{backend:?}: no future payment"
        );
        for pair in payments.windows(2) {
            let gap = (pair[1].payment_date - pair[0].payment_date).num_days();
            assert_eq!(gap, 30, "{backend:?}: monthly spacing");
        }
        *kinds.entry(classify(&subs, &payments)).or_default() += 1;
    }
    // Per 25 users: 5 pay once then decline, 7 downgrade, 3 recent failures, 10 healthy.
    let expected = BTreeMap::from([
        ("downgrade", 140),
        ("healthy", 200),
        ("pays_once", 100),
        ("recent_failures", 60),
    ]);
    assert_eq!(kinds, expected, "{backend:?}");
}

backend_tests!(every_seeded_score_equals_the_scoring_of_the_stored_rows);
async fn every_seeded_score_equals_the_scoring_of_the_stored_rows(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    test_db.seed(250, 3, fixed_now()).await;
    let snap = snapshot(&test_db).await;
    let scores = risk_scores::Entity::find()
        .all(&test_db.db)
        .await
        .expect("scores");
    assert_eq!(scores.len(), 250, "{backend:?}: one score per user");

    let config = ScoringConfig::default();
    let mut levels = HashSet::new();
    for row in scores {
        let user = snap
            .users
            .iter()
            .find(|u| u.id == row.user_id)
            .expect("scored user exists");
        let facts: Vec<PaymentFact> = snap
            .payments
            .iter()
            .filter(|p| p.user_id == user.id)
            .map(|p| PaymentFact {
                paid_at: p.payment_date,
                amount: Cents::new(p.amount_cents).units(),
                outcome: Outcome::from(p.status),
            })
            .collect();
        let expected = risk::assess(
            &UserFacts {
                created_at: user.created_at,
            },
            &facts,
            &config,
            fixed_now(),
        );
        assert_eq!(row.score, expected.score, "{backend:?}: user {}", user.id);
        assert_eq!(level_of(&row), expected.level);
        assert_eq!(RiskPattern::from_mask(row.patterns), expected.patterns);
        assert_eq!(row.total_payments as u32, expected.total_payments);
        assert_eq!(row.failed_payments as u32, expected.failed_payments);
        assert_eq!(row.next_change_at, expected.next_change);
        assert_eq!(row.is_active, user.is_active);
        levels.insert(row.level);
    }
    assert!(
        levels.len() >= 3,
        "{backend:?}: demo data spans levels: {levels:?}"
    );
}

backend_tests!(seeding_twice_appends_and_later_inserts_get_fresh_ids);
async fn seeding_twice_appends_and_later_inserts_get_fresh_ids(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    test_db.seed(30, 1, fixed_now()).await;
    test_db.seed(30, 1, fixed_now()).await;
    let snap = snapshot(&test_db).await;
    assert_eq!(snap.users.len(), 60, "{backend:?}");
    let ids: Vec<i64> = snap.users.iter().map(|u| u.id).collect();
    assert_eq!(ids, (1..=60).collect::<Vec<_>>());

    // The sequences moved past the bulk-loaded ids.
    let inserted = users::ActiveModel {
        name: Set("Late Comer".into()),
        email: Set("late.comer@example.com".into()),
        created_at: Set(fixed_now()),
        is_active: Set(true),
        external_id: Set(None),
        ..Default::default()
    }
    .insert(&test_db.db)
    .await
    .expect("insert after seeding");
    assert_eq!(inserted.id, 61, "{backend:?}");
}

/// The tables with planner statistics (PostgreSQL: analyzed since the
/// database was created; SQLite: rows in `sqlite_stat1`).
async fn analyzed_tables(test_db: &TestDb) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = match test_db.db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT relname::text AS name FROM pg_stat_user_tables \
             WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL ORDER BY 1"
        }
        _ => "SELECT DISTINCT tbl AS name FROM sqlite_stat1 ORDER BY 1",
    };
    let rows = test_db
        .db
        .query_all_raw(Statement::from_string(
            test_db.db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap_or_default();
    rows.iter()
        .map(|row| row.try_get::<String>("", "name").expect("name"))
        .filter(|name| TABLES.contains(&name.as_str()))
        .collect()
}

backend_tests!(seeding_leaves_the_planner_statistics_of_the_tables_it_loaded);
async fn seeding_leaves_the_planner_statistics_of_the_tables_it_loaded(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    assert!(
        analyzed_tables(&test_db).await.is_empty(),
        "{backend:?}: none before"
    );

    test_db.seed(30, 1, fixed_now()).await;

    assert_eq!(
        analyzed_tables(&test_db).await,
        [
            "risk_scores",
            "subscription_payments",
            "user_subscriptions",
            "users"
        ],
        "{backend:?}"
    );
}

backend_tests!(the_seed_command_reports_progress_in_plain_lines_off_a_terminal);
async fn the_seed_command_reports_progress_in_plain_lines_off_a_terminal(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let output = test_db
        .cli(&["seed", "--users", "50", "--seed", "9"])
        .output()
        .expect("run risk-monitor seed");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{backend:?}: {stderr}");
    assert!(stdout.contains("seeded 50 users"), "{stdout}");
    assert!(
        stderr.lines().any(|l| l.starts_with("seed: 50/50")),
        "{stderr}"
    );
    assert_eq!(
        users::Entity::find()
            .all(&test_db.db)
            .await
            .expect("users")
            .len(),
        50
    );
}
