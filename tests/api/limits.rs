//! Nothing a client sends can stall the service: one statistics snapshot
//! serves every trend length.

use serde_json::json;

use crate::helpers::{Backend, TestApp, backend_tests};

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
