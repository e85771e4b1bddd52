//! Alerts that reach people (SPEC §10): channels, the outbox and its
//! deliverer against a real receiver, automatic alerts, the storm guard,
//! cases and their transitions, redelivery, two processes on one database,
//! and a deliverer killed with SIGKILL.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, backend_tests, error_code, serve_binary};
use crate::receiver::{Receiver, Reply};

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id } }";
const PAY: &str =
    "mutation($input: PaymentInput!) { recordPayment(input: $input) { riskScore riskLevel } }";
const CREATE_CHANNEL: &str = "mutation($input: ChannelInput!) { createChannel(input: $input) { secret channel { id name kind url events minLevel enabled } } }";
const SEND: &str = "mutation($id: ID!, $note: String) { sendAlert(userId: $id, note: $note) { alert { id version status } } }";
const ALERT: &str = "query($id: ID!) { alert(id: $id) { id kind status version assignee resolution notes { author text } user { id name } deliveries { id eventId status attempts lastStatusCode lastError deliveredAt summarizedAlerts channel { name } attemptLog { statusCode latencyMs error } } } }";

/// Fast retries for tests: a try waits half a second; retries come after
/// 50 ms, doubling to 200 ms.
fn quick(settings: &mut risk_monitor::config::Settings) {
    settings.alerts.delivery_timeout = Duration::from_millis(500);
    settings.alerts.retry_base = Duration::from_millis(50);
    settings.alerts.retry_cap = Duration::from_millis(200);
}

async fn gql(app: &TestApp, query: &str, variables: Value) -> Value {
    let response = app.graphql(query, variables).await;
    assert!(response["errors"].is_null(), "{query}: {response}");
    response["data"].clone()
}

/// Registers a channel of `kind` to `url` for `events` from `min_level`;
/// returns its id and secret.
async fn channel(
    app: &TestApp,
    name: &str,
    kind: &str,
    url: &str,
    events: &[&str],
    min_level: &str,
) -> (String, String) {
    let input =
        json!({ "name": name, "kind": kind, "url": url, "events": events, "minLevel": min_level });
    let data = gql(app, CREATE_CHANNEL, json!({ "input": input })).await;
    let created = &data["createChannel"];
    (
        created["channel"]["id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// A new user, opened today; returns its id.
async fn user(app: &TestApp, name: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    let input = json!({ "name": name, "email": email });
    let data = gql(app, UPSERT, json!({ "input": input })).await;
    data["upsertUser"]["id"].as_str().expect("id").to_owned()
}

/// Records a payment of 1.00 on `day` (`YYYY-MM-DD`); returns the new level.
async fn pay(app: &TestApp, user: &str, status: &str, day: &str) -> String {
    let input = json!({ "userId": user, "amount": 1.00, "status": status,
                        "paymentDate": format!("{day}T10:00:00Z"), "paymentMethod": "card" });
    let data = gql(app, PAY, json!({ "input": input })).await;
    data["recordPayment"]["riskLevel"]
        .as_str()
        .expect("level")
        .to_owned()
}

/// A user who paid once, then failed twice: high, then critical (recent
/// failures, paid once then declined, a low amount, a new account).
/// Returns its id.
async fn critical_user(app: &TestApp, name: &str) -> String {
    let id = user(app, name).await;
    pay(app, &id, "SUCCESS", "2026-09-01").await;
    assert_eq!(pay(app, &id, "FAILED", "2026-10-01").await, "HIGH");
    assert_eq!(pay(app, &id, "FAILED", "2026-11-01").await, "CRITICAL");
    id
}

async fn alert(app: &TestApp, id: &str) -> Value {
    gql(app, ALERT, json!({ "id": id })).await["alert"].clone()
}

/// Polls alert `id` until `done` holds (ten seconds at most).
async fn alert_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let alert = alert(app, id).await;
        if done(&alert) {
            return alert;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alert(app, id).await
}

async fn automatic_alerts(app: &TestApp, user: &str) -> Vec<Value> {
    let data = gql(
        app,
        "{ alerts(kind: AUTOMATIC, first: 100) { edges { node { id status user { id } } } } }",
        json!({}),
    )
    .await;
    data["alerts"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["user"]["id"] == user)
        .collect()
}

backend_tests!(a_delivery_is_retried_until_accepted_with_every_try_recorded_and_signed);
async fn a_delivery_is_retried_until_accepted_with_every_try_recorded_and_signed(backend: Backend) {
    // Arrange: a receiver that fails twice, then does not answer, then accepts.
    let receiver = Receiver::start(vec![
        Reply::Status(500),
        Reply::Status(503),
        Reply::Hang(Duration::from_secs(3)),
    ])
    .await;
    let app = TestApp::spawn_configured(backend, quick).await;
    let (_, secret) = channel(
        &app,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let id = user(&app, "Grace Hopper").await;

    // Act
    let sent = gql(&app, SEND, json!({ "id": id, "note": "please call" })).await;
    let alert_id = sent["sendAlert"]["alert"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let requests = receiver.wait_for(4, Duration::from_secs(15)).await;

    // Assert: four tries of one event, each signed with the channel's secret.
    assert_eq!(requests.len(), 4, "{backend:?}: {requests:?}");
    let event_ids: HashSet<&str> = requests
        .iter()
        .map(|r| r.header("risk-monitor-event-id"))
        .collect();
    assert_eq!(event_ids.len(), 1, "{backend:?}: one event id on every try");
    for request in &requests {
        assert!(request.signed_with(&secret), "{backend:?}: {request:?}");
        assert!(!request.signed_with("whsec_another"), "the check can fail");
        assert_eq!(request.header("risk-monitor-event-type"), "ALERT_RAISED");
        assert_eq!(request.header("content-type"), "application/json");
        let body = request.json();
        assert_eq!(body["id"], request.header("risk-monitor-event-id"));
        assert_eq!(body["type"], "ALERT_RAISED");
        assert_eq!(body["data"]["alert"]["id"], alert_id.as_str());
        assert_eq!(body["data"]["alert"]["note"], "please call");
        assert_eq!(body["data"]["user"]["name"], "Grace Hopper");
        assert_eq!(body["data"]["riskLevel"], "LOW");
    }
    let delivered = alert_until(&app, &alert_id, |a| {
        a["deliveries"][0]["status"] == "DELIVERED"
    })
    .await;
    let delivery = &delivered["deliveries"][0];
    assert_eq!(delivery["status"], "DELIVERED", "{backend:?}: {delivered}");
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(
        delivery["eventId"],
        requests[0].header("risk-monitor-event-id")
    );
    let log = delivery["attemptLog"].as_array().expect("attempt log");
    let statuses: Vec<&Value> = log.iter().map(|a| &a["statusCode"]).collect();
    assert_eq!(
        statuses,
        [&json!(500), &json!(503), &Value::Null, &json!(200)]
    );
    assert!(
        log[2]["error"].as_str().unwrap_or("").contains("no answer"),
        "{log:?}"
    );
    assert!(log[0]["error"].as_str().unwrap_or("").contains("500"));
    assert!(log[3]["error"].is_null());

    // Operators see the tries and the backlog.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for sample in [
        "risk_monitor_delivery_tries_total{outcome=\"retry\"} 3",
        "risk_monitor_delivery_tries_total{outcome=\"delivered\"} 1",
        "risk_monitor_outbox_pending 0",
    ] {
        assert!(
            metrics.contains(sample),
            "{backend:?}: {sample} in\n{metrics}"
        );
    }
}

backend_tests!(a_slack_channel_gets_block_kit_with_the_top_factors_and_a_link);
async fn a_slack_channel_gets_block_kit_with_the_top_factors_and_a_link(backend: Backend) {
    let receiver = Receiver::start(vec![]).await;
    let app = TestApp::spawn_configured(backend, |s| {
        quick(s);
        s.alerts.public_url = "https://risk.example".to_owned();
    })
    .await;
    channel(
        &app,
        "support",
        "SLACK",
        &receiver.url,
        &["ALERT_RAISED"],
        "HIGH",
    )
    .await;

    let id = critical_user(&app, "Alan Turing").await;
    let requests = receiver.wait_for(1, Duration::from_secs(10)).await;

    assert_eq!(
        requests.len(),
        1,
        "{backend:?}: one message for the automatic alert"
    );
    let message = requests[0].json();
    assert!(
        message["text"]
            .as_str()
            .unwrap_or("")
            .contains("Alan Turing"),
        "{message}"
    );
    assert!(requests[0].header("risk-monitor-signature").is_empty());
    let blocks = message["blocks"].as_array().expect("Block Kit blocks");
    let text = serde_json::to_string(blocks).expect("blocks");
    assert!(text.contains("CRITICAL"), "{text}");
    let factors = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.starts_with("*Top factors*"))
        .expect("a factors section");
    assert_eq!(
        factors.lines().filter(|l| l.starts_with('•')).count(),
        3,
        "{factors}"
    );
    assert!(
        factors.starts_with("*Top factors*\n• *recent failures* +0.33: 2 of the last 3"),
        "the largest first, with its contribution: {factors}"
    );
    let button = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("a link button");
    assert_eq!(
        button["elements"][0]["url"],
        format!("https://risk.example/console/users/{id}")
    );
}

backend_tests!(channels_are_validated_tested_and_never_show_their_secret);
async fn channels_are_validated_tested_and_never_show_their_secret(backend: Backend) {
    let receiver = Receiver::start(vec![]).await;
    let app = TestApp::spawn_configured(backend, quick).await;
    for (url, events) in [
        ("ftp://example.com/hook", json!(["ALERT_RAISED"])),
        ("not a url", json!(["ALERT_RAISED"])),
        ("http://", json!(["ALERT_RAISED"])),
        (receiver.url.as_str(), json!([])),
    ] {
        let input = json!({ "name": "bad", "kind": "WEBHOOK", "url": url, "events": events });
        let refused = app.graphql(CREATE_CHANNEL, json!({ "input": input })).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{url}: {refused}");
    }
    let (id, secret) = channel(&app, "ops", "WEBHOOK", &receiver.url, &["DIGEST"], "HIGH").await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 64,
        "{secret}"
    );
    let input =
        json!({ "name": "ops", "kind": "WEBHOOK", "url": receiver.url, "events": ["DIGEST"] });
    let taken = app.graphql(CREATE_CHANNEL, json!({ "input": input })).await;
    assert_eq!(error_code(&taken), "BAD_USER_INPUT", "{taken}");
    let slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
    channel(&app, "slack", "SLACK", slack, &["ALERT_RAISED"], "HIGH").await;

    // The secret is never shown again: no such field, and Slack's URL path hidden.
    let fields = gql(
        &app,
        "{ __type(name: \"Channel\") { fields { name } } }",
        json!({}),
    )
    .await;
    let names = serde_json::to_string(&fields).expect("fields");
    assert!(!names.contains("secret"), "{names}");
    let listed = gql(
        &app,
        "{ channels { name url events minLevel enabled } }",
        json!({}),
    )
    .await;
    let listed = serde_json::to_string(&listed).expect("channels");
    assert!(
        !listed.contains("XXXXSECRET") && !listed.contains(&secret),
        "{listed}"
    );

    // A test event, signed like the others.
    let test = gql(
        &app,
        "mutation($id: ID!) { testChannel(id: $id) { id eventId event status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(test["testChannel"]["event"], "DIGEST");
    let requests = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1, "{backend:?}");
    assert!(requests[0].signed_with(&secret));
    assert_eq!(requests[0].json()["data"]["test"], true);
    assert_eq!(
        requests[0].header("risk-monitor-event-id"),
        test["testChannel"]["eventId"].as_str().expect("event id")
    );

    // Disabled, and bad updates change nothing.
    let update = "mutation($id: ID!, $input: ChannelUpdate!) { updateChannel(id: $id, input: $input) { enabled url } }";
    let bad = app
        .graphql(
            update,
            json!({ "id": id, "input": { "url": "gopher://x" } }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let off = gql(
        &app,
        update,
        json!({ "id": id, "input": { "enabled": false } }),
    )
    .await;
    assert_eq!(
        off["updateChannel"],
        json!({ "enabled": false, "url": receiver.url })
    );
}

backend_tests!(crossing_into_critical_raises_one_automatic_alert_and_the_cooldown_holds);
async fn crossing_into_critical_raises_one_automatic_alert_and_the_cooldown_holds(
    backend: Backend,
) {
    let app = TestApp::spawn_configured(backend, quick).await;
    let id = critical_user(&app, "Ada Byron").await;
    let raised = automatic_alerts(&app, &id).await;
    assert_eq!(raised.len(), 1, "{backend:?}: crossing raises one");
    // Still critical: no second alert while the first is open.
    assert_eq!(pay(&app, &id, "FAILED", "2026-11-02").await, "CRITICAL");
    assert_eq!(automatic_alerts(&app, &id).await.len(), 1);

    // Closed, the user recovers, then falls again within the cooldown: none.
    let alert_id = raised[0]["id"].as_str().expect("id").to_owned();
    let resolve = "mutation($id: ID!, $v: Int!) { resolveAlert(id: $id, resolution: CONTACTED, version: $v) { status } }";
    gql(&app, resolve, json!({ "id": alert_id, "v": 1 })).await;
    for day in ["2026-11-03", "2026-11-04", "2026-11-05"] {
        pay(&app, &id, "SUCCESS", day).await;
    }
    pay(&app, &id, "FAILED", "2026-11-06").await;
    assert_eq!(pay(&app, &id, "FAILED", "2026-11-07").await, "CRITICAL");
    assert_eq!(
        automatic_alerts(&app, &id).await.len(),
        1,
        "{backend:?}: the cooldown holds"
    );

    // A process without a cooldown raises the next one.
    let eager = app.replica(|s| s.alerts.cooldown = Duration::ZERO).await;
    for day in ["2026-11-08", "2026-11-09", "2026-11-10"] {
        pay(&eager, &id, "SUCCESS", day).await;
    }
    pay(&eager, &id, "FAILED", "2026-11-11").await;
    assert_eq!(pay(&eager, &id, "FAILED", "2026-11-12").await, "CRITICAL");
    assert_eq!(automatic_alerts(&app, &id).await.len(), 2, "{backend:?}");
}

backend_tests!(a_storm_sends_one_summary_instead_of_a_message_each);
async fn a_storm_sends_one_summary_instead_of_a_message_each(backend: Backend) {
    let receiver = Receiver::start(vec![]).await;
    let start = Utc
        .with_ymd_and_hms(2026, 11, 25, 10, 0, 5)
        .single()
        .expect("instant");
    let (origin, clock) = TestApp::spawn_at(backend, start).await;
    let app = origin
        .replica(|s| {
            quick(s);
            s.alerts.storm_per_minute = 3;
        })
        .await;
    let (channel_id, _) = channel(
        &app,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let mut users = Vec::new();
    for n in 0..10 {
        users.push(user(&app, &format!("Storm User{n}")).await);
    }

    for id in &users {
        gql(&app, SEND, json!({ "id": id })).await;
    }
    let first = receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "{backend:?}: {first:?}");
    let stored = gql(&app, "{ alerts(first: 100) { totalCount } }", json!({})).await;
    assert_eq!(stored["alerts"]["totalCount"], 10, "every alert is stored");

    // The minute ends: one summary of the other seven.
    clock.advance(chrono::Duration::seconds(60));
    let all = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 4, "{backend:?}");
    let summary = all[3].json();
    assert_eq!(summary["data"]["summary"], true, "{summary}");
    assert_eq!(summary["data"]["count"], 7);
    assert!(
        summary["data"]["url"]
            .as_str()
            .unwrap_or("")
            .ends_with("/console/cases")
    );
    let _ = channel_id;
}

backend_tests!(cases_move_through_their_lifecycle_with_versions_audit_and_a_sanction);
async fn cases_move_through_their_lifecycle_with_versions_audit_and_a_sanction(backend: Backend) {
    let moderation = Receiver::start(vec![]).await;
    let app = TestApp::spawn_configured(backend, quick).await;
    let (_, secret) = channel(
        &app,
        "moderation",
        "WEBHOOK",
        &moderation.url,
        &["SANCTION"],
        "LOW",
    )
    .await;
    let user_id = user(&app, "Mallory Doe").await;
    let sent = gql(&app, SEND, json!({ "id": user_id })).await;
    let id = sent["sendAlert"]["alert"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(sent["sendAlert"]["alert"]["status"], "OPEN");
    assert_eq!(sent["sendAlert"]["alert"]["version"], 1);

    let ack = "mutation($id: ID!, $v: Int!) { acknowledgeAlert(id: $id, version: $v) { status version } }";
    let acked = gql(&app, ack, json!({ "id": id, "v": 1 })).await;
    assert_eq!(
        acked["acknowledgeAlert"],
        json!({ "status": "ACKNOWLEDGED", "version": 2 })
    );
    let stale = app.graphql(ack, json!({ "id": id, "v": 1 })).await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let twice = app.graphql(ack, json!({ "id": id, "v": 2 })).await;
    assert_eq!(error_code(&twice), "BAD_USER_INPUT", "{twice}");
    assert!(
        twice.to_string().contains("ACKNOWLEDGED"),
        "names the state: {twice}"
    );

    let assign = "mutation($id: ID!, $v: Int!) { assignAlert(id: $id, assignee: \"ana\", version: $v) { assignee version } }";
    let assigned = gql(&app, assign, json!({ "id": id, "v": 2 })).await;
    assert_eq!(
        assigned["assignAlert"],
        json!({ "assignee": "ana", "version": 3 })
    );
    let comment = "mutation($id: ID!) { commentAlert(id: $id, text: \"called twice, no answer\") { version notes { text } } }";
    let commented = gql(&app, comment, json!({ "id": id })).await;
    assert_eq!(
        commented["commentAlert"]["version"], 3,
        "a note bumps no version"
    );
    let mine = gql(
        &app,
        "{ alerts(assignee: \"ana\") { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(mine["alerts"]["totalCount"], 1);

    // Two agents resolve at once: one wins, the other is told.
    let resolve = "mutation($id: ID!, $v: Int!, $note: String) { resolveAlert(id: $id, resolution: SANCTIONED, note: $note, version: $v) { status resolution version } }";
    let (a, b) = tokio::join!(
        app.graphql(
            resolve,
            json!({ "id": id, "v": 3, "note": "repeat offender" })
        ),
        app.graphql(
            resolve,
            json!({ "id": id, "v": 3, "note": "repeat offender" })
        ),
    );
    let codes: Vec<&str> = [&a, &b].iter().map(|r| error_code(r)).collect();
    assert!(
        codes.contains(&"CONFLICT") && [&a, &b].iter().any(|r| r["errors"].is_null()),
        "{backend:?}: {a} {b}"
    );
    let after = app.graphql(resolve, json!({ "id": id, "v": 4 })).await;
    assert_eq!(error_code(&after), "BAD_USER_INPUT");
    assert!(after.to_string().contains("RESOLVED"), "{after}");

    // The moderation task: the user, the notes, who decided.
    let tasks = moderation.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(tasks.len(), 1, "{backend:?}: one task");
    assert!(tasks[0].signed_with(&secret));
    let task = tasks[0].json();
    assert_eq!(task["type"], "SANCTION");
    assert_eq!(task["data"]["user"]["name"], "Mallory Doe");
    assert_eq!(task["data"]["decidedBy"], "local");
    let notes: Vec<&str> = task["data"]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert_eq!(notes, ["called twice, no answer", "repeat offender"]);

    let case = alert(&app, &id).await;
    assert_eq!(case["status"], "RESOLVED");
    assert_eq!(case["resolution"], "SANCTIONED");
    assert_eq!(case["user"]["name"], "Mallory Doe");
    let trail = gql(
        &app,
        "query($id: ID!) { auditLog(objectType: \"alert\", objectId: $id) { edges { node { action actor outcome detail } } } }",
        json!({ "id": id }),
    )
    .await;
    let actions: Vec<&str> = trail["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["outcome"] == "ok")
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    for action in [
        "acknowledgeAlert",
        "assignAlert",
        "commentAlert",
        "resolveAlert",
    ] {
        assert!(
            actions.contains(&action),
            "{backend:?}: {action} in {actions:?}"
        );
    }
    let analysis = gql(
        &app,
        "query($id: ID!) { userRiskAnalysis(userId: $id) { alerts { id status } } }",
        json!({ "id": user_id }),
    )
    .await;
    assert_eq!(
        analysis["userRiskAnalysis"]["alerts"][0]["status"],
        "RESOLVED"
    );
}

backend_tests!(a_failed_delivery_is_shown_failed_and_can_be_redelivered);
async fn a_failed_delivery_is_shown_failed_and_can_be_redelivered(backend: Backend) {
    let receiver = Receiver::start(vec![Reply::Status(500)]).await;
    let app = TestApp::spawn_configured(backend, |s| {
        quick(s);
        s.alerts.delivery_max_age = Duration::ZERO;
    })
    .await;
    channel(
        &app,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let id = user(&app, "Eve Failed").await;
    let sent = gql(&app, SEND, json!({ "id": id })).await;
    let alert_id = sent["sendAlert"]["alert"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let failed = alert_until(&app, &alert_id, |a| {
        a["deliveries"][0]["status"] == "FAILED"
    })
    .await;
    let delivery = &failed["deliveries"][0];
    assert_eq!(delivery["status"], "FAILED", "{backend:?}: {failed}");
    assert_eq!(delivery["lastStatusCode"], 500);
    let listed = gql(&app, "{ deliveries(status: FAILED) { id } }", json!({})).await;
    assert_eq!(listed["deliveries"][0]["id"], delivery["id"]);

    let redeliver = "mutation($id: ID!) { redeliver(deliveryId: $id) { status } }";
    let again = gql(&app, redeliver, json!({ "id": delivery["id"] })).await;
    assert_eq!(again["redeliver"]["status"], "PENDING");
    let delivered = alert_until(&app, &alert_id, |a| {
        a["deliveries"][0]["status"] == "DELIVERED"
    })
    .await;
    assert_eq!(
        delivered["deliveries"][0]["attempts"], 2,
        "{backend:?}: {delivered}"
    );
    let requests = receiver.received();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("risk-monitor-event-id"),
        requests[1].header("risk-monitor-event-id"),
        "a redelivery is the same event"
    );
    let pending = app
        .graphql(redeliver, json!({ "id": delivery["id"] }))
        .await;
    assert!(
        pending["errors"].is_null(),
        "a delivered one may be sent again: {pending}"
    );
    let twice = app
        .graphql(redeliver, json!({ "id": delivery["id"] }))
        .await;
    assert_eq!(
        error_code(&twice),
        "BAD_USER_INPUT",
        "not while it is pending: {twice}"
    );
}

backend_tests!(the_legacy_alert_route_keeps_its_shape_and_now_delivers);
async fn the_legacy_alert_route_keeps_its_shape_and_now_delivers(backend: Backend) {
    let receiver = Receiver::start(vec![]).await;
    let app = TestApp::spawn_configured(backend, quick).await;
    channel(
        &app,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let id = user(&app, "Legacy Client").await;

    let response = app.post(&format!("/api/alert/{id}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["message", "risk_level", "risk_score", "status"]);
    assert_eq!(body["message"], format!("Alert sent for user {id}"));
    let requests = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1, "{backend:?}");
    assert_eq!(requests[0].json()["data"]["user"]["name"], "Legacy Client");
}

#[tokio::test]
async fn two_processes_deliver_each_event_once() {
    if !crate::helpers::postgres_configured(module_path!()) {
        return;
    }
    let receiver = Receiver::start(vec![]).await;
    let settings = |s: &mut risk_monitor::config::Settings| {
        quick(s);
        s.alerts.storm_per_minute = 1_000;
    };
    let first = TestApp::spawn_configured(Backend::Postgres, settings).await;
    let second = first.replica(settings).await;
    channel(
        &first,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let mut users = Vec::new();
    for n in 0..10 {
        users.push(user(&first, &format!("Replica User{n}")).await);
    }

    let sends = users.iter().cycle().take(60).enumerate().map(|(n, id)| {
        let app = if n % 2 == 0 { &first } else { &second };
        async move { gql(app, SEND, json!({ "id": id })).await }
    });
    futures::future::join_all(sends).await;
    let requests = receiver.wait_for(60, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let requests_after = receiver.received();
    assert_eq!(requests.len(), 60);
    assert_eq!(requests_after.len(), 60, "no event was sent twice");
    let ids: HashSet<&str> = requests_after
        .iter()
        .map(|r| r.header("risk-monitor-event-id"))
        .collect();
    assert_eq!(ids.len(), 60);
}

#[tokio::test]
async fn a_delivery_waiting_for_its_retry_survives_sigkill() {
    let receiver = Receiver::start(vec![Reply::Status(500)]).await;
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let envs = [
        ("DEMO_DATA", "false"),
        ("DELIVERY_RETRY_BASE_SECONDS", "2"),
        ("DELIVERY_TIMEOUT_SECONDS", "1"),
    ];
    let mut served = serve_binary(&test_db, &envs);
    let base = format!("http://{}", served.address);
    let client = reqwest::Client::new();
    let post = |query: &str, variables: Value| {
        let request = client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        async move {
            let body: Value = request
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let input = json!({ "name": "ops", "kind": "WEBHOOK", "url": receiver.url, "events": ["ALERT_RAISED"], "minLevel": "LOW" });
    post(CREATE_CHANNEL, json!({ "input": input })).await;
    let input = json!({ "name": "Kill Nine", "email": "kill.nine@example.com" });
    let user = post(UPSERT, json!({ "input": input })).await["upsertUser"]["id"].clone();
    post(SEND, json!({ "id": user })).await;

    // The first try fails; the process is killed while the retry waits.
    assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    served.child.kill().expect("SIGKILL");
    served.child.wait().expect("reaped");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 1, "nobody sent it meanwhile");

    let mut restarted = serve_binary(&test_db, &envs);
    let requests = receiver.wait_for(2, Duration::from_secs(15)).await;
    restarted.child.kill().ok();
    restarted.child.wait().ok();
    assert_eq!(requests.len(), 2, "delivered after the restart");
    assert_eq!(
        requests[0].header("risk-monitor-event-id"),
        requests[1].header("risk-monitor-event-id")
    );
}

async fn critical_count(app: &TestApp) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    entity::risk_scores::Entity::find()
        .filter(
            entity::risk_scores::Column::Level
                .eq(entity::sea_orm_active_enums::RiskLevel::Critical),
        )
        .count(app.db())
        .await
        .expect("count")
}

backend_tests!(a_rescore_that_makes_many_users_critical_alerts_each_and_summarises_the_storm);
async fn a_rescore_that_makes_many_users_critical_alerts_each_and_summarises_the_storm(
    backend: Backend,
) {
    use crate::helpers::internals::{Rules, ScoringConfig, risk, scoring};
    let receiver = Receiver::start(vec![]).await;
    let app = TestApp::spawn_configured(backend, quick).await;
    app.seed(200).await;
    channel(
        &app,
        "ops",
        "WEBHOOK",
        &receiver.url,
        &["ALERT_RAISED"],
        "LOW",
    )
    .await;
    let total = "{ alerts { totalCount } }";
    assert_eq!(
        gql(&app, total, json!({})).await["alerts"]["totalCount"],
        0,
        "seeding alerts nobody"
    );
    let before = critical_count(&app).await;

    // An operator lowers the critical threshold and rescores everyone.
    let stricter = ScoringConfig {
        thresholds: risk::Thresholds::new(0.3, 0.45).expect("thresholds"),
        ..ScoringConfig::default()
    };
    let alerting = risk_monitor::config::AlertSettings {
        storm_per_minute: 5,
        ..Default::default()
    };
    let rules = Rules::new(stricter, alerting);
    // The summary is sent when the minute of the storm ends: start the
    // storm with the minute ahead, or the summary would come within the
    // wait below.
    let into_minute = Utc::now().timestamp().rem_euclid(60);
    if into_minute > 40 {
        let rest = u64::try_from(60 - into_minute).unwrap_or(20);
        tokio::time::sleep(Duration::from_secs(rest)).await;
    }
    scoring::rescore_all(app.db(), &rules, Utc::now(), 50, |_| {})
        .await
        .expect("rescore");
    let risen = critical_count(&app).await - before;
    assert!(
        risen > 10,
        "{backend:?}: the stricter threshold makes more critical ({risen})"
    );

    // Each user who rose has one automatic alert; the channel got five
    // messages, and the rest wait in one summary.
    let stored = gql(
        &app,
        "{ alerts(kind: AUTOMATIC) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(stored["alerts"]["totalCount"], risen, "{backend:?}");
    let requests = receiver.wait_for(5, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 5, "{backend:?}: {requests:?}");
    let deliveries = gql(
        &app,
        "{ deliveries(first: 100) { status summarizedAlerts } }",
        json!({}),
    )
    .await;
    let summaries: Vec<&Value> = deliveries["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["summarizedAlerts"].as_i64().unwrap_or(0) > 0)
        .collect();
    assert_eq!(summaries.len(), 1, "{backend:?}: {deliveries}");
    assert_eq!(summaries[0]["summarizedAlerts"], risen - 5);
    assert_eq!(
        summaries[0]["status"], "PENDING",
        "sent when the minute ends"
    );
}
