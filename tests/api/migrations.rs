//! Migrations: up, down, up again, on every backend; and the `migrate` command.

use migration::{Migrator, MigratorTrait, SchemaManager};

use crate::helpers::{Backend, TestDb, backend_tests};

const TABLES: [&str; 15] = [
    "users",
    "user_subscriptions",
    "subscription_payments",
    "risk_scores",
    "alerts",
    "api_keys",
    "sessions",
    "audit_log",
    "alert_notes",
    "channels",
    "deliveries",
    "delivery_attempts",
    "digests",
    "event_queue",
    "shared_snapshots",
];

/// The tables of the migration before the newest (the outbox: notes, channels,
/// deliveries and their tries, digests, the SQLite event queue).
const OUTBOX_TABLES: [&str; 6] = [
    "alert_notes",
    "channels",
    "deliveries",
    "delivery_attempts",
    "digests",
    "event_queue",
];

/// The tables of the one before (access: keys, sessions, audit).
const ACCESS_TABLES: [&str; 3] = ["api_keys", "sessions", "audit_log"];

const HOT_INDEXES: [(&str, &str); 3] = [
    (
        "subscription_payments",
        "idx_subscription_payments_user_order",
    ),
    ("risk_scores", "idx_risk_scores_score_user"),
    ("risk_scores", "idx_risk_scores_next_change"),
];

/// PostgreSQL's indexes for the list's search (none on SQLite): trigrams
/// (migration 6), the active users' scores by user (migration 9), the
/// list's order holding the lower-cased names and emails (migration 12).
const SEARCH_INDEXES: [(&str, &str); 4] = [
    ("users", "idx_users_name_trgm"),
    ("users", "idx_users_email_trgm"),
    ("risk_scores", "idx_risk_scores_active_user_score"),
    ("risk_scores", "idx_risk_scores_search_walk"),
];

async fn search_indexes(test_db: &TestDb) -> Vec<&'static str> {
    let manager = SchemaManager::new(&test_db.db);
    let mut present = Vec::new();
    for (table, index) in SEARCH_INDEXES {
        if manager.has_table(table).await.expect("inspect")
            && manager.has_index(table, index).await.expect("inspect")
        {
            present.push(index);
        }
    }
    present
}

/// SQLite's trigram index for the search (the newest migration): the FTS5
/// table, the shadow tables FTS5 keeps, the triggers that fill it.
const SQLITE_SEARCH: [&str; 8] = [
    "users_fts",
    "users_fts_config",
    "users_fts_data",
    "users_fts_delete",
    "users_fts_docsize",
    "users_fts_idx",
    "users_fts_insert",
    "users_fts_update",
];

async fn sqlite_search_objects(test_db: &TestDb) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    if test_db.db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Vec::new();
    }
    let sql = "SELECT name FROM sqlite_master WHERE name LIKE 'users_fts%' ORDER BY name";
    test_db
        .db
        .query_all_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            sql,
        ))
        .await
        .expect("inspect the schema")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
        .collect()
}

async fn tables_present(test_db: &TestDb) -> Vec<&'static str> {
    present_of(test_db, &TABLES).await
}

/// Those of `tables` the database holds.
async fn present_of(test_db: &TestDb, tables: &[&'static str]) -> Vec<&'static str> {
    let manager = SchemaManager::new(&test_db.db);
    let mut present = Vec::new();
    for &table in tables {
        if manager.has_table(table).await.expect("inspect the schema") {
            present.push(table);
        }
    }
    present
}

backend_tests!(migrations_go_up_down_and_up_again);
async fn migrations_go_up_down_and_up_again(backend: Backend) {
    // Arrange
    let test_db = TestDb::empty(backend).await;
    assert!(
        tables_present(&test_db).await.is_empty(),
        "{backend:?}: a new database has no tables"
    );

    // Act + Assert: up
    Migrator::up(&test_db.db, None).await.expect("up");
    assert_eq!(
        tables_present(&test_db).await,
        TABLES,
        "{backend:?}: every table after up"
    );
    let manager = SchemaManager::new(&test_db.db);
    for (table, index) in HOT_INDEXES {
        assert!(
            manager.has_index(table, index).await.expect("inspect"),
            "{backend:?}: index {index}"
        );
    }
    let expected_search: &[&str] = match backend {
        Backend::Postgres => &SEARCH_INDEXES.map(|(_, index)| index),
        Backend::Sqlite => &[],
    };
    assert_eq!(
        search_indexes(&test_db).await,
        expected_search,
        "{backend:?}"
    );
    let expected_fts: &[&str] = match backend {
        Backend::Postgres => &[],
        Backend::Sqlite => &SQLITE_SEARCH,
    };
    assert_eq!(
        sqlite_search_objects(&test_db).await,
        expected_fts,
        "{backend:?}"
    );
    assert!(
        Migrator::get_pending_migrations(&test_db.db)
            .await
            .expect("status")
            .is_empty()
    );

    let counters = ["stats_totals", "stats_deltas"];
    let expected_counters: &[&str] = match backend {
        Backend::Postgres => &counters,
        Backend::Sqlite => &[],
    };
    assert_eq!(
        present_of(&test_db, &counters).await,
        expected_counters,
        "{backend:?}: the statistics' counters (migration 14)"
    );

    // down, all the way
    Migrator::down(&test_db.db, None).await.expect("down");
    assert!(
        present_of(&test_db, &counters).await.is_empty(),
        "{backend:?}"
    );
    assert!(
        tables_present(&test_db).await.is_empty(),
        "{backend:?}: no table after down"
    );
    assert!(search_indexes(&test_db).await.is_empty(), "{backend:?}");
    assert!(
        sqlite_search_objects(&test_db).await.is_empty(),
        "{backend:?}"
    );

    // up again
    Migrator::up(&test_db.db, None).await.expect("up again");
    assert_eq!(
        tables_present(&test_db).await,
        TABLES,
        "{backend:?}: every table after up again"
    );
}

fn risk_monitor(test_db: &TestDb, args: &[&str]) -> std::process::Output {
    test_db
        .cli(args)
        .env("DEMO_DATA", "false")
        .output()
        .expect("run risk-monitor")
}

/// `migrate down`: reverts the newest migration applied, or fails the test.
fn step_down(test_db: &TestDb) {
    let down = risk_monitor(test_db, &["migrate", "down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

backend_tests!(the_migrate_command_applies_lists_reverts_and_refreshes);
async fn the_migrate_command_applies_lists_reverts_and_refreshes(backend: Backend) {
    let test_db = TestDb::empty(backend).await;

    let up = risk_monitor(&test_db, &["migrate", "up"]);
    assert!(
        up.status.success(),
        "{backend:?}: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(tables_present(&test_db).await, TABLES);

    let status = risk_monitor(&test_db, &["migrate", "status"]);
    let listing = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    let applied = |listing: &str| listing.lines().filter(|l| l.starts_with("Applied")).count();
    assert_eq!(applied(&listing), Migrator::migrations().len(), "{listing}");

    // The newest migration has the statistics' triggers compute each row's
    // keys once, in a subquery (PostgreSQL only); down, migration 14's
    // functions come back, and both keep the counters.
    let keys_computed_once = || async {
        crate::helpers::count(
            &test_db.db,
            "SELECT count(*) FROM pg_proc WHERE proname IN ('stats_count_users', \
             'stats_count_risk_scores', 'stats_count_subscription_payments') \
             AND prosrc LIKE '%OFFSET 0) c CROSS JOIN LATERAL%'",
        )
        .await
    };
    if backend == Backend::Postgres {
        assert_eq!(keys_computed_once().await, 3);
    }
    step_down(&test_db);
    if backend == Backend::Postgres {
        assert_eq!(keys_computed_once().await, 0, "migration 14's functions");
        use sea_orm::ConnectionTrait;
        let users = "SELECT ((SELECT COALESCE(SUM(count), 0) FROM stats_totals \
                     WHERE key = 'users') + (SELECT COALESCE(SUM(count), 0) \
                     FROM stats_deltas WHERE key = 'users'))::bigint";
        let before = crate::helpers::count(&test_db.db, users).await;
        test_db
            .db
            .execute_unprepared(
                "INSERT INTO users (name, email, created_at) \
                 VALUES ('Kept', 'kept@example.com', now())",
            )
            .await
            .expect("a user");
        assert_eq!(
            crate::helpers::count(&test_db.db, users).await,
            before + 1,
            "migration 14's trigger counts the new user"
        );
    }

    // The one before makes the external ids unique where given
    // (PostgreSQL only): each constraint becomes a partial unique index of
    // the same name.
    let partial_external_ids = || async {
        crate::helpers::count(
            &test_db.db,
            "SELECT count(*) FROM pg_indexes WHERE indexname IN \
             ('users_external_id_key', 'subscription_payments_external_id_key') \
             AND indexdef LIKE 'CREATE UNIQUE INDEX%WHERE (external_id IS NOT NULL)'",
        )
        .await
    };
    let external_id_constraints = || async {
        crate::helpers::count(
            &test_db.db,
            "SELECT count(*) FROM pg_constraint WHERE conname IN \
             ('users_external_id_key', 'subscription_payments_external_id_key') \
             AND contype = 'u'",
        )
        .await
    };
    if backend == Backend::Postgres {
        assert_eq!(partial_external_ids().await, 2);
        assert_eq!(external_id_constraints().await, 0);
    }
    step_down(&test_db);
    if backend == Backend::Postgres {
        assert_eq!(partial_external_ids().await, 0, "the indexes are gone");
        assert_eq!(
            external_id_constraints().await,
            2,
            "the constraints are back"
        );
    }

    // The one before puts the payments' status in their index in the
    // model's order (PostgreSQL only), keeping its name and keys.
    let manager = SchemaManager::new(&test_db.db);
    let order_index_includes_status = || async {
        crate::helpers::count(
            &test_db.db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = \
             'idx_subscription_payments_user_order' AND indexdef LIKE '%INCLUDE (status)'",
        )
        .await
            == 1
    };
    let has_order_index = || async {
        manager
            .has_index(
                "subscription_payments",
                "idx_subscription_payments_user_order",
            )
            .await
            .expect("inspect")
    };
    if backend == Backend::Postgres {
        assert!(order_index_includes_status().await);
    }
    step_down(&test_db);
    assert!(has_order_index().await, "{backend:?}: the index stays");
    if backend == Backend::Postgres {
        assert!(
            !order_index_includes_status().await,
            "the index is back to its keys alone"
        );
    }

    // The one before keeps the statistics' counters (PostgreSQL
    // only); the one before keeps the digest's baselines by generation; the
    // one before copies the names and emails into the scores for
    // the search's walk (PostgreSQL only); the one before holds the
    // snapshots shared by the processes; then the counts kept with the
    // scores and the payments' index in the model's order; then the search
    // indexes (SQLite's FTS5 table, PostgreSQL's scores by user); then the
    // outbox's tables; then the access tables.
    let has_generations = || async {
        manager
            .has_column("risk_scores", "baseline_generation")
            .await
            .expect("inspect")
            && manager
                .has_column("digests", "generation")
                .await
                .expect("inspect")
    };
    let counters = ["stats_totals", "stats_deltas"];
    let expected_counters: &[&str] = match backend {
        Backend::Postgres => &counters,
        Backend::Sqlite => &[],
    };
    assert_eq!(present_of(&test_db, &counters).await, expected_counters);
    step_down(&test_db);
    assert!(
        present_of(&test_db, &counters).await.is_empty(),
        "{backend:?}: the counters are gone"
    );
    assert!(has_generations().await, "{backend:?}");
    step_down(&test_db);
    assert!(
        !has_generations().await,
        "{backend:?}: the generations are gone"
    );
    assert!(
        manager
            .has_column("risk_scores", "baseline_score")
            .await
            .expect("inspect"),
        "{backend:?}: migration 8's baselines stay"
    );
    let has_search_copy = || async {
        manager
            .has_column("risk_scores", "search_name")
            .await
            .expect("inspect")
    };
    assert_eq!(has_search_copy().await, backend == Backend::Postgres);
    step_down(&test_db);
    assert!(!has_search_copy().await, "{backend:?}: the copies are gone");
    assert_eq!(
        search_indexes(&test_db).await.len(),
        match backend {
            Backend::Postgres => 3,
            Backend::Sqlite => 0,
        },
        "{backend:?}: the walk's index is gone, the older search indexes stay"
    );
    assert_eq!(tables_present(&test_db).await, TABLES, "{backend:?}");
    step_down(&test_db);
    assert_eq!(
        tables_present(&test_db).await,
        TABLES[..TABLES.len() - 1],
        "{backend:?}: the shared snapshots' table is gone, and only it"
    );
    step_down(&test_db);
    let has = |index: &'static str| {
        let manager = &manager;
        async move {
            manager
                .has_index("subscription_payments", index)
                .await
                .expect("inspect")
        }
    };
    assert!(
        !has("idx_subscription_payments_user_order").await
            && has("idx_subscription_payments_user_date").await,
        "{backend:?}: the payments' index by user and date is back"
    );
    assert!(
        !manager
            .has_column("risk_scores", "succeeded_payments")
            .await
            .expect("inspect"),
        "{backend:?}: the third count is gone"
    );
    assert_eq!(
        sqlite_search_objects(&test_db).await.len(),
        match backend {
            Backend::Sqlite => SQLITE_SEARCH.len(),
            Backend::Postgres => 0,
        }
    );
    step_down(&test_db);
    assert!(sqlite_search_objects(&test_db).await.is_empty());
    let trigram_only: &[&str] = match backend {
        Backend::Postgres => &["idx_users_name_trgm", "idx_users_email_trgm"],
        Backend::Sqlite => &[],
    };
    assert_eq!(
        search_indexes(&test_db).await,
        trigram_only,
        "{backend:?}: the newest's index is gone, migration 6's stay"
    );
    assert_eq!(
        tables_present(&test_db).await,
        TABLES[..TABLES.len() - 1],
        "{backend:?}: and nothing else"
    );
    step_down(&test_db);
    let present = tables_present(&test_db).await;
    assert!(
        OUTBOX_TABLES.iter().all(|t| !present.contains(t)),
        "{backend:?}: down reverts the newest"
    );
    assert_eq!(
        present.len(),
        TABLES.len() - 1 - OUTBOX_TABLES.len(),
        "{backend:?}: and only that one"
    );
    let down = risk_monitor(&test_db, &["migrate", "down"]);
    assert!(down.status.success());
    let present = tables_present(&test_db).await;
    assert!(
        ACCESS_TABLES.iter().all(|t| !present.contains(t)) && present.contains(&"alerts"),
        "{backend:?}: then the one before, and only that one"
    );
    let status = risk_monitor(&test_db, &["migrate", "status"]);
    assert_eq!(
        applied(&String::from_utf8_lossy(&status.stdout)),
        Migrator::migrations().len() - 11
    );

    let fresh = risk_monitor(&test_db, &["migrate", "fresh"]);
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    assert_eq!(tables_present(&test_db).await, TABLES);
    let expected_fts: &[&str] = match backend {
        Backend::Postgres => &[],
        Backend::Sqlite => &SQLITE_SEARCH,
    };
    assert_eq!(sqlite_search_objects(&test_db).await, expected_fts);
}

backend_tests!(migration_10_counts_the_successes_of_the_scores_already_stored);
async fn migration_10_counts_the_successes_of_the_scores_already_stored(backend: Backend) {
    use sea_orm::ConnectionTrait;

    // Arrange: a database at migration 9 holding a user with 3 successes
    // among 5 payments, and their score row (which has no third count).
    let test_db = TestDb::empty(backend).await;
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name().contains("_000010_"))
        .expect("migration 10");
    Migrator::up(&test_db.db, Some(before as u32))
        .await
        .expect("up to 9");
    let statements = [
        "INSERT INTO users (id, name, email, created_at, is_active) \
         VALUES (7, 'Ann', 'ann@example.com', '2026-01-01T00:00:00Z', true)",
        "INSERT INTO subscription_payments \
         (user_id, amount_cents, currency, status, payment_date, payment_method) VALUES \
         (7, 999, 'EUR', 'success', '2026-02-01T00:00:00Z', 'card'), \
         (7, 999, 'EUR', 'failed', '2026-03-01T00:00:00Z', 'card'), \
         (7, 999, 'EUR', 'success', '2026-04-01T00:00:00Z', 'card'), \
         (7, 999, 'EUR', 'pending', '2026-05-01T00:00:00Z', 'card'), \
         (7, 999, 'EUR', 'success', '2026-06-01T00:00:00Z', 'card')",
        "INSERT INTO risk_scores (user_id, score, level, patterns, total_payments, \
         failed_payments, failure_rate, is_active, computed_at) \
         VALUES (7, 0.2, 'medium', 0, 5, 1, 0.2, true, '2026-06-01T00:00:00Z')",
    ];
    for sql in statements {
        test_db
            .db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {sql}: {e}"));
    }

    // Act
    Migrator::up(&test_db.db, Some(1)).await.expect("up to 10");

    // Assert
    // (Read by SQL: the entity has the columns of later migrations.)
    let mut counts = Vec::new();
    for column in ["total_payments", "failed_payments", "succeeded_payments"] {
        let sql = format!("SELECT CAST({column} AS BIGINT) FROM risk_scores WHERE user_id = 7");
        counts.push(crate::helpers::count(&test_db.db, &sql).await);
    }
    assert_eq!(counts, [5, 1, 3], "{backend:?}");
}
