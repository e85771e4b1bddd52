//! The layering ARCHITECTURE.md promises, checked on the source: every query
//! in `src/store/`, dependencies pointing one way (front ends → `service` →
//! `store` + `risk`), a pure scoring core, settings read in one place. Each
//! rule names the layer table's "must not" it enforces; a line that breaks
//! one is reported with its file and number.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The lines of `path` that are code, with their numbers: comments and the
/// `mod tests` at the end of a file are left out (tests may build
/// what production code must not).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("read a source file");
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("mod tests {") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        lines.push((index + 1, line.to_owned()));
    }
    lines
}

/// A rule: in files under `scope` (relative to `src/`, "" for all) but not
/// under any of `except`, no code line may contain any of `forbidden`.
struct Rule {
    why: &'static str,
    scope: &'static str,
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const RAW_SQL: &[&str] = &[
    "\"SELECT ",
    "\"INSERT ",
    "\"UPDATE ",
    "\"DELETE ",
    "\"WITH ",
    "\"LOCK ",
    "\"COPY ",
    "\"VACUUM",
    "\"ANALYZE",
    "\"CREATE ",
    "\"DROP ",
    "\"ALTER ",
];

const RULES: &[Rule] = &[
    Rule {
        why: "every query lives in store/",
        scope: "",
        except: &["store/"],
        forbidden: &[
            "Statement::from_sql_and_values",
            "Statement::from_string",
            "::find()",
            "::find_by_id(",
            "insert_many(",
            "execute_unprepared(",
            "query_one_raw(",
            "query_all_raw(",
            "sqlx::query",
            ".lock_exclusive()",
        ],
    },
    Rule {
        why: "no raw SQL outside store/",
        scope: "",
        except: &["store/"],
        forbidden: RAW_SQL,
    },
    Rule {
        why: "risk/ is pure: no I/O, no framework, no clock",
        scope: "risk/",
        except: &[],
        forbidden: &[
            "sea_orm",
            "axum",
            "async_graphql",
            "tokio",
            "Utc::now",
            "crate::store",
            "crate::service",
        ],
    },
    Rule {
        why: "store/ holds no business rules and knows no use case or front end",
        scope: "store/",
        except: &[],
        forbidden: &[
            "crate::service",
            "crate::graphql",
            "crate::rest",
            "crate::app",
            "axum",
            "async_graphql",
        ],
    },
    Rule {
        why: "service/ knows no front end",
        scope: "service/",
        except: &[],
        forbidden: &[
            "crate::graphql",
            "crate::rest",
            "crate::app",
            "axum",
            "async_graphql",
        ],
    },
    Rule {
        why: "rest/ imports neither app.rs, GraphQL nor store row types",
        scope: "rest/",
        except: &[],
        forbidden: &["crate::graphql", "crate::app", "crate::store"],
    },
    Rule {
        why: "graphql/ imports neither app.rs, REST nor store row types",
        scope: "graphql/",
        except: &[],
        forbidden: &["crate::rest", "crate::app", "crate::store"],
    },
    Rule {
        why: "console/ imports neither app.rs, GraphQL nor store row types",
        scope: "console/",
        except: &[],
        forbidden: &["crate::graphql", "crate::app", "crate::store"],
    },
    Rule {
        why: "domain.rs and error.rs sit below every layer",
        scope: "domain.rs",
        except: &[],
        forbidden: &[
            "crate::store",
            "crate::service",
            "crate::graphql",
            "crate::rest",
        ],
    },
    Rule {
        why: "settings are read once, by config.rs",
        scope: "",
        except: &["config.rs"],
        forbidden: &["std::env::var", "env::var(", "dotenvy::"],
    },
];

#[test]
fn the_layers_hold_in_the_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    assert!(files.len() > 20, "found the sources in {}", src.display());
    let mut broken = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src/")
            .to_string_lossy()
            .replace('\\', "/");
        let lines = code_lines(file);
        for rule in RULES {
            let in_scope = relative.starts_with(rule.scope)
                && !rule.except.iter().any(|e| relative.starts_with(e));
            if !in_scope {
                continue;
            }
            for (number, line) in &lines {
                for needle in rule.forbidden {
                    if line.contains(needle) {
                        broken.push(format!(
                            "src/{relative}:{number}: {needle:?} ({})",
                            rule.why
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the layering is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_catches_what_it_forbids() {
    // A rule that could never fire would let the test pass on any tree.
    let rule = &RULES[0];
    let line = "    let user = users::Entity::find().one(db).await?;";
    assert!(rule.forbidden.iter().any(|n| line.contains(n)));
    let sql = r#"    let sql = "SELECT 1";"#;
    assert!(RAW_SQL.iter().any(|n| sql.contains(n)));
}
