//! Operations (SPEC §9), over real HTTP: Prometheus metrics on `/metrics`
//! and on the `METRICS_ADDR` listener, request ids, JSON logs from the real
//! binary, the `EXPLORER` and `INTROSPECTION` switches, security headers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, backend_tests, error_code};

/// The samples of an OpenMetrics text: `name{labels}` (as written) → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// `GET /metrics` on `address`: checks the status and type, returns the samples.
async fn scrape(client: &reqwest::Client, address: &str) -> HashMap<String, f64> {
    let response = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "a complete exposition");
    samples(&text)
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} among {:#?}", sorted(samples)))
}

fn sorted(samples: &HashMap<String, f64>) -> Vec<String> {
    let mut names: Vec<String> = samples.keys().cloned().collect();
    names.sort();
    names
}

const PAY: &str =
    "mutation Pay($input: PaymentInput!) { recordPayment(input: $input) { duplicate } }";

backend_tests!(metrics_count_requests_by_route_and_operations_by_name);
async fn metrics_count_requests_by_route_and_operations_by_name(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    app.seed(25).await;

    // Act: two users' analyses (one route), an unknown path, GraphQL
    // operations named, anonymous and failing, a payment, statistics twice.
    for id in [1, 2] {
        let response = app.get(&format!("/api/user/{id}/risk-analysis")).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let named = app
        .graphql("query Overview { stats { totalUsers } }", json!({}))
        .await;
    assert!(named["errors"].is_null(), "{named}");
    app.graphql("query Overview { stats { totalUsers } }", json!({}))
        .await;
    app.graphql("{ riskyUsers(first: 1) { totalCount } }", json!({}))
        .await;
    let failing = app.graphql("query Broken { nope }", json!({})).await;
    assert_eq!(error_code(&failing), "GRAPHQL_VALIDATION_FAILED");
    let unready = app
        .graphql(
            "query Lacking($id: ID!) { userRiskAnalysis(userId: $id) { riskScore } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&unready), "BAD_USER_INPUT");
    let input = json!({ "userId": "3", "amount": 9.99, "status": "FAILED",
        "paymentDate": "2026-01-05T10:00:00Z", "paymentMethod": "card" });
    let paid = app.graphql(PAY, json!({ "input": input })).await;
    assert!(paid["errors"].is_null(), "{paid}");
    assert_eq!(app.get("/api/stats").await.status(), 200);
    let metrics = scrape(&app.client, &app.address).await;

    // Assert: HTTP by route pattern, never the raw path.
    let route = "route=\"/api/user/{user_id}/risk-analysis\",method=\"GET\"";
    assert_eq!(
        sample(
            &metrics,
            &format!("risk_monitor_http_requests_total{{{route},status=\"2xx\"}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("risk_monitor_http_request_duration_seconds_count{{{route}}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "risk_monitor_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"4xx\"}"
        ),
        1.0
    );
    assert!(
        !metrics
            .keys()
            .any(|series| series.contains("/api/user/1") || series.contains("/no/such/page")),
        "raw paths leak into labels: {:#?}",
        sorted(&metrics)
    );
    assert!(
        sample(
            &metrics,
            "risk_monitor_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"2xx\"}"
        ) >= 5.0
    );

    // GraphQL by operation name and outcome.
    let operation = |name: &str, outcome: &str| {
        sample(
            &metrics,
            &format!(
                "risk_monitor_graphql_operations_total{{operation=\"{name}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(operation("Overview", "ok"), 2.0);
    assert_eq!(operation("anonymous", "ok"), 1.0);
    assert_eq!(operation("Pay", "ok"), 1.0);
    assert_eq!(
        operation("anonymous", "GRAPHQL_VALIDATION_FAILED"),
        1.0,
        "an operation that never ran has no name"
    );
    assert_eq!(
        operation("anonymous", "BAD_USER_INPUT"),
        1.0,
        "one refused before it ran is counted too"
    );

    // The pool, the payment writer, the snapshots, the refresher.
    let size = sample(&metrics, "risk_monitor_db_pool_size");
    let idle = sample(&metrics, "risk_monitor_db_pool_idle_connections");
    let in_use = sample(&metrics, "risk_monitor_db_pool_in_use_connections");
    assert!(size >= 1.0, "{backend:?}: the pool has connections");
    assert_eq!(idle + in_use, size);
    assert!(sample(&metrics, "risk_monitor_db_pool_max_size") >= size);
    assert_eq!(
        sample(&metrics, "risk_monitor_payment_batch_size_count"),
        1.0
    );
    assert_eq!(sample(&metrics, "risk_monitor_payment_batch_size_sum"), 1.0);
    assert_eq!(sample(&metrics, "risk_monitor_payment_queue_length"), 0.0);
    assert_eq!(
        sample(&metrics, "risk_monitor_stats_snapshot_age_seconds_count"),
        3.0,
        "two GraphQL statistics and one REST"
    );
    assert_eq!(
        sample(
            &metrics,
            "risk_monitor_list_total_snapshot_age_seconds_count"
        ),
        1.0
    );
    assert_eq!(sample(&metrics, "risk_monitor_refresh_lag_seconds"), 0.0);
}

/// On PostgreSQL the service opens its whole pool as it starts: no request
/// waits for a connection to be opened (a TLS handshake, with sqlx 0.9.0,
/// takes about 90 ms), and the sessions carry the service's name.
#[tokio::test]
async fn on_postgresql_the_pool_is_open_before_the_first_request() {
    if !crate::helpers::postgres_configured(
        "operations::on_postgresql_the_pool_is_open_before_the_first_request",
    ) {
        return;
    }
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let sessions = "SELECT count(*) FROM pg_stat_activity \
                    WHERE datname = current_database() AND application_name = 'risk-monitor'";
    let before = crate::helpers::count(&test_db.db, sessions).await;
    let db = test_db.db.clone();

    // Act: start the service, and send it nothing.
    let app = TestApp::spawn_on(test_db, |_| {}).await;

    // Assert: its ten connections open without a request.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut opened = 0;
    while Instant::now() < deadline {
        opened = crate::helpers::count(&db, sessions).await - before;
        if opened >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(opened >= 10, "{opened} sessions opened without a request");
    let requested = Utc::now();
    let answer = app.get("/api/user/1/risk-analysis").await;
    assert_eq!(
        answer.status(),
        404,
        "an unknown user, read from the database"
    );
    let newer = crate::helpers::count(
        &db,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'risk-monitor' AND backend_start > '{}'",
            requested.to_rfc3339()
        ),
    )
    .await;
    assert_eq!(newer, 0, "the request opened no connection");
}

backend_tests!(the_refresh_lag_is_the_age_of_the_most_overdue_score);
async fn the_refresh_lag_is_the_age_of_the_most_overdue_score(backend: Backend) {
    // Arrange: demo users scored now; no score is due yet.
    let (app, clock) = TestApp::spawn_at(backend, Utc::now()).await;
    app.seed(25).await;
    let before = scrape(&app.client, &app.address).await;
    assert_eq!(sample(&before, "risk_monitor_refresh_lag_seconds"), 0.0);

    // Act: a year passes with no refresher running.
    clock.advance(TimeDelta::days(365));
    let after = scrape(&app.client, &app.address).await;

    // Assert: every account crossed an age bracket long ago.
    let lag = sample(&after, "risk_monitor_refresh_lag_seconds");
    assert!(
        lag > 180.0 * 86_400.0 && lag <= 365.0 * 86_400.0,
        "{backend:?}: lag {lag} s"
    );
}

#[tokio::test]
async fn metrics_addr_serves_only_the_metrics() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |settings| {
        settings.operations.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    })
    .await;
    let scraper = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(scraper, app.address);

    assert_eq!(app.get("/api/stats").await.status(), 200);
    let metrics = scrape(&app.client, &scraper).await;
    assert_eq!(
        sample(
            &metrics,
            "risk_monitor_http_requests_total{route=\"/api/stats\",method=\"GET\",status=\"2xx\"}"
        ),
        1.0,
        "the same registry as the main listener"
    );
    for path in ["/", "/api/stats", "/graphql", "/health/live"] {
        let response = app
            .client
            .get(format!("{scraper}{path}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 404, "{path} on the metrics listener");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

#[tokio::test]
async fn every_response_carries_a_request_id_taken_from_the_client_when_sane() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned()
    };

    // Made by the service: on answers of every kind.
    for path in [
        "/",
        "/api/stats",
        "/api/user/abc/risk-analysis",
        "/nowhere",
        "/metrics",
    ] {
        let response = app.get(path).await;
        assert!(
            is_uuid(&id_of(&response)),
            "{path}: {:?}",
            response.headers()
        );
    }
    let graphql = app
        .post_json("/graphql", &json!({ "query": "{ __typename }" }))
        .await;
    assert!(is_uuid(&id_of(&graphql)));
    let first = id_of(&app.get("/").await);
    assert_ne!(first, id_of(&app.get("/").await), "a new id per request");

    // Taken from the client when sane.
    let sent = "checkout-7f3a:retry.2";
    let response = app.get_with("/", |r| r.header("x-request-id", sent)).await;
    assert_eq!(id_of(&response), sent);
    let longest = "a".repeat(64);
    let response = app
        .get_with("/api/stats", |r| r.header("x-request-id", &longest))
        .await;
    assert_eq!(id_of(&response), longest);

    // Replaced otherwise: too long, spaces, empty, twice.
    for unfit in ["b".repeat(65), "two words".to_owned(), String::new()] {
        let response = app
            .get_with("/", |r| r.header("x-request-id", &unfit))
            .await;
        assert!(is_uuid(&id_of(&response)), "{unfit:?} replaced");
    }
    let response = app
        .get_with("/", |r| {
            r.header("x-request-id", "one")
                .header("x-request-id", "two")
        })
        .await;
    assert!(is_uuid(&id_of(&response)), "two ids replaced by one");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_carrying_the_request_id() {
    // Arrange: the real binary, logging JSON, with the per-request lines on.
    let test_db = TestDb::empty(Backend::Sqlite).await;
    let mut child = test_db
        .cli(&["serve"])
        .env("API_PORT", "0")
        .env("DEMO_DATA", "false")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info,tower_http=debug")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start risk-monitor serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let next_line = || {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a log line in time");
        serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
    };
    let address = loop {
        let line = next_line();
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
        if let Some(rest) = line["message"]
            .as_str()
            .and_then(|m| m.split("listening on http://").nth(1))
        {
            break rest.split('/').next().expect("an address").to_owned();
        }
    };

    // Act
    let response = reqwest::Client::new()
        .get(format!("http://{address}/api/stats"))
        .header("x-request-id", "json-log-test-1")
        .send()
        .await
        .expect("GET /api/stats");
    assert_eq!(response.status(), 200);

    // Assert: the request's lines carry its id and route.
    let line = loop {
        let line = next_line();
        if line["span"]["request_id"] == "json-log-test-1" {
            break line;
        }
    };
    assert_eq!(line["span"]["route"], "/api/stats", "{line}");
    assert_eq!(line["span"]["method"], "GET", "{line}");
    assert!(line["message"].is_string(), "{line}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(child.wait().expect("wait").success());
}

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn the_explorer_is_served_unless_turned_off() {
    // On (the default): the page, its assets, `/graphql` shows it to a
    // browser (which `/` sends to the console either way).
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.get("/graphiql").await.status(), 200);
    assert_eq!(
        app.get("/graphiql/assets/graphiql.min.js").await.status(),
        200
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let home = client
        .get(format!("{}/", app.address))
        .header("accept", BROWSER)
        .send()
        .await
        .expect("GET /");
    assert!(home.status().is_redirection());
    assert_eq!(home.headers()["location"], "/console");
    let page = app
        .get_with("/graphql", |r| r.header("accept", BROWSER))
        .await;
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ASCII")
            .starts_with("text/html")
    );

    // Off: none of them.
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| s.operations.explorer = false).await;
    for path in ["/graphiql", "/graphiql/assets/graphiql.min.js"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let home = client
        .get(format!("{}/", app.address))
        .header("accept", BROWSER)
        .send()
        .await
        .expect("GET /");
    assert_eq!(home.headers()["location"], "/console", "the console stays");
    let graphql = app
        .get_with("/graphql", |r| r.header("accept", BROWSER))
        .await;
    let answer: Value = graphql.json().await.expect("the API's JSON, not the page");
    assert!(
        answer["errors"].is_array(),
        "a GET without a query: {answer}"
    );
    let query = app
        .get_with("/graphql?query=%7B__typename%7D", |r| {
            r.header("accept", BROWSER)
        })
        .await;
    assert_eq!(query.status(), 200);
}

#[tokio::test]
async fn introspection_is_refused_when_turned_off() {
    let schema = "{ __schema { queryType { name } } }";
    let a_type = "{ __type(name: \"RiskLevel\") { name } }";

    // On (the default).
    let app = TestApp::spawn(Backend::Sqlite).await;
    let on = app.graphql(schema, json!({})).await;
    assert_eq!(on["data"]["__schema"]["queryType"]["name"], "Query", "{on}");

    // Off: refused with a code; ordinary queries still run.
    let app =
        TestApp::spawn_configured(Backend::Sqlite, |s| s.operations.introspection = false).await;
    for query in [schema, a_type] {
        let off = app.graphql(query, json!({})).await;
        assert_eq!(
            error_code(&off),
            "GRAPHQL_VALIDATION_FAILED",
            "{query} → {off}"
        );
        assert!(
            off["data"].is_null()
                || off["data"]
                    .as_object()
                    .is_some_and(|d| d.values().all(Value::is_null)),
            "{off}"
        );
    }
    let plain = app
        .graphql("{ __typename stats { totalUsers } }", json!({}))
        .await;
    assert!(plain["errors"].is_null(), "{plain}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_pages_forbid_framing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in [
        "/",
        "/api/stats",
        "/api/risky-users?limit=0",
        "/nowhere",
        "/metrics",
        "/graphiql",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let page = app.get("/graphiql").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("default-src 'none'"),
        "the explorer's own policy: {csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let graphql = app
        .post_json("/graphql", &json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(graphql.headers()["x-content-type-options"], "nosniff");
}
