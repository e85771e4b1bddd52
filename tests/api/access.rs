//! Access (SPEC §9), tried as an attacker and as each role would: every
//! query, mutation and route with no credential, a bad one, and each role;
//! sessions; hosts and origins; the audit trail; the `keys` command.

use entity::{alerts, audit_log, users};
use reqwest::StatusCode;
use risk_monitor::config::AuthMode;
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::internals::{Permission, Role, access, tester};
use crate::helpers::{Backend, TestApp, TestDb, backend_tests, error_code};

/// One thing a client can do, and the permission it needs (`None`: open to
/// anyone; `Some(None)`: any signed-in caller).
/// Operations whose second run meets the state the first left (a case
/// already acknowledged, a channel name taken, a delivery queued).
const STATEFUL: [&str; 8] = [
    "createChannel",
    "acknowledgeAlert",
    "assignAlert",
    "resolveAlert",
    "dismissAlert",
    "redeliver",
    "alert",
    "commentAlert",
];

struct Operation {
    name: &'static str,
    needs: Option<Option<Permission>>,
    call: Call,
}

enum Call {
    Graphql(&'static str),
    Get(&'static str),
    Post(&'static str),
    /// A console form: path and urlencoded body.
    Form(&'static str, &'static str),
}

impl Call {
    /// A console page or form: without a caller, a browser is sent to sign
    /// in (303); a form that succeeds redirects too.
    fn is_console(&self) -> bool {
        match self {
            Call::Get(path) => {
                *path == "/graphiql"
                    || (path.starts_with("/console") && !path.starts_with("/console/login"))
            }
            Call::Form(..) => true,
            _ => false,
        }
    }
}

const PAYMENT: &str = r#"mutation { recordPayment(input: { userId: "1", amount: 9.99,
    status: FAILED, paymentDate: "2026-11-01T12:00:00Z", paymentMethod: "card" }) { duplicate } }"#;
const PLAN: &str = r#"mutation { recordSubscription(input: { userId: "1",
    subscriptionType: "basic", status: "active", monthlyAmount: 2.99,
    effectiveFrom: "2026-11-01T00:00:00Z" }) { id } }"#;

fn operations() -> Vec<Operation> {
    use Permission::*;
    let op = |name, needs, call| Operation { name, needs, call };
    vec![
        op(
            "riskyUsers",
            Some(Some(Read)),
            Call::Graphql("{ riskyUsers { totalCount } }"),
        ),
        op(
            "userRiskAnalysis",
            Some(Some(Read)),
            Call::Graphql(r#"{ userRiskAnalysis(userId: "1") { riskScore } }"#),
        ),
        op(
            "stats",
            Some(Some(Read)),
            Call::Graphql("{ stats { totalUsers } }"),
        ),
        op("digest", Some(Some(Read)), Call::Graphql("{ digest }")),
        op("me", Some(None), Call::Graphql("{ me { name role } }")),
        op(
            "auditLog",
            Some(Some(Admin)),
            Call::Graphql("{ auditLog { edges { node { id } } } }"),
        ),
        op(
            "upsertUser",
            Some(Some(Ingest)),
            Call::Graphql(
                r#"mutation { upsertUser(input: { name: "Eve", email: "eve@example.com" }) { id } }"#,
            ),
        ),
        op(
            "recordSubscription",
            Some(Some(Ingest)),
            Call::Graphql(PLAN),
        ),
        op("recordPayment", Some(Some(Ingest)), Call::Graphql(PAYMENT)),
        op(
            "sendAlert",
            Some(Some(Alert)),
            Call::Graphql(r#"mutation { sendAlert(userId: "1") { deduplicated } }"#),
        ),
        op(
            "alerts",
            Some(Some(Read)),
            Call::Graphql("{ alerts { totalCount } }"),
        ),
        op(
            "alert",
            Some(Some(Read)),
            Call::Graphql(r#"{ alert(id: "1") { id status } }"#),
        ),
        op(
            "deliveries",
            Some(Some(Read)),
            Call::Graphql("{ deliveries { id } }"),
        ),
        op(
            "channels",
            Some(Some(Admin)),
            Call::Graphql("{ channels { id } }"),
        ),
        op(
            "createChannel",
            Some(Some(Admin)),
            Call::Graphql(
                r#"mutation { createChannel(input: { name: "ops", kind: WEBHOOK, url: "http://127.0.0.1:9/hook", events: [ALERT_RAISED] }) { secret } }"#,
            ),
        ),
        op(
            "updateChannel",
            Some(Some(Admin)),
            Call::Graphql(
                r#"mutation { updateChannel(id: "1", input: { enabled: false }) { enabled } }"#,
            ),
        ),
        op(
            "testChannel",
            Some(Some(Admin)),
            Call::Graphql(r#"mutation { testChannel(id: "1") { id } }"#),
        ),
        op(
            "acknowledgeAlert",
            Some(Some(Alert)),
            Call::Graphql(r#"mutation { acknowledgeAlert(id: "1", version: 1) { status } }"#),
        ),
        op(
            "assignAlert",
            Some(Some(Alert)),
            Call::Graphql(
                r#"mutation { assignAlert(id: "1", assignee: "ana", version: 2) { status } }"#,
            ),
        ),
        op(
            "commentAlert",
            Some(Some(Alert)),
            Call::Graphql(r#"mutation { commentAlert(id: "1", text: "called") { status } }"#),
        ),
        op(
            "resolveAlert",
            Some(Some(Alert)),
            Call::Graphql(
                r#"mutation { resolveAlert(id: "1", resolution: CONTACTED, version: 3) { status } }"#,
            ),
        ),
        op(
            "dismissAlert",
            Some(Some(Alert)),
            Call::Graphql(r#"mutation { dismissAlert(id: "2", version: 1) { status } }"#),
        ),
        op(
            "redeliver",
            Some(Some(Alert)),
            Call::Graphql(r#"mutation { redeliver(deliveryId: "1") { id } }"#),
        ),
        op(
            "GET /api/risky-users",
            Some(Some(Read)),
            Call::Get("/api/risky-users"),
        ),
        op(
            "GET /api/user/1/risk-analysis",
            Some(Some(Read)),
            Call::Get("/api/user/1/risk-analysis"),
        ),
        op("GET /api/stats", Some(Some(Read)), Call::Get("/api/stats")),
        op(
            "GET /api/export/risky-users.csv",
            Some(Some(Read)),
            Call::Get("/api/export/risky-users.csv"),
        ),
        op(
            "GET /api/export/risky-users.json",
            Some(Some(Read)),
            Call::Get("/api/export/risky-users.json"),
        ),
        op(
            "POST /api/alert/1",
            Some(Some(Alert)),
            Call::Post("/api/alert/1"),
        ),
        op("GET /graphiql", Some(None), Call::Get("/graphiql")),
        op("GET /", None, Call::Get("/")),
        op(
            "GET /api/openapi.json",
            None,
            Call::Get("/api/openapi.json"),
        ),
        op("GET /health/live", None, Call::Get("/health/live")),
        op("GET /health/ready", None, Call::Get("/health/ready")),
        op("GET /console/login", None, Call::Get("/console/login")),
        op("GET /console", Some(Some(Read)), Call::Get("/console")),
        op(
            "GET /console/risky-users",
            Some(Some(Read)),
            Call::Get("/console/risky-users?level=high"),
        ),
        op(
            "GET /console/users/1",
            Some(Some(Read)),
            Call::Get("/console/users/1"),
        ),
        op(
            "GET /console/cases",
            Some(Some(Read)),
            Call::Get("/console/cases"),
        ),
        op(
            "POST /console/users/1/alert",
            Some(Some(Alert)),
            Call::Form("/console/users/1/alert", "note=walk&idempotency_key=walk-1"),
        ),
        op(
            "POST /console/cases/1",
            Some(Some(Alert)),
            Call::Form("/console/cases/1", "action=note&note=walked"),
        ),
    ]
}

/// Sends `call` with `key` as the bearer credential (none when `None`).
async fn send(app: &TestApp, call: &Call, key: Option<&str>) -> (StatusCode, Value) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let request = match call {
        Call::Graphql(query) => client
            .post(format!("{}/graphql", app.address))
            .json(&json!({ "query": query })),
        Call::Get(path) => client.get(format!("{}{path}", app.address)),
        Call::Post(path) => client.post(format!("{}{path}", app.address)),
        Call::Form(path, body) => client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(*body),
    };
    let request = match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    let response = request
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// What a refusal looks like on either front end: its code.
fn refusal_code(call: &Call, body: &Value) -> String {
    match call {
        Call::Graphql(_) => error_code(body).to_owned(),
        _ => body["detail"]
            .as_str()
            .map(|_| "detail")
            .unwrap_or("")
            .to_owned(),
    }
}

async fn counts(app: &TestApp) -> (u64, u64, u64) {
    let db = app.db();
    (
        users::Entity::find().count(db).await.expect("users"),
        alerts::Entity::find().count(db).await.expect("alerts"),
        entity::subscription_payments::Entity::find()
            .count(db)
            .await
            .expect("payments"),
    )
}

async fn required_app(backend: Backend) -> TestApp {
    let app = TestApp::spawn_configured(backend, |s| s.access.auth = AuthMode::Required).await;
    app.seed(5).await;
    app
}

async fn key(app: &TestApp, name: &str, role: Role) -> String {
    access::create_key(app.db(), name, role, &tester(), chrono::Utc::now())
        .await
        .expect("create a key")
        .secret
}

backend_tests!(every_operation_answers_each_role_as_spec_9_says);
async fn every_operation_answers_each_role_as_spec_9_says(backend: Backend) {
    let app = required_app(backend).await;
    let mut keys = vec![(None, "no credential".to_owned(), None)];
    for (name, role) in [
        ("viewer", Role::Viewer),
        ("agent", Role::Agent),
        ("ingest", Role::Ingest),
        ("admin", Role::Admin),
    ] {
        keys.push((
            Some(key(&app, name, role).await),
            name.to_owned(),
            Some(role),
        ));
    }
    let forged = format!("rm_{}", "0".repeat(64));
    keys.push((Some(forged), "a forged key".to_owned(), None));

    for operation in operations() {
        for (secret, who, role) in &keys {
            let before = counts(&app).await;
            let (status, body) = send(&app, &operation.call, secret.as_deref()).await;
            let context = format!("{backend:?}: {} as {who}: {status} {body}", operation.name);
            let bad_credential = secret.is_some() && role.is_none();
            match (&operation.needs, role) {
                (None, _) if !bad_credential => {
                    assert_eq!(status, StatusCode::OK, "{context}");
                }
                (_, None) if !bad_credential && operation.call.is_console() => {
                    assert_eq!(
                        status,
                        StatusCode::SEE_OTHER,
                        "{context}: a page sends to sign in"
                    );
                }
                (_, None) => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{context}");
                    if let Call::Graphql(_) = operation.call {
                        assert_eq!(
                            refusal_code(&operation.call, &body),
                            "UNAUTHENTICATED",
                            "{context}"
                        );
                    }
                }
                (Some(Some(permission)), Some(role)) if !permission.granted_to(*role) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{context}");
                    if let Call::Graphql(_) = operation.call {
                        assert_eq!(
                            refusal_code(&operation.call, &body),
                            "FORBIDDEN",
                            "{context}"
                        );
                    }
                    assert_eq!(counts(&app).await, before, "{context}: nothing was written");
                }
                _ if matches!(operation.call, Call::Form(..)) => {
                    assert_eq!(status, StatusCode::SEE_OTHER, "{context}: done, then back");
                }
                _ => {
                    assert_eq!(status, StatusCode::OK, "{context}");
                    // A transition repeated by the next allowed role meets
                    // the state the first one left: refused for that, not
                    // for the role.
                    let state_refusal = STATEFUL.contains(&operation.name)
                        && ["CONFLICT", "BAD_USER_INPUT", "NOT_FOUND"].contains(&error_code(&body));
                    assert!(body.get("errors").is_none() || state_refusal, "{context}");
                }
            }
        }
    }

    // The catalogue covers every root field of the schema.
    let admin = keys[4].0.clone();
    let (_, schema) = send(
        &app,
        &Call::Graphql(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
        ),
        admin.as_deref(),
    )
    .await;
    let mut roots: Vec<String> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|t| {
            schema["data"]["__schema"][t]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    roots.sort();
    let mut covered: Vec<String> = operations()
        .iter()
        .filter(|o| matches!(o.call, Call::Graphql(_)))
        .map(|o| o.name.to_owned())
        .collect();
    covered.sort();
    assert_eq!(covered, roots, "{backend:?}: every root field is walked");
}

backend_tests!(mutations_and_refusals_leave_an_audit_entry_that_admins_read);
async fn mutations_and_refusals_leave_an_audit_entry_that_admins_read(backend: Backend) {
    let app = required_app(backend).await;
    let agent = key(&app, "ann", Role::Agent).await;
    let viewer = key(&app, "victor", Role::Viewer).await;
    let admin = key(&app, "root", Role::Admin).await;

    let alert =
        Call::Graphql(r#"mutation { sendAlert(userId: "1", note: "call") { alert { id } } }"#);
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&agent)
        .header("x-request-id", "req-audit-1")
        .json(&json!({ "query": r#"mutation { sendAlert(userId: "1") { alert { id } } }"# }))
        .send()
        .await
        .expect("sendAlert");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = send(&app, &alert, Some(&viewer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, missing) = send(
        &app,
        // Aliased: the entry names the field, not the alias.
        &Call::Graphql(r#"mutation { missing: sendAlert(userId: "999999") { deduplicated } }"#),
        Some(&agent),
    )
    .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");

    let entries = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Id)
        .all(app.db())
        .await
        .expect("audit");
    let alerts: Vec<&audit_log::Model> =
        entries.iter().filter(|e| e.action == "sendAlert").collect();
    assert_eq!(alerts.len(), 3, "{backend:?}: {entries:#?}");
    assert_eq!(alerts[0].actor, "key:ann");
    assert_eq!(alerts[0].outcome, "ok");
    assert_eq!(alerts[0].object_type.as_deref(), Some("user"));
    assert_eq!(alerts[0].object_id.as_deref(), Some("1"));
    assert_eq!(alerts[0].request_id.as_deref(), Some("req-audit-1"));
    assert_eq!(
        (alerts[1].actor.as_str(), alerts[1].outcome.as_str()),
        ("key:victor", "FORBIDDEN")
    );
    assert_eq!(alerts[2].outcome, "NOT_FOUND");
    assert!(
        entries
            .iter()
            .any(|e| e.action == "key.create" && e.object_id.as_deref() == Some("root")),
        "{backend:?}: key changes are audited"
    );

    // Admins read it, newest first, filtered.
    let (status, page) = send(
        &app,
        &Call::Graphql(r#"{ auditLog(actor: "key:ann", first: 10) { edges { node { action outcome requestId } } } }"#),
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let nodes: Vec<&Value> = page["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(nodes.len(), 2, "{backend:?}: {page}");
    assert_eq!(nodes[0]["outcome"], "NOT_FOUND", "newest first");
    assert_eq!(nodes[1]["requestId"], "req-audit-1");
}

backend_tests!(a_person_signs_in_with_a_key_and_the_session_can_end);
async fn a_person_signs_in_with_a_key_and_the_session_can_end(backend: Backend) {
    let app = required_app(backend).await;
    let secret = key(&app, "sam", Role::Viewer).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let refused = client
        .post(format!("{}/console/login", app.address))
        .form(&[("key", "rm_nope"), ("next", "/graphiql")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{backend:?}");

    let signed_in = client
        .post(format!("{}/console/login", app.address))
        .form(&[("key", secret.as_str()), ("next", "/graphiql")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{backend:?}");
    assert_eq!(signed_in.headers()["location"], "/graphiql");
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    for attribute in ["rm_session=rs_", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{backend:?}: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();

    let me = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/graphql", app.address);
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .json(&json!({ "query": "{ me { name role } stats { totalUsers } }" }))
                .send()
                .await
                .expect("graphql")
        }
    };
    let response = me(cookie.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["me"],
        json!({ "name": "sam", "role": "viewer" }),
        "{backend:?}"
    );

    // A cookie-carried GraphQL POST that is not JSON is refused: a foreign
    // page could send text/plain.
    let plain = client
        .post(format!("{}/graphql", app.address))
        .header("cookie", cookie.clone())
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ me { name } }"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The explorer opens for the session; without one it sends to sign in.
    let explorer = client
        .get(format!("{}/graphiql", app.address))
        .header("cookie", cookie.clone())
        .send()
        .await
        .expect("explorer");
    assert_eq!(explorer.status(), StatusCode::OK);
    let anonymous = client
        .get(format!("{}/graphiql", app.address))
        .send()
        .await
        .expect("explorer");
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/console/login?next=")
    );

    let out = client
        .post(format!("{}/console/logout", app.address))
        .header("cookie", cookie.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me(cookie).await.status(),
        StatusCode::UNAUTHORIZED,
        "{backend:?}: signed out"
    );

    // Revoking the key ends its sessions.
    let again = client
        .post(format!("{}/console/login", app.address))
        .form(&[("key", secret.as_str())])
        .send()
        .await
        .expect("sign in");
    let cookie = again.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    assert_eq!(me(cookie.clone()).await.status(), StatusCode::OK);
    access::revoke_key(app.db(), "sam", &tester(), chrono::Utc::now())
        .await
        .expect("revoke");
    assert_eq!(
        me(cookie).await.status(),
        StatusCode::UNAUTHORIZED,
        "{backend:?}: revoked"
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.seed(3).await;
    let count = || async { users::Entity::find().count(app.db()).await.expect("count") };
    let before = count().await;

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    let rebound = app
        .client
        .get(format!("{}/api/risky-users", app.address))
        .header("host", "evil.example")
        .send()
        .await
        .expect("get");
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);

    // A foreign page posting a mutation, as JSON or as text/plain.
    let mutation = json!({ "query": r#"mutation { upsertUser(input: { name: "X", email: "x@example.com" }) { id } }"# });
    let foreign = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example")
        .json(&mutation)
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let plain = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "text/plain")
        .body(mutation.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let legacy = app
        .client
        .post(format!("{}/api/alert/1", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(legacy.status(), StatusCode::FORBIDDEN);
    assert_eq!(count().await, before, "nothing was written");

    // The service's own pages may post.
    let own = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", app.address.as_str())
        .json(&json!({ "query": "{ me { name } }" }))
        .send()
        .await
        .expect("post");
    assert_eq!(own.status(), StatusCode::OK);
    let body: Value = own.json().await.expect("json");
    assert_eq!(
        body["data"]["me"]["name"], "local",
        "AUTH=off acts as local"
    );
}

#[tokio::test]
async fn listed_networks_use_the_legacy_routes_without_credentials_and_nothing_else() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.access.auth = AuthMode::Required;
        s.access.legacy_anonymous_networks = vec!["127.0.0.0/8".parse().expect("network")];
    })
    .await;
    app.seed(3).await;
    assert_eq!(app.get("/api/risky-users").await.status(), StatusCode::OK);
    let alert = app.post("/api/alert/1").await;
    assert_eq!(alert.status(), StatusCode::OK);
    let (status, _) = send(&app, &Call::Graphql("{ stats { totalUsers } }"), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "GraphQL is not a legacy route"
    );
    let entry = audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .one(app.db())
        .await
        .expect("audit")
        .expect("an entry");
    assert_eq!(entry.actor, "network:127.0.0.0/8");
    assert_eq!(entry.action, "sendAlert");
}

backend_tests!(the_keys_command_creates_lists_and_revokes_keys);
async fn the_keys_command_creates_lists_and_revokes_keys(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let created = test_db
        .cli(&["keys", "create", "--name", "ops-bot", "--role", "ingest"])
        .output()
        .expect("run");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8_lossy(&created.stdout).to_string();
    let secret = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on its line: {stdout}"
    );
    assert!(secret.starts_with("rm_") && secret.len() == 67, "{secret}");

    let actor = access::key_actor(&test_db.db, secret)
        .await
        .expect("lookup")
        .expect("live");
    assert_eq!((actor.name.as_str(), actor.role), ("ops-bot", Role::Ingest));

    let listed = test_db.cli(&["keys", "list"]).output().expect("run");
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listing.contains("ops-bot") && listing.contains("ingest"),
        "{listing}"
    );
    assert!(!listing.contains(secret), "the key is never shown again");

    let twice = test_db
        .cli(&["keys", "create", "--name", "ops-bot", "--role", "viewer"])
        .output()
        .expect("run");
    assert!(!twice.status.success(), "a name is unique");
    let bad_role = test_db
        .cli(&["keys", "create", "--name", "x", "--role", "root"])
        .output()
        .expect("run");
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("viewer"));

    let revoked = test_db
        .cli(&["keys", "revoke", "ops-bot"])
        .output()
        .expect("run");
    assert!(revoked.status.success());
    assert!(
        access::key_actor(&test_db.db, secret)
            .await
            .expect("lookup")
            .is_none()
    );
    let missing = test_db
        .cli(&["keys", "revoke", "nobody"])
        .output()
        .expect("run");
    assert!(!missing.status.success());
}

#[tokio::test]
async fn off_loopback_without_keys_the_service_refuses_to_start() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let output = test_db
        .cli(&["serve"])
        .env("API_HOST", "0.0.0.0")
        .env("API_PORT", "0")
        .env("DEMO_DATA", "false")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("keys create --name admin --role admin"),
        "{stderr}"
    );
    let forced = test_db
        .cli(&["serve"])
        .env("API_HOST", "0.0.0.0")
        .env("AUTH", "off")
        .output()
        .expect("run");
    assert_eq!(
        forced.status.code(),
        Some(2),
        "AUTH=off off loopback is a configuration error"
    );
}

#[tokio::test]
async fn cors_is_closed_unless_an_origin_is_listed() {
    let listed = "https://console.example.com";
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.access.cors_origins = vec![listed.to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let allowed = preflight(listed).await.expect("preflight");
    assert_eq!(allowed.headers()["access-control-allow-origin"], listed);
    let foreign = preflight("https://evil.example").await.expect("preflight");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A listed origin's page may post; its answer is readable.
    let post = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", listed)
        .json(&json!({ "query": "{ me { name } }" }))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), StatusCode::OK);
    assert_eq!(post.headers()["access-control-allow-origin"], listed);

    let closed = TestApp::spawn(Backend::Sqlite).await;
    let response = closed
        .client
        .get(format!("{}/api/stats", closed.address))
        .header("origin", listed)
        .send()
        .await
        .expect("get");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "closed by default"
    );
}
