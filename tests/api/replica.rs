//! Reads from a PostgreSQL streaming replica (`DATABASE_READ_URL`): a real
//! replica of the test server (`.ci/replica` starts one at 127.0.0.1:5433,
//! named by `TEST_REPLICA_URL`). Replay is paused on it to tell which
//! server answered: a read that misses a committed write came from the
//! replica; a mutation's answer, and the reads of a request that writes,
//! never miss it.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::internals::{Email, Rules, ingest, tester};
use crate::helpers::{Backend, TestApp, TestDb, in_ci, postgres_configured};

/// Replica tests pause replay for the whole replica: one at a time.
static REPLAY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `TEST_REPLICA_URL` (a database URL on the replica), when the replica
/// tests can run; under CI they must.
fn replica_configured(test: &str) -> Option<String> {
    if !postgres_configured(test) {
        return None;
    }
    match std::env::var("TEST_REPLICA_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "{test}: CI is set but TEST_REPLICA_URL is not: .ci/replica starts the replica"
            );
            eprintln!("{test}: skipped: TEST_REPLICA_URL is not set");
            None
        }
    }
}

/// `base` (a URL on the replica) with the database of `test_db` instead.
fn on_replica(base: &str, test_db: &TestDb) -> String {
    let name = test_db.url.rsplit('/').next().expect("a database name");
    let server = base.rsplit_once('/').expect("a URL with a database").0;
    format!("{server}/{name}")
}

async fn sql(db: &DatabaseConnection, query: &str) -> Option<String> {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), query))
        .await
        .expect(query)
        .and_then(|row| row.try_get_by_index::<Option<String>>(0).ok().flatten())
}

/// Waits until the replica has replayed everything the primary `db` has
/// written so far.
async fn caught_up(primary: &DatabaseConnection, replica: &DatabaseConnection) {
    let target = sql(primary, "SELECT pg_current_wal_lsn()::text")
        .await
        .expect("an LSN");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let query = format!("SELECT (pg_last_wal_replay_lsn() >= '{target}'::pg_lsn)::text");
        if sql(replica, &query).await.as_deref() == Some("true") {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connects to `url` on the replica once the database exists there.
async fn connect(url: &str) -> DatabaseConnection {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Database::connect(url).await {
            Ok(db) => return db,
            Err(error) => {
                assert!(Instant::now() < deadline, "{url}: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Replay stopped on the replica (a superuser's function) until this is
/// dropped, panics included: the next test, and the databases other tests
/// create meanwhile, need it going.
struct Paused {
    replica: String,
}

impl Paused {
    async fn start(replica: &DatabaseConnection, url: &str) -> Self {
        sql(replica, "SELECT pg_wal_replay_pause()::text").await;
        Self {
            replica: url.to_owned(),
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        resume(&self.replica);
    }
}

/// Resumes replay on the replica at `url` (from a plain thread: it runs in
/// `Drop` too).
fn resume(url: &str) {
    let status = std::process::Command::new("psql")
        .args([url, "-qAtc", "SELECT pg_wal_replay_resume()"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run psql");
    assert!(status.success(), "resume replay on {url}");
}

fn payment(user_id: i64) -> Value {
    json!({ "input": {
        "userId": user_id.to_string(), "amount": 9.99, "status": "FAILED",
        "paymentDate": "2026-11-01T10:00:00Z", "paymentMethod": "card"
    }})
}

const RECORD: &str =
    "mutation($input: PaymentInput!) { recordPayment(input: $input) { riskScore } }";

#[tokio::test]
async fn reads_go_to_the_replica_and_a_request_that_writes_reads_its_writes() {
    let Some(base) =
        replica_configured("reads_go_to_the_replica_and_a_request_that_writes_reads_its_writes")
    else {
        return;
    };
    let _one_at_a_time = REPLAY.lock().await;

    // Arrange: a user with one payment, on the primary and on the replica.
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let primary = test_db.db.clone();
    let user = ingest::upsert_user(
        &primary,
        &Rules::default(),
        ingest::UserUpsert {
            external_id: None,
            name: "Ann Replica".into(),
            email: Email::parse("ann.replica@example.com").expect("email"),
            created_at: Some(chrono::Utc::now() - chrono::Duration::days(400)),
            is_active: Some(true),
        },
        &tester(),
        chrono::Utc::now(),
    )
    .await
    .expect("a user")
    .id;
    resume(&base); // an earlier run may have been killed while paused
    let read_url = on_replica(&base, &test_db);
    let replica = connect(&read_url).await;
    let app = TestApp::spawn_on(test_db, |settings| {
        settings.database_read = Some(risk_monitor::config::DatabaseSettings {
            url: read_url.clone(),
        });
    })
    .await;
    let ready: Value = app.get("/health/ready").await.json().await.expect("json");
    assert_eq!(
        ready,
        json!({ "status": "ok", "database": "ok", "replica": "ok" })
    );
    let first = app.graphql(RECORD, payment(user)).await;
    assert!(first["errors"].is_null(), "{first}");
    caught_up(&primary, &replica).await;
    let analysis = format!("{{ userRiskAnalysis(userId: \"{user}\") {{ totalPayments }} }}");
    let total = |body: &Value| body["data"]["userRiskAnalysis"]["totalPayments"].clone();
    assert_eq!(total(&app.graphql(&analysis, json!({})).await), 1);

    // Act: replay stops; a second payment commits on the primary only.
    let paused = Paused::start(&replica, &base).await;
    let second = app.graphql(RECORD, payment(user)).await;

    // Assert: the mutation's answer is the primary's (two failures of two
    // payments score higher than one payment), while reads come from the
    // replica, which has not seen the second payment.
    let score = |body: &Value| body["data"]["recordPayment"]["riskScore"].as_f64();
    assert!(
        score(&second) > score(&first),
        "the mutation answers from the primary: {first} then {second}"
    );
    assert_eq!(
        total(&app.graphql(&analysis, json!({})).await),
        1,
        "GraphQL reads are the replica's"
    );
    let legacy: Value = app
        .get(&format!("/api/user/{user}/risk-analysis"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        legacy["total_payments"], 1,
        "REST reads are the replica's: {legacy}"
    );
    let list = app
        .graphql(
            "{ riskyUsers(minScore: 0) { totalCount edges { node { totalPayments } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["data"]["riskyUsers"]["edges"][0]["node"]["totalPayments"], 1,
        "the list is the replica's: {list}"
    );
    let stats = app.graphql("{ stats { totalPayments } }", json!({})).await;
    assert_eq!(
        stats["data"]["stats"]["totalPayments"], 1,
        "the statistics are computed on the replica: {stats}"
    );
    let export: Value = app
        .get("/api/export/risky-users.json?min_score=0")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        export[0]["total_payments"], 1,
        "the export is the replica's: {export}"
    );

    // A batch that writes reads from the primary, every operation of it.
    let batch: Value = app
        .post_json(
            "/graphql",
            &json!([
                { "query": RECORD, "variables": payment(user) },
                { "query": analysis },
            ]),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        batch[1]["data"]["userRiskAnalysis"]["totalPayments"], 3,
        "the batch's read sees its own write and the one before: {batch}"
    );
    let primary_total = sql(
        &primary,
        &format!("SELECT count(*)::text FROM subscription_payments WHERE user_id = {user}"),
    )
    .await;
    assert_eq!(primary_total.as_deref(), Some("3"));

    // Once replay resumes, the replica's reads catch up.
    drop(paused);
    caught_up(&primary, &replica).await;
    assert_eq!(total(&app.graphql(&analysis, json!({})).await), 3);
}
