//! The embedded GraphiQL explorer: served from the binary, reached from
//! `/graphiql`, from `GET /graphql` and from `/` by a browser, and driven in
//! a real headless Chromium.

use std::path::Path;
use std::process::Command;

use crate::helpers::{Backend, TestApp, in_ci};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn the_explorer_page_and_its_assets_are_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/graphiql").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphiql/assets/"))
        .collect();
    assert!(
        assets.len() >= 4,
        "the page loads its scripts and styles: {assets:?}"
    );
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no remote URL in the page"
    );
    for asset in assets {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.expect("body").is_empty(), "{asset}");
    }
    assert_eq!(app.get("/graphiql/assets/missing.js").await.status(), 404);
}

#[tokio::test]
async fn browsers_are_sent_to_the_console_and_api_clients_keep_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let root = no_redirect
        .get(format!("{}/", app.address))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("get");
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/console");

    let json = no_redirect
        .get(format!("{}/", app.address))
        .header("accept", "*/*")
        .send()
        .await
        .expect("get");
    assert_eq!(json.status(), 200);
    assert_eq!(
        json.json::<serde_json::Value>().await.expect("json")["status"],
        "healthy"
    );

    let graphql = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("get");
    assert_eq!(graphql.status(), 200);
    assert!(
        graphql
            .text()
            .await
            .expect("html")
            .contains("/graphiql/assets/")
    );

    let query = app
        .client
        .get(format!(
            "{}/graphql?query=%7B%20stats%20%7B%20totalUsers%20%7D%20%7D",
            app.address
        ))
        .send()
        .await
        .expect("get");
    let body: serde_json::Value = query.json().await.expect("json");
    assert_eq!(body["data"]["stats"]["totalUsers"], 0, "{body}");
}

#[tokio::test]
async fn the_explorer_runs_a_query_in_a_real_headless_browser() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = Path::new(root).join("tests/browser/explorer.mjs");
    let ready = Path::new(root)
        .join("tests/browser/node_modules/playwright-core")
        .exists()
        && Path::new("/usr/bin/chromium").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        assert!(
            !in_ci(),
            "CI must install chromium and `npm ci --prefix tests/browser`"
        );
        eprintln!(
            "skipping the browser test: install chromium and run `npm ci --prefix tests/browser`"
        );
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.seed(25).await;
    let screenshot = std::env::temp_dir().join(format!(
        "risk-monitor-explorer-{}.png",
        uuid::Uuid::new_v4()
    ));
    let address = app.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&address)
            .arg(&screenshot)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && stdout.contains("explorer ok: totalCount=")
            && stdout.contains("subscription=alertRaised"),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
