//! Nothing a client sends can stall the service, and every refusal is a
//! clean error: costly GraphQL documents are refused before they run, one
//! statistics snapshot serves every trend length, concurrent upserts of one
//! user all succeed, bad inputs are `BAD_USER_INPUT`, and a 413 closes its
//! connection.

use std::time::{Duration, Instant};

use entity::users;
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, backend_tests, error_code};

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
