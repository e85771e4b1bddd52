//! The legacy REST routes over real HTTP: shapes, statuses and errors as the
//! legacy clients expect them (the golden responses in tests/data).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, backend_tests, golden};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// A naive ISO 8601 timestamp, microseconds only when not zero.
fn is_legacy_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    let parsed = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
    parsed && !s.ends_with('Z') && !s.contains('+') && (s.len() == 19 || s.len() == 26)
}

backend_tests!(the_risky_list_keeps_the_legacy_shape_order_and_parameters);
async fn the_risky_list_keeps_the_legacy_shape_order_and_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(120).await;

    let response = app.get("/api/risky-users").await;
    assert_eq!(response.status(), 200);
    let list: Vec<Value> = response.json().await.expect("json");
    let legacy = golden("risky_users_default.json");
    // Checked first: every check on the rows below holds for no rows at all.
    assert!(
        !list.is_empty(),
        "{backend:?}: the seeded risky users are listed"
    );
    assert!(list.len() <= 100, "{backend:?}: at most the default limit");
    for row in &list {
        assert_eq!(keys(row), keys(&legacy[0]), "{backend:?}: legacy fields");
        assert!(row["risk_score"].as_f64() >= Some(0.4));
        assert!(is_legacy_time(&row["created_at"]), "{}", row["created_at"]);
        assert!(row["monthly_amount"].is_f64() || row["monthly_amount"].is_u64());
    }
    let scores: Vec<f64> = list
        .iter()
        .map(|r| r["risk_score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "highest first");

    let limited: Vec<Value> = app
        .get("/api/risky-users?min_risk_score=0.7&limit=3")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        !limited.is_empty(),
        "{backend:?}: some seeded users are at 0.7 or above"
    );
    assert!(
        limited.len() <= 3
            && limited
                .iter()
                .all(|r| r["risk_score"].as_f64() >= Some(0.7))
    );
    let everyone: Vec<Value> = app
        .get("/api/risky-users?min_risk_score=0&limit=1000")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        everyone.len() > list.len(),
        "{backend:?}: a lower threshold lists more"
    );
}

backend_tests!(malformed_parameters_are_422_naming_the_parameter_never_500);
async fn malformed_parameters_are_422_naming_the_parameter_never_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (path, loc) in [
        ("/api/risky-users?limit=ten", vec!["query", "limit"]),
        (
            "/api/risky-users?min_risk_score=high",
            vec!["query", "min_risk_score"],
        ),
        ("/api/risky-users?limit=0", vec!["query", "limit"]),
        ("/api/user/abc/risk-analysis", vec!["path", "user_id"]),
        ("/api/user/1.5/risk-analysis", vec!["path", "user_id"]),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 422, "{backend:?}: {path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["detail"][0]["loc"],
            serde_json::json!(loc),
            "{path}: {body}"
        );
        assert!(
            body["detail"][0]["msg"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(body["detail"][0]["type"].is_string());
    }
    let post = app.post("/api/alert/x").await;
    assert_eq!(post.status(), 422);
}

backend_tests!(the_analysis_route_keeps_the_legacy_shape_and_unknown_users_are_404);
async fn the_analysis_route_keeps_the_legacy_shape_and_unknown_users_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(20).await;

    let response = app.get("/api/user/1/risk-analysis").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let legacy = golden("user_risk_analysis.json");
    assert_eq!(keys(&body), keys(&legacy), "{backend:?}");
    assert_eq!(
        keys(&body["subscriptions_history"][0]),
        keys(&legacy["subscriptions_history"][0])
    );
    assert_eq!(
        keys(&body["payment_history"][0]),
        keys(&legacy["payment_history"][0])
    );
    assert!(body["payment_history"].as_array().expect("payments").len() <= 10);
    assert!(is_legacy_time(&body["payment_history"][0]["payment_date"]));
    assert!(is_legacy_time(
        &body["subscriptions_history"][0]["effective_from"]
    ));
    let (total, failed, ok) = (
        &body["total_payments"],
        &body["failed_payments"],
        &body["successful_payments"],
    );
    assert_eq!(
        ok.as_u64(),
        Some(total.as_u64().expect("t") - failed.as_u64().expect("f")),
        "legacy meaning"
    );
    assert!(
        ["low", "medium", "high", "critical"]
            .contains(&body["risk_level"].as_str().expect("level"))
    );
    assert!(!body["risk_factors"].as_array().expect("factors").is_empty());

    let missing = app.get("/api/user/99999999/risk-analysis").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("json"),
        golden("user_risk_analysis_404.json")
    );
}

backend_tests!(a_user_with_a_pending_payment_gets_an_answer_not_a_500);
async fn a_user_with_a_pending_payment_gets_an_answer_not_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(5).await;
    let input = serde_json::json!({ "input": { "userId": "1", "amount": 9.99, "status": "PENDING",
        "paymentDate": chrono::Utc::now().to_rfc3339(), "paymentMethod": "card" } });
    let recorded = app
        .graphql(
            "mutation($input: PaymentInput!) { recordPayment(input: $input) { duplicate } }",
            input,
        )
        .await;
    assert!(recorded["errors"].is_null(), "{recorded}");
    let response = app.get("/api/user/1/risk-analysis").await;
    assert_eq!(
        response.status(),
        200,
        "{backend:?}: the legacy answered 500 here"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["payment_history"][0]["status"], "pending");
}

backend_tests!(stats_and_alerts_keep_the_legacy_shape);
async fn stats_and_alerts_keep_the_legacy_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(300).await;

    let stats: Value = app.get("/api/stats").await.json().await.expect("json");
    assert_eq!(keys(&stats), keys(&golden("stats.json")), "{backend:?}");
    assert_eq!(stats["total_users"], 300);
    assert!(
        stats["high_risk_users"].as_u64() > Some(100),
        "{backend:?}: not capped at 100: {stats}"
    );

    let response = app.post("/api/alert/1").await;
    assert_eq!(response.status(), 200);
    let alert: Value = response.json().await.expect("json");
    assert_eq!(keys(&alert), keys(&golden("alert.json")));
    assert_eq!(alert["status"], "success");
    assert_eq!(alert["message"], "Alert sent for user 1");

    let missing = app.post("/api/alert/99999999").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("json"),
        golden("alert_404.json")
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_legacy_routes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/",
        "/api/risky-users",
        "/api/user/{user_id}/risk-analysis",
        "/api/stats",
        "/api/alert/{user_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let params = doc["paths"]["/api/risky-users"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["min_risk_score", "limit"]);
}
