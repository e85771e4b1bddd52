//! The support console in a real headless Chromium (SPEC §11, issue #12):
//! `tests/browser/console.mjs` signs in through the form as an agent, a
//! viewer and on a phone, and walks every page as a person would (figures
//! against GraphQL, filters and the Back button, the whole list page by
//! page against GraphQL and the CSV export, a double-clicked "Send alert",
//! the live case queue, forged forms, the keyboard, axe-core at 1440 and
//! 390 pixels, error pages, requests per page). The checks over plain HTTP
//! are in `console.rs`.

use std::path::Path;
use std::process::Command;

use risk_monitor::config::AuthMode;

use crate::helpers::internals::{Role, access, tester};
use crate::helpers::{Backend, TestApp, in_ci};

/// Active users enough for several pages of 20 in the walk.
const USERS: u64 = 120;

async fn key(app: &TestApp, name: &str, role: Role) -> String {
    access::create_key(app.db(), name, role, &tester(), chrono::Utc::now())
        .await
        .expect("create a key")
        .secret
}

#[tokio::test]
async fn the_console_works_for_people_in_a_real_headless_browser() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = Path::new(root).join("tests/browser/console.mjs");
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
            "skipping the console's browser test: install chromium and run `npm ci --prefix tests/browser`"
        );
        return;
    }
    let app =
        TestApp::spawn_configured(Backend::Sqlite, |s| s.access.auth = AuthMode::Required).await;
    app.seed(USERS).await;
    let agent = key(&app, "ann", Role::Agent).await;
    let viewer = key(&app, "victor", Role::Viewer).await;
    let shots = std::env::temp_dir().join(format!(
        "risk-monitor-console-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let address = app.address.clone();
    let folder = shots.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&address)
            .arg(&folder)
            .env("RM_AGENT_KEY", agent)
            .env("RM_VIEWER_KEY", viewer)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("console ok: "),
        "the console's browser walk failed (screenshots in {}):\n{stdout}\n{}",
        shots.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    for page in ["login", "overview", "risky-users", "user", "cases"] {
        for width in [1440, 390] {
            let shot = shots.join(format!("console-{page}-{width}.png"));
            let bytes = std::fs::read(&shot).unwrap_or_default();
            assert!(
                bytes.starts_with(b"\x89PNG"),
                "{} is not a PNG screenshot",
                shot.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&shots);
    // The figures it checked, for `--nocapture`.
    println!("{}", stdout.trim_end());
}
