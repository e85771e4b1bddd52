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
