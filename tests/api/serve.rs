//! `risk-monitor serve` as a user starts it: demo data, health JSON, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entity::users;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::internals::DEMO_USERS;
use crate::helpers::{Backend, TestApp, TestDb, backend_tests, cli, golden};

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
    let mut child = test_db
        .cli(&["serve"])
        .env("API_PORT", "0")
        .env("DEMO_DATA", "true")
        .env("LOG_LEVEL", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start risk-monitor serve");

    // Act: wait for the address it logs, two minutes at most in all.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut address = None;
    let mut explorer_logged = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(rest) = line.split("listening on http://").nth(1) {
            address = rest.split('/').next().map(str::to_owned);
            explorer_logged = line.contains("/graphiql");
            break;
        }
    }
    let address = address.expect("serve logs its address");
    assert!(explorer_logged, "the explorer's URL is logged");

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
