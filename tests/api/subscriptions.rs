//! The live feed (SPEC §10 `SubscriptionRoot`) as a client sees it: a real
//! WebSocket speaking graphql-transport-ws to `/graphql/ws`, events caused
//! by writes over HTTP GraphQL, across two processes on one database, and
//! who may subscribe.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use entity::alerts;
use futures::{SinkExt, StreamExt};
use risk_monitor::config::AuthMode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::internals::{Application, Role, access, tester};
use crate::helpers::{Backend, TestApp, TestDb, backend_tests};

/// How long a test waits for any one message.
const WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/graphql/ws` on the service at `address` (`http://…`), with
/// `Authorization: Bearer key` when given and any `extra` headers.
async fn open(
    address: &str,
    key: Option<&str>,
    extra: &[(&'static str, &str)],
) -> Result<Socket, WsError> {
    let url = format!("{}/graphql/ws", address.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(key) = key {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
        );
    }
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    let (socket, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade is answered in time")?;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws"),
        "the server speaks graphql-transport-ws"
    );
    Ok(socket)
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send a message");
}

/// The next protocol message (pings answered, pongs skipped), or the close
/// frame's code as `{"type": "closed", "code": …}`.
async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within the wait")
            .map(|m| m.expect("a readable message"));
        match message {
            Some(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                match value["type"].as_str() {
                    Some("ping") => send(socket, json!({ "type": "pong" })).await,
                    Some("pong") => {}
                    _ => return value,
                }
            }
            Some(Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                return json!({ "type": "closed", "code": code });
            }
            None => return json!({ "type": "closed", "code": null }),
            Some(_) => {}
        }
    }
}

/// `connection_init` with `payload`; the server's answer.
async fn init(socket: &mut Socket, payload: Value) -> Value {
    send(
        socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    receive(socket).await
}

/// Starts `query` as subscription `id`, and returns once the server has
/// taken it in (a ping sent after it is answered).
async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    send(socket, json!({ "type": "ping" })).await;
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a pong within the wait")
            .expect("the socket stays open")
            .expect("a readable message");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("JSON message");
            match value["type"].as_str() {
                Some("pong") => break,
                _ => panic!("before the pong: {value}"),
            }
        }
    }
    // The field's stream subscribes to the hub when first polled, right
    // after the pong went out; give it that instant.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The next `next` message of subscription `id`: its `payload.data`.
async fn next_of(socket: &mut Socket, id: &str) -> Value {
    let message = receive(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(message["payload"]["errors"].is_null(), "{message}");
    message["payload"]["data"].clone()
}

/// A socket past `connection_ack`, on `app`.
async fn ready_socket(address: &str) -> Socket {
    let mut socket = open(address, None, &[]).await.expect("upgrade");
    let ack = init(&mut socket, json!({})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id } }";
const PAY: &str = "mutation($input: PaymentInput!) { recordPayment(input: $input) { riskLevel } }";

/// Creates a ten-day-old user over HTTP GraphQL; its id.
async fn new_user(app: &TestApp, email: &str) -> String {
    let created =
        (Utc::now() - chrono::Duration::days(10)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let input = json!({ "name": "Ada Lovelace", "email": email, "createdAt": created });
    let r = app.graphql(UPSERT, json!({ "input": input })).await;
    r["data"]["upsertUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned()
}

/// Records failed payments for `user` over HTTP GraphQL until it is
/// CRITICAL (at most eight); the write that made it so raised the
/// automatic alert (AUTO_ALERT_LEVEL defaults to CRITICAL).
async fn fail_until_critical(app: &TestApp, user: &str) {
    for day in (1..=8).rev() {
        let date =
            (Utc::now() - chrono::Duration::days(day)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let input = json!({ "userId": user, "amount": 9.99, "status": "FAILED",
                            "paymentDate": date, "paymentMethod": "card" });
        let r = app.graphql(PAY, json!({ "input": input })).await;
        assert!(r["errors"].is_null(), "{r}");
        if r["data"]["recordPayment"]["riskLevel"] == "CRITICAL" {
            return;
        }
    }
    panic!("eight failed payments did not make the user critical");
}

backend_tests!(a_subscriber_hears_the_automatic_alert_of_a_payment);
async fn a_subscriber_hears_the_automatic_alert_of_a_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = new_user(&app, "falling@example.com").await;
    let mut socket = ready_socket(&app.address).await;
    subscribe(
        &mut socket,
        "a",
        "subscription { alertRaised { id riskLevel riskScore } }",
    )
    .await;

    fail_until_critical(&app, &user).await;

    let data = next_of(&mut socket, "a").await;
    let alert = &data["alertRaised"];
    assert_eq!(alert["riskLevel"], "CRITICAL", "{backend:?}: {data}");
    assert!(alert["riskScore"].as_f64() >= Some(0.7), "{data}");
    let id: i64 = alert["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric id");
    let stored = alerts::Entity::find_by_id(id)
        .one(app.db())
        .await
        .expect("read alerts")
        .unwrap_or_else(|| panic!("{backend:?}: the alert heard is stored: {data}"));
    assert_eq!(stored.user_id.to_string(), user, "{backend:?}: on the user");
}

backend_tests!(a_subscriber_hears_the_level_changes_of_a_payment);
async fn a_subscriber_hears_the_level_changes_of_a_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = new_user(&app, "changing@example.com").await;
    let mut socket = ready_socket(&app.address).await;
    subscribe(
        &mut socket,
        "c",
        "subscription { riskLevelChanged(minLevel: CRITICAL) { user { id email } from to riskScore at } }",
    )
    .await;

    fail_until_critical(&app, &user).await;

    // Only the change into CRITICAL passes the filter: the first one heard
    // is it.
    let data = next_of(&mut socket, "c").await;
    let change = &data["riskLevelChanged"];
    assert_eq!(change["user"]["id"], user.as_str(), "{backend:?}: {data}");
    assert_eq!(change["user"]["email"], "changing@example.com");
    assert_eq!(change["to"], "CRITICAL", "{data}");
    assert_ne!(change["from"], "CRITICAL", "{data}");
    assert!(change["riskScore"].as_f64() >= Some(0.7), "{data}");
    assert!(change["at"].as_str().is_some(), "{data}");
}

backend_tests!(a_subscriber_of_one_process_hears_a_write_of_another);
async fn a_subscriber_of_one_process_hears_a_write_of_another(backend: Backend) {
    // Two serving processes on one database: A (the test app) takes the
    // write, B (a second application) serves the subscriber.
    let test_db = TestDb::migrated(backend).await;
    let settings = test_db.settings();
    let a = TestApp::spawn_on(test_db, |_| {}).await;
    let b = Application::build(settings).await.expect("build B");
    let b_address = format!("http://{}", b.address());
    tokio::spawn(b.run_until(std::future::pending()));

    let user = new_user(&a, "elsewhere@example.com").await;
    let mut socket = ready_socket(&b_address).await;
    subscribe(
        &mut socket,
        "b",
        "subscription { alertRaised(minLevel: CRITICAL) { riskLevel } }",
    )
    .await;

    fail_until_critical(&a, &user).await;

    let data = next_of(&mut socket, "b").await;
    assert_eq!(
        data["alertRaised"]["riskLevel"], "CRITICAL",
        "{backend:?}: B's subscriber hears A's alert: {data}"
    );
}

backend_tests!(only_callers_who_may_read_can_subscribe);
async fn only_callers_who_may_read_can_subscribe(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |s| s.access.auth = AuthMode::Required).await;
    let key = |name: &'static str, role: Role| {
        let db = app.db().clone();
        async move {
            access::create_key(&db, name, role, &tester(), Utc::now())
                .await
                .expect("create a key")
                .secret
        }
    };
    let viewer = key("watcher", Role::Viewer).await;
    let ingest = key("feeder", Role::Ingest).await;

    // An ingest key at the upgrade: 403 before any WebSocket.
    match open(&app.address, Some(&ingest), &[]).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        other => panic!("{backend:?}: an ingest key is refused at the upgrade: {other:?}"),
    }
    // A key that does not exist: 401.
    match open(&app.address, Some("rm_not_a_key"), &[]).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::UNAUTHORIZED),
        other => panic!("{backend:?}: a bad key is refused at the upgrade: {other:?}"),
    }
    // A page of another origin, even with a good key: 403.
    match open(
        &app.address,
        Some(&viewer),
        &[("origin", "https://evil.example")],
    )
    .await
    {
        Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        other => panic!("{backend:?}: a foreign origin is refused: {other:?}"),
    }

    // No credential at the upgrade or in connection_init: closed, 4401.
    let mut socket = open(&app.address, None, &[]).await.expect("upgrade");
    let answer = init(&mut socket, json!({})).await;
    assert_eq!(
        answer,
        json!({ "type": "closed", "code": 4401 }),
        "{backend:?}"
    );
    // An ingest key in connection_init: closed, 4403.
    let mut socket = open(&app.address, None, &[]).await.expect("upgrade");
    let answer = init(
        &mut socket,
        json!({ "Authorization": format!("Bearer {ingest}") }),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "type": "closed", "code": 4403 }),
        "{backend:?}"
    );

    // A viewer key, at the upgrade or in connection_init: acknowledged, and
    // each hears the alert an admin raises.
    let query = "subscription { alertRaised(minLevel: LOW) { id } }";
    let mut by_header = open(&app.address, Some(&viewer), &[])
        .await
        .expect("upgrade");
    assert_eq!(
        init(&mut by_header, json!({})).await["type"],
        "connection_ack"
    );
    subscribe(&mut by_header, "h", query).await;
    let mut by_init = open(&app.address, None, &[]).await.expect("upgrade");
    let ack = init(
        &mut by_init,
        json!({ "Authorization": format!("Bearer {viewer}") }),
    )
    .await;
    assert_eq!(ack["type"], "connection_ack", "{backend:?}: {ack}");
    subscribe(&mut by_init, "i", query).await;

    let admin = key("boss", Role::Admin).await;
    let user = graphql_as(
        &app,
        &admin,
        UPSERT,
        json!({ "input": { "name": "Al", "email": "al@example.com",
                            "createdAt": "2026-01-01T00:00:00Z" } }),
    )
    .await;
    let user = &user["data"]["upsertUser"]["id"];
    let sent = graphql_as(
        &app,
        &admin,
        "mutation($id: ID!) { sendAlert(userId: $id) { alert { id } } }",
        json!({ "id": user }),
    )
    .await;
    let alert = &sent["data"]["sendAlert"]["alert"]["id"];
    assert!(alert.is_string(), "{sent}");
    assert_eq!(
        &next_of(&mut by_header, "h").await["alertRaised"]["id"],
        alert
    );
    assert_eq!(
        &next_of(&mut by_init, "i").await["alertRaised"]["id"],
        alert
    );
}

/// POSTs a GraphQL operation with `Authorization: Bearer key`.
async fn graphql_as(app: &TestApp, key: &str, query: &str, variables: Value) -> Value {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("POST /graphql");
    let body: Value = response.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");
    body
}

/// The socket checks each operation as `POST` does before it runs: a
/// mutation is refused (it goes over `POST`, where refusals are audited)
/// and changes nothing, introspection is refused while it is off, and a
/// document past the cost limits is refused; a query still runs.
#[tokio::test]
async fn the_socket_refuses_mutations_and_what_post_refuses() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.operations.introspection = false;
    })
    .await;
    let mut socket = ready_socket(&app.address).await;
    let refused = |id: &'static str, query: String| json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
    let input = json!({ "name": "Over Socket", "email": "over.socket@example.com" });
    let cases = [
        (
            "m",
            format!(
                "mutation {{ upsertUser(input: {{ name: {}, email: {} }}) {{ id }} }}",
                input["name"], input["email"]
            ),
            "METHOD_NOT_ALLOWED",
        ),
        (
            "i",
            "{ __schema { queryType { name } } }".to_owned(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "c",
            format!("{{ {} }}", "stats { totalUsers } ".repeat(600)),
            "QUERY_TOO_COMPLEX",
        ),
    ];
    for (id, query, code) in cases {
        send(&mut socket, refused(id, query)).await;
        let answer = receive(&mut socket).await;
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(
            answer["payload"]["errors"][0]["extensions"]["code"], code,
            "{id}: {answer}"
        );
        assert!(answer["payload"]["data"].is_null(), "{id}: {answer}");
        let complete = receive(&mut socket).await;
        assert_eq!(complete["type"], "complete", "{id}: {complete}");
    }
    let users = crate::helpers::count(
        app.db(),
        "SELECT count(*) FROM users WHERE email = 'over.socket@example.com'",
    )
    .await;
    assert_eq!(users, 0, "the refused mutation wrote nothing");

    send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ stats { totalUsers } }" } }),
    )
    .await;
    let data = next_of(&mut socket, "q").await;
    assert!(data["stats"]["totalUsers"].is_number(), "{data}");
}
