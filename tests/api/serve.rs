//! `risk-monitor serve` as a user starts it: demo data, health JSON, SIGTERM.

use std::process::Command;

use entity::users;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::internals::DEMO_USERS;
use crate::helpers::{Backend, Served, TestApp, TestDb, backend_tests, cli, golden, serve_binary};

backend_tests!(the_root_answers_the_legacy_health_json);
async fn the_root_answers_the_legacy_health_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, golden("health.json"), "{backend:?}");
}

backend_tests!(liveness_and_readiness_answer_while_the_database_is_up);
async fn liveness_and_readiness_answer_while_the_database_is_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["database"], "ok");
}

backend_tests!(serve_loads_demo_data_answers_and_exits_cleanly_on_sigterm);
async fn serve_loads_demo_data_answers_and_exits_cleanly_on_sigterm(backend: Backend) {
    // Arrange: an empty, unmigrated database.
    let test_db = TestDb::empty(backend).await;

    // Act: start it as a user does; it logs its address and the explorer's.
    let Served {
        mut child,
        address,
        line,
        ..
    } = serve_binary(&test_db, &[("DEMO_DATA", "true")]);
    assert!(line.contains("/graphiql"), "the explorer's URL is logged");

    // Assert: health JSON, demo users.
    let body: serde_json::Value = reqwest::get(format!("http://{address}/"))
        .await
        .expect("GET /")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "healthy");
    let count = users::Entity::find()
        .count(&test_db.db)
        .await
        .expect("count users");
    assert_eq!(count, DEMO_USERS, "{backend:?}: demo users loaded");

    // SIGTERM: drains and exits 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{backend:?}: exit status {status:?}");
}

#[test]
fn a_bad_setting_stops_the_start_with_a_message_naming_it() {
    let output = cli(&["serve"])
        .env("HIGH_RISK_THRESHOLD", "banana")
        .output()
        .expect("run risk-monitor");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HIGH_RISK_THRESHOLD") && stderr.contains("banana"),
        "{stderr}"
    );

    let output = cli(&["serve"])
        .env("RISK_WEIGHT_AMOUNT", "0.5")
        .output()
        .expect("run risk-monitor");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sum"), "{stderr}");
}

/// `risk_monitor_scores_refreshed_total` of the process at `address`.
async fn refreshed(address: &str) -> u64 {
    counter(address, "risk_monitor_scores_refreshed_total").await
}

#[tokio::test]
async fn two_serve_processes_on_one_database_rescore_each_due_user_once() {
    if !crate::helpers::postgres_configured(
        "two_serve_processes_on_one_database_rescore_each_due_user_once",
    ) {
        return;
    }
    use sea_orm::ConnectionTrait;
    let test_db = TestDb::migrated(Backend::Postgres).await;
    test_db.seed(6_000, 7, chrono::Utc::now()).await;
    let envs = [("RESCORE_INTERVAL_SECONDS", "1"), ("DEMO_DATA", "false")];
    let mut first = serve_binary(&test_db, &envs);
    let mut second = serve_binary(&test_db, &envs);
    // Both refreshers are ticking: every score falls due at once, so both
    // find the same users due, batch after batch. Whether the second one
    // ticks before the first has finished is up to the scheduler, so the
    // round is repeated (up to 5 times) until both have taken a share; each
    // round must rescore every due user exactly once.
    let (mut a, mut b) = (0, 0);
    for round in 1..=5 {
        let due = test_db
            .db
            .execute_unprepared("UPDATE risk_scores SET next_change_at = now() - interval '1 hour'")
            .await
            .expect("make every score due")
            .rows_affected();
        assert_eq!(due, 6_000);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let left = crate::helpers::count(
                &test_db.db,
                "SELECT COUNT(*) FROM risk_scores WHERE next_change_at <= now()",
            )
            .await;
            if left == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{left} still due");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // The last batch's counter moves just after its commit.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let (now_a, now_b) = (
            refreshed(&first.address).await,
            refreshed(&second.address).await,
        );
        assert_eq!(
            (now_a - a) + (now_b - b),
            due,
            "round {round}: each due user rescored once: {} + {}",
            now_a - a,
            now_b - b
        );
        (a, b) = (now_a, now_b);
        if a > 0 && b > 0 {
            break;
        }
    }
    for served in [&mut first, &mut second] {
        let _ = served.child.kill();
        let _ = served.child.wait();
    }
    assert!(a > 0 && b > 0, "both processes took a share: {a} + {b}");
}

/// The counter `name` of the process at `address`.
async fn counter(address: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is exposed:\n{text}"))
}

/// On PostgreSQL (SQLite serves one process, which computes its own).
#[tokio::test]
async fn two_serve_processes_share_one_statistics_snapshot() {
    if !crate::helpers::postgres_configured("two_serve_processes_share_one_statistics_snapshot") {
        return;
    }
    let backend = Backend::Postgres;
    let test_db = TestDb::migrated(backend).await;
    test_db.seed(300, 7, chrono::Utc::now()).await;
    let envs = [("DEMO_DATA", "false")];
    let mut served = [serve_binary(&test_db, &envs), serve_binary(&test_db, &envs)];
    let client = reqwest::Client::new();
    let query = serde_json::json!({ "query": "{ stats { totalUsers computedAt } }" });

    // Act: for 11 seconds (the 5-second snapshot goes stale twice), each
    // process is asked for the statistics every 100 ms.
    let mut seen: [std::collections::BTreeSet<String>; 2] = Default::default();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(11);
    let mut asked = 0;
    while std::time::Instant::now() < until {
        for (process, answers) in served.iter().zip(&mut seen) {
            let body: serde_json::Value = client
                .post(format!("http://{}/graphql", process.address))
                .json(&query)
                .send()
                .await
                .expect("stats")
                .json()
                .await
                .expect("json");
            assert_eq!(
                body["data"]["stats"]["totalUsers"], 300,
                "{backend:?}: {body}"
            );
            let at = body["data"]["stats"]["computedAt"]
                .as_str()
                .expect("computedAt");
            answers.insert(at.to_owned());
            asked += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut computed = 0;
    for process in &served {
        computed += counter(&process.address, "risk_monitor_stats_computed_total").await;
    }
    for process in &mut served {
        let _ = process.child.kill();
        let _ = process.child.wait();
    }

    // Assert: one computation per refresh between them (the first, then
    // one each time it went stale), not one per process; each process
    // served snapshots the other computed.
    assert!(asked > 60, "{backend:?}: {asked} requests");
    assert!(
        (2..=4).contains(&computed),
        "{backend:?}: {computed} computations for {asked} requests across two processes"
    );
    let shared = seen[0].intersection(&seen[1]).count();
    assert!(
        shared >= 1,
        "{backend:?}: the processes served the same snapshots: {seen:?}"
    );
}
