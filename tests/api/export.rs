//! Exports of the risky list (SPEC §12), over real HTTP: the whole filtered
//! list in score order, CSV per RFC 4180 with formulas neutralised, JSON as
//! one array, the same rows as the API's list.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_tests};

/// Parses RFC 4180 text (quoted cells, doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        record.is_empty() && cell.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

/// Every id of the API's list at `min_score`, in its order.
async fn listed_ids(app: &TestApp, min_score: f64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .graphql(
                "query($min: Float, $after: String) { riskyUsers(minScore: $min, first: 100, after: $after) { edges { node { user { id } } } pageInfo { hasNextPage endCursor } } }",
                json!({ "min": min_score, "after": after }),
            )
            .await;
        let list = &page["data"]["riskyUsers"];
        for edge in list["edges"].as_array().expect("edges") {
            ids.push(edge["node"]["user"]["id"].as_str().expect("id").to_owned());
        }
        if list["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = list["pageInfo"]["endCursor"].clone();
    }
}

async fn add_user(app: &TestApp, name: &str, email: &str) -> String {
    let response = app
        .graphql(
            "mutation($input: UserInput!) { upsertUser(input: $input) { id } }",
            json!({ "input": { "name": name, "email": email } }),
        )
        .await;
    response["data"]["upsertUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

backend_tests!(the_csv_and_json_exports_hold_the_whole_list_in_order_and_safe_cells);
async fn the_csv_and_json_exports_hold_the_whole_list_in_order_and_safe_cells(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(1_200).await;
    let formula = add_user(
        &app,
        "=HYPERLINK(\"http://evil\",\"x\")",
        "formula@example.com",
    )
    .await;
    let awkward = add_user(&app, "Doe, \"JJ\"\nJunior", "awkward@example.com").await;

    // CSV: the header, then every row of the list at min_score 0 (the active
    // users among 1,202: more than one page of the export), in its order.
    let response = app.get("/api/export/risky-users.csv?min_score=0").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("risky-users.csv")
    );
    let text = response.text().await.expect("body");
    let records = parse_csv(&text);
    assert_eq!(
        records[0].join(","),
        "id,name,email,risk_score,risk_level,patterns,failure_rate,failed_payments,total_payments,subscription_type,monthly_amount,created_at"
    );
    let ids: Vec<String> = records[1..].iter().map(|r| r[0].clone()).collect();
    assert!(ids.len() > 1_000, "{backend:?}: {} rows", ids.len());
    assert_eq!(
        ids,
        listed_ids(&app, 0.0).await,
        "{backend:?}: the list, in its order"
    );
    assert!(records.iter().all(|r| r.len() == 12));
    let row = |id: &str| records.iter().find(|r| r[0] == id).expect("row").clone();
    assert_eq!(
        row(&formula)[1],
        "'=HYPERLINK(\"http://evil\",\"x\")",
        "neutralised"
    );
    assert_eq!(row(&awkward)[1], "Doe, \"JJ\"\nJunior", "quoted, intact");

    // JSON: the same rows.
    let response = app.get("/api/export/risky-users.json?min_score=0").await;
    assert_eq!(response.status(), 200);
    let rows: Vec<Value> = response.json().await.expect("one JSON array");
    let json_ids: Vec<String> = rows.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(json_ids, ids, "{backend:?}");
    let first = &rows[0];
    for key in &records[0] {
        assert!(
            first.get(key).is_some(),
            "the CSV's column {key} in {first}"
        );
    }
    assert_eq!(
        first["risk_score"].as_f64(),
        records[1][3].parse::<f64>().ok()
    );

    // Filters, as the list has them; bad ones are 422 and name themselves.
    let critical = app
        .get("/api/export/risky-users.json?level=critical")
        .await
        .json::<Vec<Value>>()
        .await
        .expect("json");
    assert!(!critical.is_empty() && critical.iter().all(|r| r["risk_level"] == "critical"));
    let empty = app
        .get("/api/export/risky-users.json?q=nobody-has-this-name")
        .await;
    assert_eq!(
        empty.json::<Vec<Value>>().await.expect("json"),
        Vec::<Value>::new()
    );
    let none = app
        .get("/api/export/risky-users.csv?q=nobody-has-this-name")
        .await;
    assert_eq!(
        parse_csv(&none.text().await.expect("csv")).len(),
        1,
        "the header alone"
    );
    let recent = app
        .get("/api/export/risky-users.json?pattern=recent_failures")
        .await
        .json::<Vec<Value>>()
        .await
        .expect("json");
    assert!(!recent.is_empty(), "{backend:?}");
    assert!(
        recent.iter().all(|r| r["patterns"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("RECENT_FAILURES")))),
        "any case names a pattern"
    );
    for bad in [
        "min_score=2",
        "min_score=x",
        "level=severe",
        "level=",
        "pattern=sleepy",
    ] {
        let refused = app.get(&format!("/api/export/risky-users.csv?{bad}")).await;
        assert_eq!(refused.status(), 422, "{bad}");
        let body: Value = refused.json().await.expect("json");
        let field = bad.split('=').next().unwrap_or("");
        assert_eq!(body["detail"][0]["loc"][1], field, "{bad}: {body}");
    }
}
