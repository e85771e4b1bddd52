//! The outbox's deliverer, measured (issue #11): deliveries per second to a
//! local receiver that answers at once, beside that receiver's own ceiling
//! (the same client posting the same bodies, no database); and the delay
//! from the write that makes a user critical to the receiver getting the
//! automatic alert, with the deliverer idle before each write.
//!
//! `cargo bench --bench deliveries` (PostgreSQL at `PG_URL`, default the
//! local server, then SQLite in a temporary file). `DELIVERIES` (5000) and
//! `WRITES` (200) size the two runs.
#![expect(
    clippy::expect_used,
    reason = "a benchmark stops at once on a broken setup"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use futures::StreamExt;
use risk_monitor::app::Application;
use risk_monitor::clock::SharedClock;
use risk_monitor::config::Settings;
use risk_monitor::db;
use risk_monitor::domain::{Actor, Caller, Email};
use risk_monitor::service::Rules;
use risk_monitor::service::alerts::{self, NewAlert};
use risk_monitor::service::channels::{self, NewChannel};
use risk_monitor::service::deliverer::Deliverer;
use risk_monitor::service::ingest::{self, UserUpsert};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// What the receiver saw: arrival instants by user id, and a count.
#[derive(Default)]
struct Seen {
    count: usize,
    by_user: HashMap<String, Instant>,
}

async fn receive(State(seen): State<Arc<Mutex<Seen>>>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let user = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["user"]["id"].as_str().map(str::to_owned));
    let mut seen = seen.lock().expect("lock");
    seen.count += 1;
    if let Some(user) = user {
        seen.by_user.entry(user).or_insert(at);
    }
    "ok"
}

async fn receiver() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn count(seen: &Mutex<Seen>) -> usize {
    seen.lock().expect("lock").count
}

async fn wait_for(seen: &Mutex<Seen>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(seen) < n {
        assert!(
            Instant::now() < deadline,
            "the receiver got {} of {n}",
            count(seen)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(url: &str) -> Settings {
    let mut settings = Settings::from_lookup(|_| None).expect("defaults");
    settings.database.url = url.to_owned();
    settings.http.port = 0;
    settings.demo_data = false;
    settings.limits.rate_limit_per_minute = 0;
    settings.alerts.storm_per_minute = 1_000_000;
    settings
}

/// Deliveries per second from a cold start of the deliverer on `deliveries`
/// queued alerts, and the receiver's ceiling with the same bodies.
async fn throughput(url: &str, deliveries: usize) -> (f64, f64) {
    let db = db::connect(&settings(url).database).await.expect("connect");
    db::migrate_up(&db).await.expect("migrate");
    let (hook, seen) = receiver().await;
    let by = Caller::new(Actor::command_line());
    let now = Utc::now();
    let channel = NewChannel {
        name: "bench".to_owned(),
        kind: entity::sea_orm_active_enums::ChannelKind::Webhook,
        url: hook.clone(),
        events: vec![entity::sea_orm_active_enums::EventType::AlertRaised],
        min_level: entity::sea_orm_active_enums::RiskLevel::Low,
        secret: None,
    };
    channels::create(&db, channel, &by, now)
        .await
        .expect("channel");
    let rules = Rules::new(Default::default(), settings(url).alerts);
    let mut users = Vec::new();
    for n in 0..100 {
        let upsert = UserUpsert {
            external_id: None,
            name: format!("Bench User {n}"),
            email: Email::parse(&format!("bench{n}@example.com")).expect("email"),
            created_at: None,
            is_active: None,
        };
        let user = ingest::upsert_user(&db, &rules, upsert, &by, now)
            .await
            .expect("user");
        users.push(user.id);
    }
    futures::stream::iter(0..deliveries)
        .map(|n| {
            let input = NewAlert {
                user_id: users[n % users.len()],
                note: None,
                idempotency_key: None,
            };
            alerts::send_alert(&db, &rules, input, &by, now)
        })
        .buffer_unordered(8)
        .for_each(|sent| {
            sent.expect("alert");
            futures::future::ready(())
        })
        .await;
    if db::is_postgres(&db) {
        db.execute_unprepared("VACUUM ANALYZE deliveries")
            .await
            .expect("analyze");
    }

    let deliverer = Deliverer::new(
        db.clone(),
        rules.alerts.clone(),
        SharedClock::system(),
        Default::default(),
    )
    .expect("deliverer");
    let started = Instant::now();
    let mut done = 0;
    while done < deliveries {
        done += deliverer.deliver_due().await.expect("a pass");
    }
    wait_for(&seen, deliveries).await;
    let rate = deliveries as f64 / started.elapsed().as_secs_f64();

    // The ceiling: the same number of posts of a typical body, 64 at once.
    let body =
        json!({"id": "x", "type": "ALERT_RAISED", "data": {"user": {"id": "0"}}}).to_string();
    let client = reqwest::Client::new();
    let before = count(&seen);
    let started = Instant::now();
    futures::stream::iter(0..deliveries)
        .map(|_| client.post(&hook).body(body.clone()).send())
        .buffer_unordered(64)
        .for_each(|r| {
            r.expect("post");
            futures::future::ready(())
        })
        .await;
    wait_for(&seen, before + deliveries).await;
    let ceiling = deliveries as f64 / started.elapsed().as_secs_f64();
    db.close().await.ok();
    (rate, ceiling)
}

async fn gql(client: &reqwest::Client, base: &str, query: &str, variables: Value) -> Value {
    let body: Value = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

/// From the payment that makes a user critical to the receiver getting the
/// automatic alert, `writes` times, one at a time; sorted milliseconds.
async fn latency(url: &str, writes: usize) -> Vec<f64> {
    let app = Application::build(settings(url)).await.expect("app");
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until(std::future::pending()));
    let (hook, seen) = receiver().await;
    let client = reqwest::Client::new();
    let input = json!({ "name": "critical", "kind": "WEBHOOK", "url": hook, "events": ["ALERT_RAISED"], "minLevel": "HIGH" });
    gql(
        &client,
        &base,
        "mutation($input: ChannelInput!) { createChannel(input: $input) { secret } }",
        json!({ "input": input }),
    )
    .await;
    let pay = "mutation($input: PaymentInput!) { recordPayment(input: $input) { riskLevel } }";
    let payment = |user: &str, status: &str, day: &str| {
        json!({ "input": { "userId": user, "amount": 1.0, "status": status,
                           "paymentDate": format!("{day}T10:00:00Z"), "paymentMethod": "card" } })
    };
    let mut delays = Vec::with_capacity(writes);
    for n in 0..writes {
        let input = json!({ "name": format!("Latency User {n}"), "email": format!("latency{n}@example.com") });
        let data = gql(
            &client,
            &base,
            "mutation($input: UserInput!) { upsertUser(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
        let user = data["upsertUser"]["id"].as_str().expect("id").to_owned();
        gql(&client, &base, pay, payment(&user, "SUCCESS", "2026-09-01")).await;
        gql(&client, &base, pay, payment(&user, "FAILED", "2026-10-01")).await;
        // The deliverer is idle: nothing is queued.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let level = gql(&client, &base, pay, payment(&user, "FAILED", "2026-11-01")).await;
        assert_eq!(level["recordPayment"]["riskLevel"], "CRITICAL");
        let deadline = Instant::now() + Duration::from_secs(30);
        let arrived = loop {
            if let Some(at) = seen.lock().expect("lock").by_user.get(&user) {
                break *at;
            }
            assert!(Instant::now() < deadline, "no message for user {user}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        delays.push(arrived.duration_since(started).as_secs_f64() * 1_000.0);
    }
    delays.sort_by(f64::total_cmp);
    delays
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn fresh_postgres(admin: &str, name: &str) -> String {
    let admin_db = Database::connect(admin).await.expect("PostgreSQL");
    admin_db
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop");
    admin_db
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    admin_db.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

#[tokio::main]
async fn main() {
    let deliveries = env_usize("DELIVERIES", 5_000);
    let writes = env_usize("WRITES", 200);
    let admin = std::env::var("PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let dir = std::env::temp_dir().join(format!("risk-monitor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "| backend | deliveries/s | receiver ceiling/s | ratio | write→receiver p50 ms | p99 ms | max ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for backend in ["postgres", "sqlite"] {
        let (url_a, url_b) = match backend {
            "postgres" => (
                fresh_postgres(&admin, "bench_deliveries_a").await,
                fresh_postgres(&admin, "bench_deliveries_b").await,
            ),
            _ => (
                format!("sqlite://{}?mode=rwc", dir.join("a.db").display()),
                format!("sqlite://{}?mode=rwc", dir.join("b.db").display()),
            ),
        };
        let (rate, ceiling) = throughput(&url_a, deliveries).await;
        let db = db::connect(&settings(&url_b).database)
            .await
            .expect("connect");
        db::migrate_up(&db).await.expect("migrate");
        db.close().await.ok();
        let delays = latency(&url_b, writes).await;
        println!(
            "| {backend} | {rate:.0} | {ceiling:.0} | {:.2} | {:.1} | {:.1} | {:.1} |",
            rate / ceiling,
            percentile(&delays, 0.5),
            percentile(&delays, 0.99),
            delays.last().copied().unwrap_or_default(),
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
