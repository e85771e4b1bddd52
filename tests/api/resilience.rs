//! The service when its database goes away and comes back (SPEC §9): a TCP
//! proxy this test controls stands between the service and PostgreSQL, and
//! is cut, then restored. Readiness answers 503 and requests answer an error
//! within their time budget meanwhile; the service recovers without restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{
    Backend, Served, TestApp, TestDb, backend_tests, error_code, postgres_configured, serve_binary,
};

/// A TCP proxy to `target` that can refuse and drop every connection.
struct Proxy {
    address: String,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("address").to_string();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, tasks) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped at once: the database is "down"
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().await.push(link);
            }
        });
        Self { address, up, links }
    }

    /// Drops every open connection and refuses new ones.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Where the host and port of a database URL start and end.
fn host_span(url: &str) -> (usize, usize) {
    let start = url
        .find('@')
        .map(|i| i + 1)
        .or_else(|| url.find("://").map(|i| i + 3));
    let start = start.expect("a database URL");
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    (start, end)
}

/// `url` with its host and port replaced by `address`.
fn through(url: &str, address: &str) -> String {
    let (start, end) = host_span(url);
    format!("{}{address}{}", &url[..start], &url[end..])
}

/// The host and port of `url`.
fn target_of(url: &str) -> String {
    let (start, end) = host_span(url);
    url[start..end].to_owned()
}

#[tokio::test]
async fn a_database_outage_is_reported_within_the_budget_and_recovered_from() {
    if !postgres_configured("a_database_outage_is_reported_within_the_budget_and_recovered_from") {
        return;
    }
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let proxy = Proxy::start(target_of(&test_db.url)).await;
    let budget = Duration::from_secs(3);
    let url = through(&test_db.url, &proxy.address);
    let app = TestApp::spawn_on(test_db, move |s| {
        s.database.url = url;
        s.limits.request_timeout = budget;
    })
    .await;
    app.seed(5).await;
    let query = json!({ "query": "{ userRiskAnalysis(userId: \"1\") { riskScore } }" });
    let ask = || async {
        let started = Instant::now();
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .json(&query)
            .send()
            .await
            .expect("the service answers");
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        (status, body, started.elapsed())
    };
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let (_, body, _) = ask().await;
    assert!(body["errors"].is_null(), "{body}");

    proxy.cut().await;
    let started = Instant::now();
    let ready = app.get("/health/ready").await;
    assert_eq!(
        ready.status(),
        503,
        "readiness fails while the database is away"
    );
    assert!(
        started.elapsed() < budget + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let page = app
        .get_with("/console/users/1", |r| r.header("accept", "text/html"))
        .await;
    assert_eq!(page.status(), 503, "the console says so on a page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("<h1>The database is not answering</h1>") && !html.contains("\"errors\""),
        "a readable page, not JSON: {html}"
    );
    let (_, body, took) = ask().await;
    let code = error_code(&body).to_owned();
    assert!(
        code == "DATABASE_UNAVAILABLE" || code == "TIMEOUT",
        "a clear code, not a hang: {body}"
    );
    assert!(
        took < budget + Duration::from_secs(2),
        "answered in {took:?}"
    );
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "the process lives on"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body, _) = ask().await;
        if body["errors"].is_null() && app.get("/health/ready").await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "recovered without a restart: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

backend_tests!(a_sigterm_under_load_loses_no_acknowledged_payment);
async fn a_sigterm_under_load_loses_no_acknowledged_payment(backend: Backend) {
    let test_db = TestDb::empty(backend).await;
    let Served {
        mut child, address, ..
    } = serve_binary(&test_db, &[("DEMO_DATA", "true")]);
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for task in 0..8 {
        let (client, address, stop) = (client.clone(), address.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) && i % 5 == 0 {
                    break;
                }
                let external_id = format!("load-{task}-{i}");
                let query = format!(
                    r#"mutation {{ recordPayment(input: {{ userId: "{}", externalId: "{external_id}",
                    amount: 9.99, status: FAILED, paymentDate: "2026-11-01T12:00:00Z",
                    paymentMethod: "card" }}) {{ duplicate }} }}"#,
                    1 + (task * 37 + i) % 300
                );
                let sent = client
                    .post(format!("http://{address}/graphql"))
                    .json(&json!({ "query": query }))
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if body["data"]["recordPayment"]["duplicate"] == json!(false) {
                    acknowledged.push(external_id);
                } else {
                    break;
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    stop.store(true, Ordering::SeqCst);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        status.success(),
        "{backend:?}: drained and exited 0: {status:?}"
    );

    let mut acknowledged = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.expect("sender"));
    }
    assert!(
        acknowledged.len() > 10,
        "{backend:?}: the load ran ({} payments)",
        acknowledged.len()
    );
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let stored = entity::subscription_payments::Entity::find()
        .filter(entity::subscription_payments::Column::ExternalId.is_in(acknowledged.clone()))
        .count(&test_db.db)
        .await
        .expect("count");
    assert_eq!(
        stored as usize,
        acknowledged.len(),
        "{backend:?}: every acknowledged payment is stored"
    );
}

#[test]
fn database_urls_are_pointed_through_the_proxy() {
    let url = "postgres://postgres@127.0.0.1:5432/test_1?sslmode=disable";
    assert_eq!(
        through(url, "127.0.0.1:6000"),
        "postgres://postgres@127.0.0.1:6000/test_1?sslmode=disable"
    );
    assert_eq!(target_of(url), "127.0.0.1:5432");
}
