//! Test fixtures: a fresh database per test on each configured backend, and
//! the real application started on a free port.

use std::path::PathBuf;

use risk_monitor::app::Application;
use risk_monitor::config::{DatabaseSettings, Settings};
use risk_monitor::db;
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in the temp folder.
    Sqlite,
    /// A fresh database on the server of `TEST_DATABASE_URL`.
    Postgres,
}

/// The backends to run on: SQLite, plus PostgreSQL when `TEST_DATABASE_URL`
/// is set. Under CI (`CI` set) a missing `TEST_DATABASE_URL` is an error.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        all.push(Backend::Postgres);
    } else if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests would not run");
    }
    all
}

/// A database of the test's own, dropped (or deleted) when this is dropped.
pub struct TestDb {
    /// Connection pool to it.
    pub db: DatabaseConnection,
    /// Its URL.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    /// A new empty database on `backend`, not migrated.
    pub async fn empty(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("risk-monitor-test-{id}.db"));
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Cleanup::File(path),
                )
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let name = format!("test_{id}");
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at TEST_DATABASE_URL is unreachable: {e}")
                    });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let url = replace_database(&admin_url, &name);
                (url, Cleanup::Database { admin_url, name })
            }
        };
        let db = db::connect(&DatabaseSettings { url: url.clone() })
            .await
            .expect("connect to the test database");
        Self { db, url, cleanup }
    }

    /// A new database with every migration applied.
    pub async fn migrated(backend: Backend) -> Self {
        let test_db = Self::empty(backend).await;
        db::migrate_up(&test_db.db)
            .await
            .expect("migrate the test database");
        test_db
    }

    /// Settings pointing at this database, on a free port, without demo data.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).expect("default settings");
        settings.database.url = self.url.clone();
        settings.http.port = 0;
        settings.demo_data = false;
        settings
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async: use a runtime of its own, on a thread
                // of its own (also when the test panicked).
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async {
                            if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                                let _ = admin
                                    .execute_unprepared(&format!(
                                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                    ))
                                    .await;
                                let _ = admin.close().await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The real application on a free port, serving in the background.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The database behind it, dropped with the app.
    test_db: TestDb,
}

impl TestApp {
    /// Starts the service on a migrated database of `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        let test_db = TestDb::migrated(backend).await;
        let app = Application::build(test_db.settings())
            .await
            .expect("build the application");
        let address = format!("http://{}", app.address());
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            address,
            client: reqwest::Client::new(),
            test_db,
        }
    }

    /// The database behind the app.
    pub fn db(&self) -> &DatabaseConnection {
        &self.test_db.db
    }

    /// Seeds `users` demo users (seed 42), scored now.
    pub async fn seed(&self, users: u64) {
        let options = risk_monitor::seed::SeedOptions {
            users,
            seed: 42,
            now: chrono::Utc::now(),
        };
        let progress = risk_monitor::progress::Progress::hidden("seed", users);
        risk_monitor::seed::run(
            self.db(),
            &risk_monitor::risk::ScoringConfig::default(),
            options,
            progress,
        )
        .await
        .expect("seed");
    }

    /// POSTs a GraphQL operation; returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        assert_eq!(response.status(), 200, "GraphQL answers 200");
        response.json().await.expect("GraphQL JSON")
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }
}
