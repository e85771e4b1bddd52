//! The support console over real HTTP (SPEC §11), as a browser would use it:
//! signing in, each page's figures against the API's, the risky list's
//! filters and keyset pages, the forms' protections (role, CSRF token,
//! origin, idempotency, case versions), error pages, and the assets.
//! The headless-browser walk is in `console_browser.rs`.

use entity::{alerts, audit_log};
use reqwest::StatusCode;
use risk_monitor::config::AuthMode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::internals::{Role, access, tester};
use crate::helpers::{Backend, TestApp, backend_tests};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A browser: no redirects followed, its session cookie sent by hand.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            app,
            client,
            cookie: None,
        }
    }

    /// Signs in through the form with `key`; the session cookie is kept.
    async fn sign_in(app: &'a TestApp, key: &str) -> Self {
        let mut browser = Self::new(app);
        let response = browser
            .client
            .post(format!("{}/console/login", app.address))
            .form(&[("key", key), ("next", "/console")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("name=value")
            .to_owned();
        browser.cookie = Some(cookie);
        browser
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.app.address))
            .header("accept", HTML);
        match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("get");
        (response.status(), response.text().await.expect("text"))
    }

    /// Posts a form as a page of the service would (same-origin `Origin`).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .header("origin", &self.app.address)
            .form(form)
            .send()
            .await
            .expect("post")
    }
}

/// Every value of attribute `name` in `html`, in document order.
fn attributes(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// The value of `name`'s attribute on the element whose `key` attribute is
/// `value` (`data-figure="total-users" data-value="300"`).
fn attribute_beside(html: &str, key: &str, value: &str, name: &str) -> Option<String> {
    let start = html.find(&format!(" {key}=\"{value}\""))?;
    let tag_end = start + html[start..].find('>')?;
    attributes(&html[start..tag_end], name).into_iter().next()
}

/// The page's CSRF token (its forms' `_csrf` field).
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .expect("a form with a token")
        + 20;
    html[at..at + html[at..].find('"').expect("end")].to_owned()
}

async fn required_app(backend: Backend) -> TestApp {
    let app = TestApp::spawn_configured(backend, |s| s.access.auth = AuthMode::Required).await;
    app.seed(60).await;
    app
}

async fn key(app: &TestApp, name: &str, role: Role) -> String {
    access::create_key(app.db(), name, role, &tester(), chrono::Utc::now())
        .await
        .expect("create a key")
        .secret
}

async fn alert_count(app: &TestApp) -> u64 {
    alerts::Entity::find().count(app.db()).await.expect("count")
}

backend_tests!(pages_need_a_session_and_show_only_the_actions_a_role_allows);
async fn pages_need_a_session_and_show_only_the_actions_a_role_allows(backend: Backend) {
    let app = required_app(backend).await;
    let anonymous = Browser::new(&app);
    let response = anonymous
        .request(reqwest::Method::GET, "/console/risky-users?level=high")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/console/login?next=/console/risky-users%3Flevel%3Dhigh",
        "sent to sign in, then back"
    );
    let (status, _) = anonymous.get("/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a browser at / goes to the console"
    );

    let viewer = Browser::sign_in(&app, &key(&app, "vera", Role::Viewer).await).await;
    let agent = Browser::sign_in(&app, &key(&app, "ann", Role::Agent).await).await;
    for path in [
        "/console",
        "/console/risky-users",
        "/console/users/1",
        "/console/cases",
    ] {
        let response = viewer
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_owned();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe"),
            "{path}: {policy}"
        );
        // Under `no-referrer` a browser posts our own forms with
        // `Origin: null`, which the gate refuses as foreign.
        assert_eq!(
            response.headers()["referrer-policy"],
            "same-origin",
            "{path}"
        );
        let html = response.text().await.expect("html");
        assert!(
            html.contains("vera · viewer"),
            "{path} says who is signed in"
        );
        assert!(
            !html.contains("data-action="),
            "{path}: a viewer is offered no action"
        );
        assert!(
            html.contains("action=\"/console/logout\""),
            "{path}: sign-out"
        );
    }
    // The agent is offered Send alert, and actions on the case it raises.
    let (_, page) = agent.get("/console/users/1").await;
    assert!(page.contains("data-action=\"send-alert\""));
    let token = csrf(&page);
    let key = "twice";
    let sent = agent
        .post(
            "/console/users/1/alert",
            &[
                ("_csrf", &token),
                ("note", "called"),
                ("idempotency_key", key),
            ],
        )
        .await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let (_, cases) = agent.get("/console/cases").await;
    for action in ["assign-me", "acknowledge", "note", "close"] {
        assert!(
            cases.contains(&format!("data-action=\"{action}\"")),
            "{action}"
        );
    }
    let (_, cases) = viewer.get("/console/cases").await;
    assert_eq!(attributes(&cases, "data-case-id"), ["1"]);
    assert!(!cases.contains("data-action="));

    // A role that cannot read gets a page that says so.
    let ingest = Browser::sign_in(&app, &self::key(&app, "loader", Role::Ingest).await).await;
    let (status, html) = ingest.get("/console").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("<h1>Not allowed</h1>"), "{html}");

    // Sign-out ends the session: the cookie no longer opens a page.
    let out = viewer.post("/console/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (status, _) = viewer.get("/console").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out: back to sign-in");
}

backend_tests!(forms_are_refused_without_the_session_token_role_or_origin);
async fn forms_are_refused_without_the_session_token_role_or_origin(backend: Backend) {
    let app = required_app(backend).await;
    let agent = Browser::sign_in(&app, &key(&app, "ann", Role::Agent).await).await;
    let viewer = Browser::sign_in(&app, &key(&app, "vera", Role::Viewer).await).await;
    let (_, page) = agent.get("/console/users/2").await;
    let token = csrf(&page);

    let before = alert_count(&app).await;
    for (who, browser, form) in [
        ("no token", &agent, vec![("idempotency_key", "a")]),
        (
            "a wrong token",
            &agent,
            vec![
                ("_csrf", "0".repeat(64).leak() as &str),
                ("idempotency_key", "b"),
            ],
        ),
        (
            "another session's token",
            &viewer,
            vec![("_csrf", token.as_str()), ("idempotency_key", "c")],
        ),
    ] {
        let response = browser.post("/console/users/2/alert", &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
        let html = response.text().await.expect("html");
        assert!(
            html.contains("<h1>Not allowed</h1>"),
            "{who}: a page: {html}"
        );
    }
    // A page of another site: refused at the gate, whatever the form holds.
    let foreign = agent
        .request(reqwest::Method::POST, "/console/users/2/alert")
        .header("origin", "https://evil.example")
        .form(&[("_csrf", token.as_str()), ("idempotency_key", "d")])
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(alert_count(&app).await, before, "nothing was raised");

    // The genuine form, submitted twice (a double click): one alert.
    for _ in 0..2 {
        let response = agent
            .post(
                "/console/users/2/alert",
                &[
                    ("_csrf", &token),
                    ("note", "twice"),
                    ("idempotency_key", "dbl"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/console/users/2?alert=1");
    }
    assert_eq!(alert_count(&app).await, before + 1);
    let (_, page) = agent.get("/console/users/2?alert=1").await;
    assert!(
        page.contains("data-alert-raised=\"1\""),
        "confirmed on the page"
    );
    assert!(page.contains("“twice”"), "the note is on the case");
}

backend_tests!(a_case_is_worked_from_the_page_and_a_stale_form_is_a_conflict);
async fn a_case_is_worked_from_the_page_and_a_stale_form_is_a_conflict(backend: Backend) {
    let app = required_app(backend).await;
    let ann = Browser::sign_in(&app, &key(&app, "ann", Role::Agent).await).await;
    let bob = Browser::sign_in(&app, &key(&app, "bob", Role::Agent).await).await;
    let (_, page) = ann.get("/console/users/3").await;
    let token = csrf(&page);
    ann.post(
        "/console/users/3/alert",
        &[("_csrf", &token), ("idempotency_key", "k")],
    )
    .await;
    let (_, queue) = bob.get("/console/cases").await;
    let bob_token = csrf(&queue);
    let act = |browser: &'static str, action: &'static str, version: &'static str| {
        let (who, token) = match browser {
            "ann" => (&ann, token.clone()),
            _ => (&bob, bob_token.clone()),
        };
        async move {
            who.post(
                "/console/cases/1",
                &[
                    ("_csrf", token.as_str()),
                    ("version", version),
                    ("back", "/console/cases"),
                    ("action", action),
                    ("note", "paid by phone"),
                    ("resolution", "payment_recovered"),
                ],
            )
            .await
        }
    };
    let done = act("ann", "acknowledge", "1").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/console/cases#case-1");
    // Bob decided on version 1 too: refused, readably, nothing changed.
    let stale = act("bob", "assign-me", "1").await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.expect("html");
    assert!(
        html.contains("Someone else changed this first") && html.contains("ACKNOWLEDGED"),
        "{html}"
    );
    assert_eq!(
        act("ann", "assign-me", "2").await.status(),
        StatusCode::SEE_OTHER
    );
    // A note bumps no version; the resolve button's value wins over the form's default.
    let note = ann
        .post(
            "/console/cases/1",
            &[
                ("_csrf", token.as_str()),
                ("back", "/console/users/3"),
                ("action", "note"),
                ("note", "left a voicemail"),
            ],
        )
        .await;
    assert_eq!(note.headers()["location"], "/console/users/3#case-1");
    let resolve = ann
        .post(
            "/console/cases/1",
            &[
                ("_csrf", token.as_str()),
                ("version", "3"),
                ("back", "//evil.example/"),
                ("action", "resolve"),
                ("note", "paid by phone"),
                ("resolution", "payment_recovered"),
                ("action", "resolve"),
            ],
        )
        .await;
    assert_eq!(resolve.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resolve.headers()["location"],
        "/console#case-1",
        "back only to a page of this service"
    );
    let case = alerts::Entity::find_by_id(1)
        .one(app.db())
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.assignee.as_deref(), Some("ann"));
    assert_eq!(
        case.resolution,
        Some(entity::sea_orm_active_enums::Resolution::PaymentRecovered)
    );
    let (_, page) = bob.get("/console/cases?view=resolved").await;
    assert!(page.contains("left a voicemail") && page.contains("paid by phone"));
    assert!(page.contains("payment recovered"));
    let audited = audit_log::Entity::find()
        .filter(audit_log::Column::Action.is_in([
            "acknowledgeAlert",
            "assignAlert",
            "resolveAlert",
        ]))
        .filter(audit_log::Column::Actor.eq("session:ann"))
        .count(app.db())
        .await
        .expect("audit");
    assert_eq!(audited, 3, "each transition is audited as the person");
    // An unknown action or case is a readable refusal.
    let odd = ann
        .post(
            "/console/cases/1",
            &[
                ("_csrf", token.as_str()),
                ("version", "4"),
                ("action", "explode"),
            ],
        )
        .await;
    assert_eq!(odd.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = ann
        .post(
            "/console/cases/999",
            &[
                ("_csrf", token.as_str()),
                ("version", "1"),
                ("action", "acknowledge"),
            ],
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

backend_tests!(the_risky_list_filters_in_the_url_and_pages_to_the_end);
async fn the_risky_list_filters_in_the_url_and_pages_to_the_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(120).await;
    let browser = Browser::new(&app);
    // Every page of 20, following the page's own "next" link.
    let mut seen = Vec::new();
    let mut path = "/console/risky-users?min_score=0.1&page_size=20".to_owned();
    let mut total = None;
    loop {
        let (status, html) = browser.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        total.get_or_insert(attributes(&html, "data-total")[0].clone());
        seen.extend(attributes(&html, "data-user-id"));
        match html.find("rel=\"next\" href=\"") {
            Some(at) => {
                let rest = &html[at + 17..];
                path = rest[..rest.find('"').expect("end")].replace("&amp;", "&");
                assert!(path.contains("min_score=0.1") && path.contains("page_size=20"));
            }
            None => {
                assert!(html.contains("data-end=\"true\""), "the end is said");
                break;
            }
        }
    }
    let api = app
        .graphql(
            "{ riskyUsers(minScore: 0.1, first: 100) { totalCount edges { node { user { id } } } } }",
            json!({}),
        )
        .await;
    let mut expected: Vec<String> = api["data"]["riskyUsers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["user"]["id"].as_str().expect("id").to_owned())
        .collect();
    let api_total = api["data"]["riskyUsers"]["totalCount"]
        .as_i64()
        .expect("total");
    if api_total > 100 {
        expected.truncate(100);
        seen.truncate(100);
    }
    assert!(seen.len() > 40, "several pages: {}", seen.len());
    assert_eq!(seen, expected, "no gap, no repeat, the API's order");
    assert_eq!(total, Some(api_total.to_string()));

    // Filters: level and pattern narrow the rows; blank fields filter nothing.
    let (_, html) = browser
        .get("/console/risky-users?level=critical&pattern=&plan=&q=&min_score=")
        .await;
    let critical = attributes(&html, "data-user-id");
    assert!(!critical.is_empty());
    assert!(
        attributes(&html, "class")
            .iter()
            .filter(|c| c.starts_with("level level-"))
            .all(|c| c == "level level-critical")
    );
    assert!(
        html.contains("<option value=\"critical\" selected>"),
        "the form keeps the filter"
    );
    assert!(
        html.contains("href=\"/api/export/risky-users.csv?level=critical\""),
        "the export takes the filters, not the page"
    );
    let name = app
        .graphql(
            &format!(
                "{{ userRiskAnalysis(userId: \"{}\") {{ user {{ name }} }} }}",
                critical[0]
            ),
            json!({}),
        )
        .await["data"]["userRiskAnalysis"]["user"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let (_, html) = browser
        .get(&format!(
            "/console/risky-users?min_score=0&q={}",
            name.replace(' ', "+")
        ))
        .await;
    assert!(attributes(&html, "data-user-id").contains(&critical[0]));

    // Bad filters: a readable page naming the field, not JSON.
    for (query, field) in [
        ("level=severe", "level"),
        ("min_score=2", "min_score"),
        ("page_size=7", "page_size"),
        ("after=nonsense", "after"),
    ] {
        let (status, html) = browser.get(&format!("/console/risky-users?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            html.contains("<h1>That request is not valid</h1>"),
            "{query}: {html}"
        );
        assert!(
            html.to_lowercase().contains(field)
                || html.contains("Choose")
                || html.contains("position"),
            "{query}"
        );
    }
}

backend_tests!(the_overview_and_a_user_show_what_the_api_answers);
async fn the_overview_and_a_user_show_what_the_api_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(80).await;
    app.graphql(
        r#"mutation { sendAlert(userId: "4") { alert { id } } }"#,
        json!({}),
    )
    .await;
    let browser = Browser::new(&app);
    let (status, html) = browser.get("/console").await;
    assert_eq!(status, StatusCode::OK);
    let stats = app
        .graphql(
            "{ stats { totalUsers activeUsers highRiskUsers overallFailureRate avgRiskScore \
             levels { level count } histogram { count } highRiskByPlan { subscriptionType count } \
             openCases { level count } } }",
            json!({}),
        )
        .await["data"]["stats"]
        .clone();
    let figure = |key: &str| attribute_beside(&html, "data-figure", key, "data-value");
    assert_eq!(figure("total-users"), Some(stats["totalUsers"].to_string()));
    assert_eq!(
        figure("active-users"),
        Some(stats["activeUsers"].to_string())
    );
    assert_eq!(
        figure("high-risk-users"),
        Some(stats["highRiskUsers"].to_string())
    );
    let close = |shown: Option<String>, api: &Value| {
        let shown: f64 = shown.expect("shown").parse().expect("number");
        (shown - api.as_f64().expect("number")).abs() < 1e-12
    };
    assert!(close(figure("failure-rate"), &stats["overallFailureRate"]));
    assert!(close(figure("avg-score"), &stats["avgRiskScore"]));
    for level in stats["levels"].as_array().expect("levels") {
        let name = level["level"].as_str().expect("level").to_lowercase();
        assert_eq!(
            attribute_beside(&html, "data-level-count", &name, "data-value"),
            Some(level["count"].to_string())
        );
    }
    let buckets: Vec<String> = stats["histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|b| b["count"].to_string())
        .collect();
    let shown: Vec<String> = (0..10)
        .map(|i| {
            attribute_beside(&html, "data-bucket", &i.to_string(), "data-value").expect("bucket")
        })
        .collect();
    assert_eq!(shown, buckets);
    for plan in stats["highRiskByPlan"].as_array().expect("plans") {
        let name = plan["subscriptionType"].as_str().unwrap_or_default();
        assert_eq!(
            attribute_beside(&html, "data-plan", name, "data-value"),
            Some(plan["count"].to_string())
        );
    }
    let open: u64 = stats["openCases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(open, 1, "the case raised above is counted");
    assert!(
        html.contains("data-stats-age="),
        "the statistics' age is shown"
    );

    // One user: the contributions add up to the score GraphQL answers.
    let (status, html) = browser.get("/console/users/4").await;
    assert_eq!(status, StatusCode::OK);
    let analysis = app
        .graphql(
            r#"{ userRiskAnalysis(userId: "4") { riskScore } }"#,
            json!({}),
        )
        .await;
    let score = analysis["data"]["userRiskAnalysis"]["riskScore"]
        .as_f64()
        .expect("score");
    let shown: f64 = attributes(&html, "data-score")[0].parse().expect("score");
    assert_eq!(shown, score);
    let sum: f64 = attributes(&html, "data-contribution")
        .iter()
        .map(|c| c.parse::<f64>().expect("contribution"))
        .sum();
    assert!((sum - score).abs() < 1e-9, "{sum} vs {score}");
    assert_eq!(attributes(&html, "data-case-id"), ["1"], "the user's case");
    assert!(html.contains("id=\"payments-timeline\""));

    // As of a past day: only what was recorded by then; the future is refused.
    let (status, html) = browser.get("/console/users/4?as_of=2000-01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The score as of"));
    assert!(html.contains("No payment recorded."));
    let (status, html) = browser.get("/console/users/4?as_of=2999-01-01").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("the future has no score yet"));

    // Unknown users are a readable page.
    for path in ["/console/users/999999", "/console/users/abc"] {
        let (status, html) = browser.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("<h1>Not found</h1>") && html.contains("There is no user"));
    }
}

#[tokio::test]
async fn assets_ship_in_the_binary_versioned_and_compressed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let (_, html) = browser.get("/console").await;
    let styles = attributes(&html, "href")
        .into_iter()
        .find(|h| h.starts_with("/console/assets/console.css?v="))
        .expect("the style sheet, versioned");
    let script = attributes(&html, "src")
        .into_iter()
        .find(|h| h.starts_with("/console/assets/console.js?v="))
        .expect("the script, versioned");
    for path in [&styles, &script] {
        let plain = app.get(path).await;
        assert_eq!(plain.status(), 200);
        assert!(
            plain.headers()["cache-control"]
                .to_str()
                .expect("cache")
                .contains("immutable")
        );
        let length = plain.bytes().await.expect("body").len();
        let gzipped = app
            .get_with(path, |r| r.header("accept-encoding", "gzip"))
            .await;
        assert_eq!(gzipped.headers()["content-encoding"], "gzip", "{path}");
        let compressed = gzipped.bytes().await.expect("body").len();
        assert!(
            compressed * 2 < length,
            "{path}: {compressed} of {length} bytes"
        );
    }
    assert_eq!(app.get("/console/assets/missing.js").await.status(), 404);
    // Nothing on a page comes from elsewhere.
    for attribute in ["src", "href", "action"] {
        for url in attributes(&html, attribute) {
            assert!(
                url.starts_with('/') || url.starts_with('#'),
                "{attribute}={url}"
            );
        }
    }
}
