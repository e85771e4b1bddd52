//! Nothing a client sends can stall the service, and every refusal is a
//! clean error: costly GraphQL documents are refused before they run, one
//! statistics snapshot serves every trend length, slow or idle connections
//! are cut off and their number capped, each request has a time budget and
//! each client a rate limit, concurrent upserts of one user all succeed, bad
//! inputs are `BAD_USER_INPUT`, and a 413 closes its connection.

use std::time::{Duration, Instant};

use entity::users;
use futures::future::join_all;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::internals::{Application, Role, ServeOptions, access, begin_write, tester};
use crate::helpers::{Backend, TestApp, TestDb, backend_tests, error_code};

/// Fragment F0 spreads F1 twice, F1 spreads F2 twice, … `levels` deep: a
/// document of about 1 KB that expands to 2^levels selections.
fn exponential_fragments(levels: usize) -> String {
    let mut query = String::from("query { ...F0 }\n");
    for i in 0..levels {
        let next = i + 1;
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_documents_are_refused_in_milliseconds_while_the_service_stays_live() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = exponential_fragments(20);
    assert!(query.len() < 1500, "{} bytes", query.len());

    // Four at once, and a liveness probe beside them.
    let started = Instant::now();
    let attacks = join_all((0..4).map(|_| app.graphql(&query, json!({}))));
    let live = async {
        let asked = Instant::now();
        let status = app.get("/health/live").await.status();
        (status, asked.elapsed())
    };
    let (answers, (live_status, live_took)) = tokio::join!(attacks, live);
    let took = started.elapsed();
    for answer in &answers {
        assert_eq!(error_code(answer), "QUERY_TOO_COMPLEX", "{answer}");
    }
    assert!(took < Duration::from_secs(2), "refused in {took:?}");
    assert_eq!(live_status, 200);
    assert!(
        live_took < Duration::from_secs(1),
        "liveness took {live_took:?}"
    );

    // Over GET too.
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query.as_str())])
        .send()
        .await
        .expect("GET /graphql");
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");

    // Other shapes: too many aliases, brackets nested past the parser's
    // stack, fragments nested past the recursion limit, a fragment cycle
    // that no operation uses.
    let aliases: String = (0..1_500).map(|i| format!("a{i}: __typename ")).collect();
    let deep = format!("{{ {}{} }}", "a { ".repeat(50_000), "}".repeat(50_000));
    let mut chain = String::from("query { ...C0 }\n");
    for i in 0..40 {
        chain.push_str(&format!("fragment C{i} on Query {{ ...C{} }}\n", i + 1));
    }
    chain.push_str("fragment C40 on Query { __typename }\n");
    let cycle = "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }";
    for (document, code) in [
        (format!("{{ {aliases} }}"), "QUERY_TOO_COMPLEX"),
        (deep, "QUERY_TOO_DEEP"),
        (chain, "QUERY_TOO_DEEP"),
        (cycle.to_owned(), "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let asked = Instant::now();
        let answer = app.graphql(&document, json!({})).await;
        assert_eq!(error_code(&answer), code, "{answer}");
        assert!(asked.elapsed() < Duration::from_secs(2));
    }
    let ok = app.graphql("{ stats { totalUsers } }", json!({})).await;
    assert_eq!(ok["data"]["stats"]["totalUsers"], 0, "{ok}");
    // A batch of one operation is still answered as a batch.
    let batch = app
        .post_json("/graphql", &json!([{ "query": "{ __typename }" }]))
        .await;
    let answers: Value = batch.json().await.expect("json");
    assert!(
        answers.as_array().is_some_and(|a| a.len() == 1),
        "{answers}"
    );
}

backend_tests!(every_trend_length_is_cut_from_one_statistics_snapshot);
async fn every_trend_length_is_cut_from_one_statistics_snapshot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(40).await;
    let fields = "computedAt totalUsers failureTrend { day failed }";
    let aliases: String = (1..=50)
        .map(|days| format!("d{days}: stats(trendDays: {days}) {{ {fields} }} "))
        .collect();
    let query = format!("{{ {aliases} full: stats(trendDays: 366) {{ {fields} }} }}");

    let response = app.graphql(&query, json!({})).await;

    assert!(response["errors"].is_null(), "{backend:?}: {response}");
    let data = &response["data"];
    let full = data["full"]["failureTrend"].as_array().expect("trend");
    assert_eq!(full.len(), 366);
    for days in 1..=50usize {
        let stats = &data[format!("d{days}")];
        let trend = stats["failureTrend"].as_array().expect("trend");
        assert_eq!(
            trend.as_slice(),
            &full[366 - days..],
            "{backend:?}: {days} days"
        );
        assert_eq!(
            stats["computedAt"], data["full"]["computedAt"],
            "one snapshot"
        );
        assert_eq!(stats["totalUsers"], 40);
    }
    // A later request for one length is the same cut.
    let alone = app
        .graphql(
            &format!("{{ stats(trendDays: 7) {{ {fields} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(alone["data"]["stats"], data["d7"], "{backend:?}");
}

backend_tests!(
    concurrent_upserts_of_one_new_user_all_succeed_and_make_one_user,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_upserts_of_one_new_user_all_succeed_and_make_one_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let upsert = "mutation($input: UserInput!) { upsertUser(input: $input) { id email } }";
    for (key, input) in [
        ("email", json!({ "email": "racer@example.com" })),
        (
            "externalId",
            json!({ "email": "ext.racer@example.com", "externalId": "ext-racer" }),
        ),
    ] {
        let answers = join_all((0..30).map(|i| {
            let mut input = input.clone();
            input["name"] = json!(format!("Racer {i}"));
            app.graphql(upsert, json!({ "input": input }))
        }))
        .await;
        let ids: Vec<&Value> = answers
            .iter()
            .map(|a| {
                assert!(a["errors"].is_null(), "{backend:?} by {key}: {a}");
                &a["data"]["upsertUser"]["id"]
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{backend:?}: {ids:?}");
        let email = input["email"].as_str().expect("email");
        let stored = users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .count(app.db())
            .await
            .expect("count");
        assert_eq!(stored, 1, "{backend:?} by {key}");
    }
    // A real conflict is still refused: another user's email.
    let taken = app
        .graphql(
            upsert,
            json!({ "input": { "name": "Other", "email": "racer@example.com", "externalId": "other" } }),
        )
        .await;
    assert_eq!(error_code(&taken), "BAD_USER_INPUT", "{backend:?}: {taken}");
}

backend_tests!(missing_variables_nul_bytes_and_long_searches_are_bad_user_input);
async fn missing_variables_nul_bytes_and_long_searches_are_bad_user_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(3).await;

    // A required variable left out: refused before any field runs, so the
    // first upsert of the two is not written either.
    let analysis = "query($id: ID!) { userRiskAnalysis(userId: $id) { riskScore } }";
    let response = app.graphql(analysis, json!({})).await;
    assert_eq!(
        error_code(&response),
        "BAD_USER_INPUT",
        "{backend:?}: {response}"
    );
    let two = "mutation($a: UserInput!, $b: UserInput!) { \
               a: upsertUser(input: $a) { id } b: upsertUser(input: $b) { id } }";
    let response = app
        .graphql(
            two,
            json!({ "a": { "name": "First", "email": "first@example.com" } }),
        )
        .await;
    assert_eq!(
        error_code(&response),
        "BAD_USER_INPUT",
        "{backend:?}: {response}"
    );
    let written = users::Entity::find()
        .filter(users::Column::Email.eq("first@example.com"))
        .count(app.db())
        .await
        .expect("count");
    assert_eq!(written, 0, "{backend:?}: nothing was written");

    // A NUL in any string argument.
    let nul = "a\u{0}b";
    let list = "query($s: String, $t: String) { riskyUsers(minScore: 0, search: $s, subscriptionType: $t) { edges { cursor } } }";
    let user = "mutation($i: UserInput!) { upsertUser(input: $i) { id } }";
    let alert = "mutation($n: String, $k: String) { sendAlert(userId: \"1\", note: $n, idempotencyKey: $k) { deduplicated } }";
    let payment = "mutation($i: PaymentInput!) { recordPayment(input: $i) { duplicate } }";
    let pay = |field: &str| {
        let mut input = json!({ "userId": "1", "amount": 9.99, "status": "SUCCESS",
                                "paymentDate": "2024-01-01T00:00:00Z", "paymentMethod": "card" });
        input[field] = json!(nul);
        json!({ "i": input })
    };
    for (query, variables) in [
        (list, json!({ "s": nul })),
        (list, json!({ "t": nul })),
        (
            user,
            json!({ "i": { "name": nul, "email": "nul@example.com" } }),
        ),
        (
            user,
            json!({ "i": { "name": "Nul", "email": format!("n{nul}@example.com") } }),
        ),
        (alert, json!({ "n": nul })),
        (alert, json!({ "k": nul })),
        (payment, pay("paymentMethod")),
        (payment, pay("externalId")),
        (payment, pay("failureReason")),
        (analysis, json!({ "id": nul })),
    ] {
        let response = app.graphql(query, variables.clone()).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{backend:?}: {variables} → {response}"
        );
    }

    // A search of 200 characters is fine; longer ones are refused.
    let search = |s: String| app.graphql(list, json!({ "s": s }));
    let ok = search("a".repeat(200)).await;
    assert!(ok["errors"].is_null(), "{backend:?}: {ok}");
    for long in [201, 100_000] {
        let response = search("a".repeat(long)).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{backend:?}: {long}"
        );
    }
}

/// Sends `request` on a new connection and reads until the server closes
/// it; fails if it is still open after 10 s or is reset instead of closed.
async fn send_raw(address: &str, request: &[u8]) -> String {
    let address = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection within 10 s")
        .expect("the connection was closed, not reset");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_and_its_connection_closed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.address.trim_start_matches("http://").to_owned();

    // The whole oversized body sent.
    let body = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(300 * 1024)
    );
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    let answer = send_raw(&app.address, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer:.300}"
    );
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer:.300}");

    // A huge declared length: refused on the headers alone.
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000000\r\n\r\n"
    );
    let answer = send_raw(&app.address, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"));

    // A body within the limit keeps its connection and is answered.
    let ok = app
        .post_json("/graphql", &json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(ok.status(), 200);
}

/// Takes the lock that every write waits for (SQLite: the write lock;
/// PostgreSQL: `users`, which reads wait for too), until the returned
/// transaction ends.
async fn hold_lock(backend: Backend, db: &DatabaseConnection) -> DatabaseTransaction {
    let (txn, statement) = match backend {
        Backend::Sqlite => (
            begin_write(db).await.expect("begin"),
            "UPDATE users SET name = name WHERE id = 0",
        ),
        Backend::Postgres => (
            db.begin().await.expect("begin"),
            "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        ),
    };
    txn.execute_unprepared(statement).await.expect("lock");
    txn
}

/// Sessions of this database waiting for a lock (PostgreSQL).
async fn waiting_for_a_lock(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a count")
}

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id } }";

fn new_user(email: &str) -> Value {
    json!({ "query": UPSERT, "variables": { "input": { "name": "Slow", "email": email } } })
}

backend_tests!(a_request_past_its_budget_answers_timeout_and_the_service_recovers);
async fn a_request_past_its_budget_answers_timeout_and_the_service_recovers(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |settings| {
        settings.limits.request_timeout = Duration::from_secs(1);
    })
    .await;
    app.seed(3).await;
    let lock = hold_lock(backend, app.db()).await;

    // GraphQL: the GraphQL error shape.
    let asked = Instant::now();
    let response = app
        .post_json("/graphql", &new_user("slow@example.com"))
        .await;
    let took = asked.elapsed();
    assert!(
        matches!(response.status().as_u16(), 200 | 503),
        "{backend:?}: {}",
        response.status()
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "TIMEOUT", "{backend:?}: {body}");
    assert!(body["errors"][0]["message"].is_string());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{backend:?}: {took:?}"
    );

    // REST: 503, `detail`, the code in `x-error-code`.
    let response = app.post("/api/alert/1").await;
    assert_eq!(response.status(), 503, "{backend:?}");
    assert_eq!(response.headers()["x-error-code"], "TIMEOUT");
    let body: Value = response.json().await.expect("json");
    assert!(body["detail"].is_string(), "{body}");

    match backend {
        Backend::Postgres => {
            // The statement timeout cancels the abandoned statements while
            // the lock is still held: they no longer hold their connections.
            let deadline = Instant::now() + Duration::from_secs(5);
            while waiting_for_a_lock(app.db()).await > 0 {
                assert!(
                    Instant::now() < deadline,
                    "statements still waiting for the lock"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Their busy timeout (the same budget) runs out meanwhile.
        Backend::Sqlite => tokio::time::sleep(Duration::from_millis(1500)).await,
    }
    lock.rollback().await.expect("release the lock");

    // Neither timed-out write happened.
    let alerts = entity::alerts::Entity::find()
        .count(app.db())
        .await
        .expect("count");
    assert_eq!(alerts, 0, "{backend:?}: the alert was not written");
    let slow = users::Entity::find()
        .filter(users::Column::Email.eq("slow@example.com"))
        .count(app.db())
        .await
        .expect("count");
    assert_eq!(slow, 0, "{backend:?}: the user was not written");

    // The service answers, and the same write now succeeds.
    assert_eq!(app.get("/health/live").await.status(), 200);
    let ok = app
        .post_json("/graphql", &new_user("slow@example.com"))
        .await;
    let body: Value = ok.json().await.expect("json");
    assert!(body["errors"].is_null(), "{backend:?}: {body}");
}

#[tokio::test]
async fn the_serving_pool_sets_the_statement_timeout_on_postgresql() {
    if !crate::helpers::postgres_configured(module_path!()) {
        return;
    }
    let test_db = TestDb::empty(Backend::Postgres).await;
    let pool =
        crate::helpers::internals::connect_serving(&test_db.url, Duration::from_secs(3)).await;
    let row = pool
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SHOW statement_timeout",
        ))
        .await
        .expect("SHOW")
        .expect("a row");
    assert_eq!(
        row.try_get::<String>("", "statement_timeout")
            .expect("text"),
        "3s"
    );
}

#[tokio::test]
async fn clients_over_their_rate_are_refused_with_retry_after_but_probes_never() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |settings| {
        settings.limits.rate_limit_per_minute = 5;
    })
    .await;

    // Five requests from this address pass; the sixth is refused, in the
    // shape of its route.
    for _ in 0..5 {
        assert_eq!(app.get("/api/stats").await.status(), 200);
    }
    let refused = app.get("/api/stats").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-error-code"], "RATE_LIMITED");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let body: Value = refused.json().await.expect("json");
    assert!(body["detail"].is_string(), "{body}");

    let refused = app
        .post_json("/graphql", &json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");

    // Health probes pass, however many.
    for _ in 0..10 {
        assert_eq!(app.get("/health/live").await.status(), 200);
        assert_eq!(app.get("/health/ready").await.status(), 200);
    }

    // A key (or a session) is a client of its own, whatever its address.
    let db = app.db().clone();
    let new_key = |name: &'static str| {
        let db = db.clone();
        async move {
            access::create_key(&db, name, Role::Viewer, &tester(), chrono::Utc::now())
                .await
                .expect("a key")
                .secret
        }
    };
    let (key_a, key_b) = (new_key("a").await, new_key("b").await);
    let with = |name: &'static str, value: String| {
        let request = app.client.get(format!("{}/api/stats", app.address));
        async move {
            request
                .header(name, value)
                .send()
                .await
                .expect("GET")
                .status()
        }
    };
    for _ in 0..5 {
        assert_eq!(with("authorization", format!("Bearer {key_a}")).await, 200);
    }
    assert_eq!(with("authorization", format!("Bearer {key_a}")).await, 429);
    assert_eq!(with("authorization", format!("Bearer {key_b}")).await, 200);
    assert_ne!(with("cookie", "rm_session=s1".into()).await, 429);

    // Made-up keys are refused (401) and made-up sessions ignored; each
    // counts against the address (the session above was the first): past
    // the limit, any further key or session from it is refused before it is
    // looked up.
    for i in 0..4 {
        let made_up = format!("Bearer rm_{i:064}");
        assert_eq!(with("authorization", made_up).await, 401);
    }
    let another = format!("Bearer rm_{:064}", 99);
    assert_eq!(
        with("authorization", another).await,
        429,
        "no escape by a new key each time"
    );
    let cookie = format!("rm_session=rs_{:064}", 7);
    assert_eq!(
        with("cookie", cookie).await,
        429,
        "nor by a new session each time"
    );
}

/// The application on `test_db`, served with `options` until the returned
/// sender fires (or is dropped); the handle ends when the server has.
async fn serve(
    test_db: &TestDb,
    options: ServeOptions,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = Application::build(test_db.settings())
        .await
        .expect("build the application");
    let address = app.address().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_with(
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    (address, stop, server)
}

/// A connection to `address` from the loopback address `source`.
async fn connect_from(source: [u8; 4], address: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(std::net::SocketAddr::from((source, 0)))
        .expect("bind a loopback address");
    socket
        .connect(address.parse().expect("an address"))
        .await
        .expect("connect")
}

/// `GET /health/live` from `source` on a connection of its own; the answer
/// (empty when the server closed or reset the connection without one) and
/// how long it took.
async fn live_from(source: [u8; 4], address: &str) -> (String, Duration) {
    let asked = Instant::now();
    let mut stream = connect_from(source, address).await;
    let request = b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = Vec::new();
    if stream.write_all(request).await.is_ok() {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("answered or closed within 10 s");
        if read.is_err() {
            answer.clear();
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        asked.elapsed(),
    )
}

#[tokio::test]
async fn slow_or_idle_connections_are_cut_off_and_their_number_is_capped() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        max_connections: 4,
        max_connections_per_address: 3,
        shutdown_grace: Duration::from_secs(1),
    };
    let (address, _stop, _server) = serve(&test_db, options).await;

    // Headers that never end: cut off after the timeout.
    let asked = Instant::now();
    let answer = send_raw(
        &address,
        b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n",
    )
    .await;
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}: {answer}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");

    // Three idle connections from one address are its share: a fourth from
    // it is closed at once, while another address is served.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect_from([127, 0, 0, 1], &address).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (answer, took) = live_from([127, 0, 0, 1], &address).await;
    assert!(answer.is_empty(), "{answer}");
    assert!(
        took < Duration::from_millis(400),
        "closed at once: {took:?}"
    );
    let (answer, took) = live_from([127, 0, 0, 2], &address).await;
    assert!(answer.contains("200 OK"), "{answer}");
    assert!(
        took < Duration::from_millis(400),
        "served at once: {took:?}"
    );

    // A fourth idle connection fills the cap: the next client is served
    // only once the header timeout has closed the idle ones.
    idle.push(connect_from([127, 0, 0, 3], &address).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (answer, took) = live_from([127, 0, 0, 4], &address).await;
    assert!(answer.contains("200 OK"), "{answer}");
    assert!(
        took >= Duration::from_millis(200),
        "served at once: the cap did not hold ({took:?})"
    );
    for mut connection in idle {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), connection.read_to_end(&mut rest))
                .await
                .expect("the idle connection was closed");
        assert!(closed.is_ok());
    }
}

backend_tests!(shutdown_lets_in_flight_requests_finish_within_the_grace);
async fn shutdown_lets_in_flight_requests_finish_within_the_grace(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let options = ServeOptions::new(Duration::from_secs(2));
    let (address, stop, server) = serve(&test_db, options).await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/graphql");

    // A request in flight (waiting for a lock) when shutdown begins.
    let lock = hold_lock(backend, &test_db.db).await;
    let in_flight = tokio::spawn(
        client
            .post(&url)
            .json(&new_user("in.flight@example.com"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).expect("the server is running");

    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(&address).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request in flight finishes, and so does the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.rollback().await.expect("release the lock");
    let response = in_flight
        .await
        .expect("the request task")
        .expect("answered");
    assert_eq!(response.status(), 200, "{backend:?}");
    let body: Value = response.json().await.expect("json");
    assert!(body["errors"].is_null(), "{backend:?}: {body}");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the server stopped after its last request")
        .expect("the server task")
        .expect("served without error");

    // Past the grace, the server stops even with a request still running.
    let (address, stop, server) = serve(&test_db, ServeOptions::new(Duration::from_secs(1))).await;
    let lock = hold_lock(backend, &test_db.db).await;
    let stuck = tokio::spawn(
        client
            .post(format!("http://{address}/graphql"))
            .json(&new_user("stuck@example.com"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    stop.send(()).expect("the server is running");
    tokio::time::timeout(Duration::from_secs(4), server)
        .await
        .expect("the server stopped at the end of its grace")
        .expect("the server task")
        .expect("served without error");
    assert!(asked.elapsed() >= Duration::from_millis(900), "{backend:?}");
    lock.rollback().await.expect("release the lock");
    stuck.abort();
}
