//! Nothing a client sends can stall the service, and every refusal is a
//! clean error: one statistics snapshot serves every trend length, and
//! concurrent upserts of one user all succeed.

use entity::users;
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_tests, error_code};

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
