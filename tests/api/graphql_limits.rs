//! The GraphQL endpoint protects itself: body size, depth, complexity,
//! batches. Each refusal has its own code, and the service stays healthy.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

#[tokio::test]
async fn oversized_deep_complex_and_batched_requests_are_refused_with_their_codes() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    // A body over the limit: 413, before anything runs.
    let huge = json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(600 * 1024) } });
    let response = app.post_json("/graphql", &huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        error_code(&response.json().await.expect("json")),
        "PAYLOAD_TOO_LARGE"
    );

    // Too deep.
    let mut nested = String::from("__typename");
    for _ in 0..15 {
        nested =
            format!("__schema {{ types {{ fields {{ type {{ ofType {{ {nested} }} }} }} }} }}");
    }
    let response = app.graphql(&format!("{{ {nested} }}"), json!({})).await;
    assert_eq!(error_code(&response), "QUERY_TOO_DEEP", "{response}");

    // Too complex: many aliased fields.
    let wide: String = (0..250)
        .map(|i| format!("a{i}: stats {{ totalUsers }} "))
        .collect();
    let response = app.graphql(&format!("{{ {wide} }}"), json!({})).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response}");

    // Batches: up to 10 run, 11 are refused.
    let op = json!({ "query": "{ stats { totalUsers } }" });
    let ten = app.post_json("/graphql", &vec![op.clone(); 10]).await;
    assert_eq!(ten.status(), 200);
    let answers: Vec<Value> = ten.json().await.expect("json");
    assert_eq!(answers.len(), 10);
    assert!(
        answers
            .iter()
            .all(|a| a["data"]["stats"]["totalUsers"] == 0)
    );
    let eleven = app.post_json("/graphql", &vec![op; 11]).await;
    assert_eq!(eleven.status(), 400);
    assert_eq!(
        error_code(&eleven.json().await.expect("json")),
        "BATCH_TOO_LARGE"
    );

    // Syntax errors and unknown fields get codes too.
    assert_eq!(
        error_code(&app.graphql("{ stats {", json!({})).await),
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(
        error_code(&app.graphql("{ nope }", json!({})).await),
        "GRAPHQL_VALIDATION_FAILED"
    );

    // Mutations are not accepted over GET.
    let get = app.get("/graphql?query=mutation%20%7B%20sendAlert(userId%3A%20%221%22)%20%7B%20deduplicated%20%7D%20%7D").await;
    assert_eq!(get.status(), 405);

    // The explorer's introspection query stays within the limits.
    let introspection = app
        .graphql(include_str!("../data/introspection.graphql"), json!({}))
        .await;
    assert!(introspection["errors"].is_null(), "{introspection}");
    assert!(
        introspection["data"]["__schema"]["types"]
            .as_array()
            .is_some_and(|t| t.len() > 20)
    );

    // And the service is still healthy.
    assert_eq!(app.get("/health/live").await.status(), 200);
    let ok = app.graphql("{ stats { totalUsers } }", json!({})).await;
    assert_eq!(ok["data"]["stats"]["totalUsers"], 0);
}
