//! GraphQL mutations over real HTTP: ingestion with validation that changes
//! nothing on error, idempotency, rescoring, and alerts.

use entity::{alerts, audit_log, subscription_payments, user_subscriptions, users};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::internals::{ScoringConfig, When, assess_stored, level_of};
use crate::helpers::{Backend, TestApp, backend_tests, error_code, stored_score};

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id externalId name email createdAt isActive } }";
const SUBSCRIBE: &str = "mutation($input: SubscriptionInput!) { recordSubscription(input: $input) { id subscriptionType status monthlyAmount currency effectiveFrom effectiveUntil } }";
const PAY: &str = "mutation($input: PaymentInput!) { recordPayment(input: $input) { duplicate riskScore riskLevel payment { id externalId amount currency status paymentDate } } }";

async fn counts(app: &TestApp) -> (u64, u64, u64) {
    (
        users::Entity::find().count(app.db()).await.expect("users"),
        user_subscriptions::Entity::find()
            .count(app.db())
            .await
            .expect("subscriptions"),
        subscription_payments::Entity::find()
            .count(app.db())
            .await
            .expect("payments"),
    )
}

async fn new_user(app: &TestApp, email: &str) -> String {
    let input = json!({ "name": "Ada Lovelace", "email": email, "createdAt": "2026-01-01T00:00:00Z", "externalId": format!("cus_{email}") });
    let r = app.graphql(UPSERT, json!({ "input": input })).await;
    r["data"]["upsertUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned()
}

fn payment(user: &str, status: &str, date: &str, amount: Value) -> Value {
    json!({ "input": { "userId": user, "amount": amount, "status": status, "paymentDate": date, "paymentMethod": "card" } })
}

backend_tests!(users_are_created_then_updated_by_external_id_and_duplicate_emails_are_refused);
async fn users_are_created_then_updated_by_external_id_and_duplicate_emails_are_refused(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let id = new_user(&app, "ada@example.com").await;

    // Same external id: the same user, updated.
    let input = json!({ "externalId": "cus_ada@example.com", "name": "Ada King", "email": "ADA@example.com", "isActive": false });
    let updated = app.graphql(UPSERT, json!({ "input": input })).await;
    assert_eq!(
        updated["data"]["upsertUser"]["id"],
        json!(id),
        "{backend:?}: {updated}"
    );
    assert_eq!(updated["data"]["upsertUser"]["name"], "Ada King");
    assert_eq!(
        updated["data"]["upsertUser"]["email"], "ada@example.com",
        "emails are stored lower-case"
    );
    assert_eq!(updated["data"]["upsertUser"]["isActive"], false);
    let score = stored_score(app.db(), id.parse().expect("id")).await;
    assert!(
        !score.is_active,
        "{backend:?}: the stored score follows the user's flag"
    );

    // Another user may not take that email.
    new_user(&app, "grace@example.com").await;
    let before = counts(&app).await;
    let clash = json!({ "externalId": "cus_grace@example.com", "name": "Grace", "email": "ada@example.com" });
    let refused = app.graphql(UPSERT, json!({ "input": clash })).await;
    assert_eq!(
        error_code(&refused),
        "BAD_USER_INPUT",
        "{backend:?}: {refused}"
    );
    assert_eq!(counts(&app).await, before);
    let grace = users::Entity::find_by_id(id.parse::<i64>().expect("id") + 1)
        .one(app.db())
        .await
        .expect("q")
        .expect("grace");
    assert_eq!(grace.email, "grace@example.com", "nothing changed");

    for bad in [
        json!({ "name": "X", "email": "not-an-email" }),
        json!({ "name": " ", "email": "x@example.com" }),
    ] {
        assert_eq!(
            error_code(&app.graphql(UPSERT, json!({ "input": bad })).await),
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(counts(&app).await, before);
}

backend_tests!(subscriptions_are_validated_and_recorded);
async fn subscriptions_are_validated_and_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = new_user(&app, "sub@example.com").await;
    let input = |user: &str, status: &str, amount: Value| {
        json!({ "input": {
        "userId": user, "subscriptionType": "Premium", "status": status, "monthlyAmount": amount,
        "effectiveFrom": "2026-01-01T00:00:00Z" } })
    };

    let ok = app
        .graphql(SUBSCRIBE, input(&id, "active", json!(12.99)))
        .await;
    let s = &ok["data"]["recordSubscription"];
    assert_eq!(
        (
            s["subscriptionType"].as_str(),
            s["monthlyAmount"].as_f64(),
            s["currency"].as_str()
        ),
        (Some("premium"), Some(12.99), Some("EUR")),
        "{ok}"
    );

    let before = counts(&app).await;
    assert_eq!(
        error_code(
            &app.graphql(SUBSCRIBE, input("424242", "active", json!(9.99)))
                .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(
            &app.graphql(SUBSCRIBE, input(&id, "paused", json!(9.99)))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &app.graphql(SUBSCRIBE, input(&id, "active", json!(-1)))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &app.graphql(SUBSCRIBE, input(&id, "active", json!(9.999)))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        counts(&app).await,
        before,
        "{backend:?}: refused inputs change nothing"
    );

    // The stored score shows the current plan.
    let row = stored_score(app.db(), id.parse().expect("id")).await;
    assert_eq!(
        (row.subscription_type.as_deref(), row.monthly_amount_cents),
        (Some("premium"), Some(1299))
    );
}

backend_tests!(payments_rescore_the_user_and_bad_payments_change_nothing);
async fn payments_rescore_the_user_and_bad_payments_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = new_user(&app, "payer@example.com").await;
    let mut last = Value::Null;
    for (status, date) in [
        ("SUCCESS", "2026-08-01T10:00:00Z"),
        ("FAILED", "2026-09-01T10:00:00Z"),
        ("DECLINED", "2026-10-01T10:00:00Z"),
    ] {
        last = app
            .graphql(PAY, payment(&id, status, date, json!(9.99)))
            .await;
        assert!(last["errors"].is_null(), "{last}");
    }
    let r = &last["data"]["recordPayment"];
    assert_eq!(r["duplicate"], false);
    let stored = stored_score(app.db(), id.parse().expect("id")).await;
    assert_eq!(
        r["riskScore"].as_f64(),
        Some(stored.score),
        "{backend:?}: the returned score is the stored one"
    );
    assert_eq!(
        r["riskLevel"],
        json!(level_of(&stored).as_str().to_uppercase())
    );
    assert!(stored.score >= 0.4, "two of the last three failed");
    assert_eq!(stored.total_payments, 3);

    let before = counts(&app).await;
    let refusals = [
        (
            payment(&id, "FAILED", "2026-11-01T10:00:00Z", json!(-5)),
            "BAD_USER_INPUT",
        ),
        (
            payment(&id, "FAILED", "2026-11-01T10:00:00Z", json!(12.999)),
            "BAD_USER_INPUT",
        ),
        (
            payment(&id, "LOST", "2026-11-01T10:00:00Z", json!(5)),
            "BAD_USER_INPUT",
        ),
        (
            payment(&id, "FAILED", "first of november", json!(5)),
            "BAD_USER_INPUT",
        ),
        (
            payment("999999", "FAILED", "2026-11-01T10:00:00Z", json!(5)),
            "NOT_FOUND",
        ),
        (
            payment("abc", "FAILED", "2026-11-01T10:00:00Z", json!(5)),
            "BAD_USER_INPUT",
        ),
        (
            payment(&id, "FAILED", "2026-11-01T10:00:00Z", json!("5")),
            "BAD_USER_INPUT",
        ),
    ];
    for (vars, expected) in refusals {
        let response = app.graphql(PAY, vars.clone()).await;
        assert_eq!(
            error_code(&response),
            expected,
            "{backend:?}: {vars} → {response}"
        );
    }
    let mut foreign = payment(&id, "FAILED", "2026-11-01T10:00:00Z", json!(5));
    foreign["input"]["subscriptionId"] = json!("987654");
    assert_eq!(
        error_code(&app.graphql(PAY, foreign).await),
        "BAD_USER_INPUT",
        "a plan of nobody"
    );
    assert_eq!(
        counts(&app).await,
        before,
        "{backend:?}: refused payments change nothing"
    );
    let unchanged = stored_score(app.db(), id.parse().expect("id")).await;
    assert_eq!(unchanged, stored);
}

backend_tests!(a_payment_recorded_twice_by_external_id_is_recorded_once);
async fn a_payment_recorded_twice_by_external_id_is_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = new_user(&app, "twice@example.com").await;
    let mut vars = payment(&id, "FAILED", "2026-10-01T10:00:00Z", json!(4.5));
    vars["input"]["externalId"] = json!("pay_001");

    let first = app.graphql(PAY, vars.clone()).await;
    let before = counts(&app).await;
    let second = app.graphql(PAY, vars.clone()).await;
    assert_eq!(
        first["data"]["recordPayment"]["duplicate"], false,
        "{first}"
    );
    assert_eq!(
        second["data"]["recordPayment"]["duplicate"], true,
        "{backend:?}: {second}"
    );
    assert_eq!(
        second["data"]["recordPayment"]["payment"]["id"],
        first["data"]["recordPayment"]["payment"]["id"]
    );
    assert_eq!(counts(&app).await, before, "nothing new recorded");
    // Each leaves its audit entry, on the one payment; the second says it
    // was a duplicate.
    let payment_id = first["data"]["recordPayment"]["payment"]["id"]
        .as_str()
        .expect("id");
    let entries: Vec<(String, Option<String>, Option<String>, String)> = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("recordPayment"))
        .order_by_asc(audit_log::Column::Id)
        .all(app.db())
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.actor, e.object_type, e.object_id, e.outcome))
        .collect();
    let entry = |outcome: &str| {
        (
            "local".to_owned(),
            Some("payment".to_owned()),
            Some(payment_id.to_owned()),
            outcome.to_owned(),
        )
    };
    assert_eq!(entries, [entry("ok"), entry("duplicate")], "{backend:?}");

    // The same external id for another user is a client error.
    let other = new_user(&app, "other@example.com").await;
    let mut clash = payment(&other, "SUCCESS", "2026-10-01T10:00:00Z", json!(4.5));
    clash["input"]["externalId"] = json!("pay_001");
    assert_eq!(error_code(&app.graphql(PAY, clash).await), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_waiting_on_its_users_lock_holds_up_no_other_users_payment() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;
    if !crate::helpers::postgres_configured(
        "graphql_mutations::a_payment_waiting_on_its_users_lock_holds_up_no_other_users_payment",
    ) {
        return;
    }
    // Arrange: another session holds the first user's row, as a rescore or
    // another process's payment for that user would.
    let app = TestApp::spawn(Backend::Postgres).await;
    let busy = new_user(&app, "busy@example.com").await;
    let others = [
        new_user(&app, "free1@example.com").await,
        new_user(&app, "free2@example.com").await,
    ];
    let lock = app.db().begin().await.expect("begin");
    lock.execute_unprepared(&format!(
        "SELECT id FROM users WHERE id = {busy} FOR UPDATE"
    ))
    .await
    .expect("lock the user");

    // Act: a payment for the locked user, then, while it waits, one for
    // each of the others.
    let waiting = {
        let vars = payment(&busy, "FAILED", "2026-10-01T10:00:00Z", json!(5));
        let request = app
            .client
            .post(format!("{}/graphql", app.address))
            .json(&json!({ "query": PAY, "variables": vars }));
        tokio::spawn(async move { request.send().await?.json::<Value>().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let free = futures::future::join_all(others.iter().map(|user| {
        app.graphql(
            PAY,
            payment(user, "SUCCESS", "2026-10-01T11:00:00Z", json!(5)),
        )
    }));
    let free = tokio::time::timeout(Duration::from_secs(10), free)
        .await
        .expect("the other users' payments were held up behind the locked user's");

    // Assert: the others are recorded while the first still waits; it is
    // recorded once the lock is let go.
    for answer in &free {
        assert!(answer["errors"].is_null(), "{answer}");
        assert_eq!(answer["data"]["recordPayment"]["duplicate"], false);
    }
    assert!(
        !waiting.is_finished(),
        "the locked user's payment did not wait"
    );
    lock.rollback().await.expect("let go of the user");
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the locked user's payment was answered")
        .expect("the request's task")
        .expect("a JSON answer");
    assert!(answer["errors"].is_null(), "{answer}");
    assert!(
        answer["data"]["recordPayment"]["riskScore"].is_number(),
        "{answer}"
    );
    for user in std::iter::once(&busy).chain(&others) {
        let id: i64 = user.parse().expect("id");
        let stored = subscription_payments::Entity::find()
            .filter(subscription_payments::Column::UserId.eq(id))
            .count(app.db())
            .await
            .expect("payments");
        assert_eq!(stored, 1, "user {id}");
    }
}

backend_tests!(concurrent_payments_over_http_are_each_answered_and_all_counted);
async fn concurrent_payments_over_http_are_each_answered_and_all_counted(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for email in ["c1@example.com", "c2@example.com", "c3@example.com"] {
        ids.push(new_user(&app, email).await);
    }
    let statuses = ["SUCCESS", "FAILED", "DECLINED", "SUCCESS", "PENDING"];
    let mut requests = Vec::new();
    for i in 0..60 {
        let date = format!("2026-10-{:02}T10:00:00Z", 1 + i % 28);
        requests.push(payment(&ids[i % 3], statuses[i % 5], &date, json!(9.99)));
    }
    for _ in 0..5 {
        requests.push(payment(
            "999999",
            "FAILED",
            "2026-10-02T10:00:00Z",
            json!(1),
        ));
    }
    for _ in 0..3 {
        let mut vars = payment(&ids[0], "FAILED", "2026-10-03T10:00:00Z", json!(2));
        vars["input"]["externalId"] = json!("same-id");
        requests.push(vars);
    }

    // Act: all at once, each on its own HTTP request.
    let answers =
        futures::future::join_all(requests.iter().map(|vars| app.graphql(PAY, vars.clone()))).await;

    // Assert
    let (recorded, refused): (Vec<&Value>, Vec<&Value>) =
        answers.iter().partition(|a| a["errors"].is_null());
    assert_eq!(recorded.len(), 63, "{backend:?}: {refused:?}");
    assert!(
        refused.iter().all(|a| error_code(a) == "NOT_FOUND"),
        "{backend:?}: only the unknown user is refused: {refused:?}"
    );
    let same: Vec<&Value> = answers[65..]
        .iter()
        .map(|a| &a["data"]["recordPayment"])
        .collect();
    assert_eq!(
        same.iter().filter(|r| r["duplicate"] == false).count(),
        1,
        "{backend:?}: one external id, one payment: {same:?}"
    );
    assert!(
        same.iter()
            .all(|r| r["payment"]["id"] == same[0]["payment"]["id"])
    );
    let config = ScoringConfig::default();
    for (n, id) in ids.iter().enumerate() {
        let id: i64 = id.parse().expect("id");
        let row = stored_score(app.db(), id).await;
        let sent = 20 + if n == 0 { 1 } else { 0 };
        assert_eq!(
            row.total_payments, sent,
            "{backend:?}: user {id} counted every payment"
        );
        // At the instant the service scored it: the same instant on both
        // sides, whatever the clock did in between.
        let fresh = assess_stored(app.db(), &config, id, When::Now(row.computed_at))
            .await
            .expect("user");
        assert_eq!(
            row.score, fresh.score,
            "{backend:?}: user {id}'s stored score is exact"
        );
    }
    assert_eq!(
        counts(&app).await.2,
        61,
        "{backend:?}: 60 + one for the external id"
    );
}

const ALERT: &str = "mutation($id: ID!, $note: String, $key: String) { sendAlert(userId: $id, note: $note, idempotencyKey: $key) { deduplicated alert { id riskScore riskLevel note idempotencyKey createdAt } } }";

backend_tests!(alerts_are_recorded_with_the_score_deduplicated_by_key_and_shown_in_the_analysis);
async fn alerts_are_recorded_with_the_score_deduplicated_by_key_and_shown_in_the_analysis(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.seed(10).await;
    let stored = stored_score(app.db(), 1).await;

    let first = app
        .graphql(
            ALERT,
            json!({ "id": "1", "note": "called twice, no answer", "key": "ticket-9" }),
        )
        .await;
    let a = &first["data"]["sendAlert"];
    assert_eq!(a["deduplicated"], false, "{backend:?}: {first}");
    assert_eq!(a["alert"]["riskScore"].as_f64(), Some(stored.score));
    assert_eq!(
        a["alert"]["riskLevel"],
        json!(level_of(&stored).as_str().to_uppercase())
    );

    let again = app
        .graphql(ALERT, json!({ "id": "1", "key": "ticket-9" }))
        .await;
    assert_eq!(again["data"]["sendAlert"]["deduplicated"], true);
    assert_eq!(again["data"]["sendAlert"]["alert"]["id"], a["alert"]["id"]);
    assert_eq!(
        alerts::Entity::find().count(app.db()).await.expect("count"),
        1,
        "{backend:?}: one alert per key"
    );

    let analysis = app
        .graphql(
            "{ userRiskAnalysis(userId: \"1\") { alerts { id note } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        analysis["data"]["userRiskAnalysis"]["alerts"][0]["note"],
        "called twice, no answer"
    );

    assert_eq!(
        error_code(&app.graphql(ALERT, json!({ "id": "999999" })).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(
            &app.graphql(ALERT, json!({ "id": "2", "key": "ticket-9" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
}
