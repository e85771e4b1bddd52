//! The README's examples run as written: every `curl` line of its `sh`
//! blocks, and every `graphql` block, against the real service.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// The fenced blocks of `language` in the README.
fn blocks(readme: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}");
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim() == fence => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                found.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    found
}

#[tokio::test]
async fn the_readme_examples_run_as_written() {
    let readme = include_str!("../../README.md");
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.seed(25).await;

    let curls: Vec<String> = blocks(readme, "sh")
        .iter()
        .flat_map(|b| {
            b.replace("\\\n", " ")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("curl ") && l.contains("http://127.0.0.1:8000"))
        .collect();
    assert!(
        curls.len() >= 6,
        "a curl per REST route and one for GraphQL: {curls:?}"
    );
    for curl in curls {
        let command = curl.replace("http://127.0.0.1:8000", &app.address);
        // tokio's Command: the server runs on this test's runtime, which a
        // blocking wait would stall.
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .output()
            .await
            .expect("run curl");
        assert!(output.status.success(), "{curl}");
        let body: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{curl} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        assert!(
            body.get("errors").is_none() && body.get("detail").is_none(),
            "{curl} → {body}"
        );
    }

    let queries = blocks(readme, "graphql");
    assert!(queries.len() >= 2);
    for query in queries {
        let response = app.graphql(&query, json!({})).await;
        assert!(response["errors"].is_null(), "{query} → {response}");
        assert!(response["data"].is_object());
    }
}
