//! Test fixtures: a fresh database per test on each configured backend, the
//! real application started on a free port, the requests the tests send it,
//! and the library items they use.
//!
//! Every path into the library (`risk_monitor::…`) is written in this file
//! only: the fixtures below and [`internals`]. When a module of `src/` moves,
//! only this file changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::risk_scores;
use risk_monitor::app::Application;
use risk_monitor::clock::{ManualClock, SharedClock};
use risk_monitor::config::{DatabaseSettings, Settings};
use risk_monitor::db;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};

/// The library's items that the tests use directly, named here once.
pub mod internals {
    pub use risk_monitor::app::Application;
    pub use risk_monitor::commands::DEMO_USERS;
    pub use risk_monitor::db::begin_write;
    pub use risk_monitor::domain::{
        Actor, Caller, Cents, CurrencyCode, Email, MinScore, PaymentStatus, Permission, PlanStatus,
        RiskyFilter, Role,
    };
    pub use risk_monitor::service::access;

    /// Who the tests act as when they call the service directly.
    pub fn tester() -> Caller {
        Caller::new(Actor::local())
    }
    pub use risk_monitor::error::AppError;
    pub use risk_monitor::risk::{
        self, Outcome, PaymentFact, RiskLevel, RiskPattern, ScoringConfig, UserFacts, Weights,
    };
    pub use risk_monitor::server::ServeOptions;
    pub use risk_monitor::service::scoring::When;
    pub use risk_monitor::service::stats_cache::{self, StatsCache};
    pub use risk_monitor::service::{Rules, ingest, scoring};
    pub use risk_monitor::service::{channels, digest};
    pub use risk_monitor::store;

    /// A pool on `url` as the server opens it (statement timeout `timeout`).
    pub async fn connect_serving(
        url: &str,
        timeout: std::time::Duration,
    ) -> sea_orm::DatabaseConnection {
        let settings = risk_monitor::config::DatabaseSettings {
            url: url.to_owned(),
        };
        risk_monitor::db::connect_serving(&settings, timeout)
            .await
            .expect("connect")
    }

    /// The stored level as the model names it.
    pub fn level_of(stored: &entity::risk_scores::Model) -> RiskLevel {
        RiskLevel::from(stored.level)
    }

    /// `user_id`'s score from the stored rows at `when`, without writing;
    /// `None` for no such user.
    pub async fn assess_stored(
        db: &sea_orm::DatabaseConnection,
        config: &ScoringConfig,
        user_id: i64,
        when: When,
    ) -> Option<risk::Assessment> {
        let user = store::users::find(db, user_id).await.expect("query")?;
        let user = store::users::ScoringUser::from(&user);
        Some(
            scoring::assess_stored(db, config, &user, when)
                .await
                .expect("assess"),
        )
    }
}

/// Whether this runs under CI (`CI` set, and not "false"): there, a test may
/// fail but never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in the temp folder.
    Sqlite,
    /// A fresh database on the server of `TEST_DATABASE_URL`.
    Postgres,
}

/// Whether the PostgreSQL variant of `test` can run: `TEST_DATABASE_URL` is
/// set. When it is not, under CI (see [`in_ci`]) this panics: there the
/// PostgreSQL tests must run. Elsewhere it prints `skipped: TEST_DATABASE_URL
/// is not set` to stderr (past the test harness's capture, so that it shows)
/// and returns false.
pub fn postgres_configured(test: &str) -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests must run under CI"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "{test}: skipped: TEST_DATABASE_URL is not set"
    );
    false
}

/// Turns `async fn name(backend: Backend)` into one `#[tokio::test]` per
/// backend: a module `name` with the tests `name::sqlite` and
/// `name::postgres` (the latter as [`postgres_configured`] allows).
///
/// `backend_tests!(name);` makes plain `#[tokio::test]`s; anything after the
/// name goes to the attribute, e.g.
/// `backend_tests!(name, flavor = "multi_thread", worker_threads = 2);`.
macro_rules! backend_tests {
    ($name:ident $(, $($tokio:tt)+)?) => {
        #[doc = concat!("`", stringify!($name), "` on each backend.")]
        mod $name {
            use $crate::helpers::{Backend, postgres_configured};

            /// On SQLite.
            #[tokio::test $(($($tokio)+))?]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            /// On PostgreSQL, when `TEST_DATABASE_URL` is set.
            #[tokio::test $(($($tokio)+))?]
            async fn postgres() {
                if postgres_configured(concat!(module_path!(), "::postgres")) {
                    super::$name(Backend::Postgres).await;
                }
            }
        }
    };
}
pub(crate) use backend_tests;

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
    Database {
        admin_url: String,
        name: String,
    },
    /// Another handle's database: that handle drops it.
    Borrowed,
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
                // The pid tells a later run whether this one is still alive.
                let name = format!("test_{}_{id}", std::process::id());
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at TEST_DATABASE_URL is unreachable: {e}")
                    });
                SWEPT.get_or_init(|| drop_leftovers(&admin)).await;
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

    /// A second handle on this database (its own pool), which leaves the
    /// database in place when dropped: for a second service process.
    pub async fn alias(&self) -> Self {
        let db = db::connect(&DatabaseSettings {
            url: self.url.clone(),
        })
        .await
        .expect("connect to the test database again");
        Self {
            db,
            url: self.url.clone(),
            cleanup: Cleanup::Borrowed,
        }
    }

    /// A new database with every migration applied.
    pub async fn migrated(backend: Backend) -> Self {
        let test_db = Self::empty(backend).await;
        db::migrate_up(&test_db.db)
            .await
            .expect("migrate the test database");
        test_db
    }

    /// Seeds `users` demo users from `seed`, dated back from `now` and scored
    /// at `now`, with the default scoring.
    pub async fn seed(
        &self,
        users: u64,
        seed: u64,
        now: DateTime<Utc>,
    ) -> risk_monitor::seed::SeedReport {
        self.seed_with(risk_monitor::seed::SeedOptions::new(users, seed, now))
            .await
    }

    /// Seeds as `options` say, with the default scoring.
    pub async fn seed_with(
        &self,
        options: risk_monitor::seed::SeedOptions,
    ) -> risk_monitor::seed::SeedReport {
        self.try_seed_with(options).await.expect("seed")
    }

    /// Seeds as `options` say, with the default scoring; how it ended.
    pub async fn try_seed_with(
        &self,
        options: risk_monitor::seed::SeedOptions,
    ) -> Result<risk_monitor::seed::SeedReport, risk_monitor::seed::SeedError> {
        let users = options.users;
        let progress = risk_monitor::progress::Progress::hidden("seed", users);
        risk_monitor::seed::run(
            &self.db,
            &internals::ScoringConfig::default(),
            options,
            progress,
        )
        .await
    }

    /// The `risk-monitor` binary (see [`cli`]) on this database.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut command = cli(args);
        command.env("DATABASE_URL", &self.url);
        command
    }

    /// Settings pointing at this database, on a free port, without demo data
    /// and without a rate limit (tests send many requests from one address;
    /// `tests/api/limits.rs` turns it on), and without the daily digest's
    /// scheduler, which would otherwise make a digest at start whenever the
    /// tests run after 08:00 UTC (`tests/api/digest.rs` turns it on).
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).expect("default settings");
        settings.database.url = self.url.clone();
        settings.http.port = 0;
        settings.demo_data = false;
        settings.limits.rate_limit_per_minute = 0;
        settings.alerts.digest_time = None;
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
            Cleanup::Borrowed => {}
        }
    }
}

/// Set once this process has dropped the leftovers of killed runs.
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Drops the test databases that runs killed before their clean-up left on
/// the server: `test_<pid>_<uuid>` whose process is gone, and old-style
/// `test_<uuid>` (named before the pid was) that nobody is connected to, as
/// such a name cannot tell whether its run is alive. Errors are reported on
/// stderr, never fatal: a leftover costs disk, not correctness.
async fn drop_leftovers(admin: &DatabaseConnection) {
    let sql = "SELECT d.datname::text AS name, \
               (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) AS sessions \
               FROM pg_database d WHERE d.datname LIKE 'test\\_%'";
    let rows = match admin
        .query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("could not list leftover test databases: {e}");
            return;
        }
    };
    for row in rows {
        let (Ok(name), Ok(sessions)) = (
            row.try_get::<String>("", "name"),
            row.try_get::<i64>("", "sessions"),
        ) else {
            continue;
        };
        if !is_leftover(&name, sessions) {
            continue;
        }
        let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        match admin.execute_unprepared(&drop).await {
            Ok(_) => eprintln!("dropped {name}, left by a killed test run"),
            Err(e) => eprintln!("could not drop the leftover {name}: {e}"),
        }
    }
}

/// Whether the database `name` is a test database that no running test
/// process owns (see [`drop_leftovers`]); `sessions` is how many connections
/// it has.
fn is_leftover(name: &str, sessions: i64) -> bool {
    let uuid = |s: &str| s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let Some(rest) = name.strip_prefix("test_") else {
        return false;
    };
    if uuid(rest) {
        return sessions == 0;
    }
    match rest.split_once('_') {
        Some((pid, id))
            if uuid(id) && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) =>
        {
            // Without /proc no process can be told dead: keep them all.
            Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists()
        }
        _ => false,
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
    /// `http://ADDRESS` of the `METRICS_ADDR` listener, when configured.
    pub metrics_address: Option<String>,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The database behind it, dropped with the app.
    test_db: TestDb,
    /// The app's clock.
    clock: SharedClock,
}

impl TestApp {
    /// Starts the service on a migrated database of `backend`, on the
    /// system clock.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, SharedClock::system()).await
    }

    /// Starts the service with its clock standing at `at`; the returned
    /// clock moves it.
    pub async fn spawn_at(backend: Backend, at: DateTime<Utc>) -> (Self, Arc<ManualClock>) {
        let manual = Arc::new(ManualClock::new(at));
        let app = Self::spawn_with(backend, SharedClock::new(manual.clone())).await;
        (app, manual)
    }

    /// Starts the service on a migrated database of `backend`, with the
    /// test settings as `configure` changes them.
    pub async fn spawn_configured(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_configured_with(backend, SharedClock::system(), configure).await
    }

    async fn spawn_with(backend: Backend, clock: SharedClock) -> Self {
        Self::spawn_configured_with(backend, clock, |_| {}).await
    }

    async fn spawn_configured_with(
        backend: Backend,
        clock: SharedClock,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let test_db = TestDb::migrated(backend).await;
        Self::start(test_db, clock, configure).await
    }

    /// Starts the service on `test_db`, with the test settings as
    /// `configure` changes them (the app may reach the database another way
    /// than `test_db.db`, e.g. through a proxy).
    pub async fn spawn_on(test_db: TestDb, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start(test_db, SharedClock::system(), configure).await
    }

    async fn start(
        test_db: TestDb,
        clock: SharedClock,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut settings = test_db.settings();
        configure(&mut settings);
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("build the application");
        let address = format!("http://{}", app.address());
        let metrics_address = app.metrics_address().map(|a| format!("http://{a}"));
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            address,
            metrics_address,
            client: reqwest::Client::new(),
            test_db,
            clock,
        }
    }

    /// A second service process on this app's database, with the test
    /// settings as `configure` changes them (drop this app last).
    pub async fn replica(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        let alias = self.test_db.alias().await;
        Self::start(alias, self.clock.clone(), configure).await
    }

    /// The database behind the app.
    pub fn db(&self) -> &DatabaseConnection {
        &self.test_db.db
    }

    /// Seeds `users` demo users (seed 42), scored at the app's instant.
    pub async fn seed(&self, users: u64) {
        self.test_db.seed(users, 42, self.clock.now()).await;
    }

    /// POSTs a GraphQL operation; returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .post_json(
                "/graphql",
                &json!({ "query": query, "variables": variables }),
            )
            .await;
        assert_eq!(response.status(), 200, "GraphQL answers 200");
        response.json().await.expect("GraphQL JSON")
    }

    /// `POST path` with `body` as JSON.
    pub async fn post_json(&self, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, |request| request.json(body))
            .await
    }

    /// `POST path` without a body.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, |request| request)
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, |request| request)
            .await
    }

    /// `GET path` as `build` completes it (headers, say).
    pub async fn get_with(
        &self,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, build).await
    }

    /// Sends `method path` as `build` completes it; panics without an answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address));
        build(request)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

/// The `extensions.code` of a GraphQL response's first error, or
/// `"<no code>"`.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// The instant of an RFC 3339 JSON string (a `DateTime` of the API):
/// compared as instants, not as text, whose precision varies.
pub fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("an RFC 3339 instant: {value}"))
        .with_timezone(&Utc)
}

/// The stored score of `user_id`; panics when there is none.
pub async fn stored_score(db: &DatabaseConnection, user_id: i64) -> risk_scores::Model {
    risk_scores::Entity::find_by_id(user_id)
        .one(db)
        .await
        .expect("query the stored score")
        .unwrap_or_else(|| panic!("a stored score for user {user_id}"))
}

/// The `risk-monitor` binary with `args`, without a config file: its
/// settings come from the environment only.
pub fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_risk-monitor"));
    command
        .args(["--config", "/nonexistent/config.env"])
        .args(args);
    command
}

/// A legacy golden response, `tests/data/legacy_responses/{name}`.
pub fn golden(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/legacy_responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden json")
}

#[test]
fn leftovers_are_databases_of_dead_test_processes_only() {
    let uuid = "0123456789abcdef0123456789abcdef";
    let me = std::process::id();
    // A live process (this one) keeps its databases, connected or not.
    assert!(!is_leftover(&format!("test_{me}_{uuid}"), 0));
    // No process has a pid above the kernel's maximum (4194304).
    assert!(is_leftover(&format!("test_4194305_{uuid}"), 3));
    // Old-style names: only when nobody is connected.
    assert!(is_leftover(&format!("test_{uuid}"), 0));
    assert!(!is_leftover(&format!("test_{uuid}"), 1));
    // Anything else is not a test database of this suite.
    for other in ["test", "test_", "test_db", "tests_1_x", "postgres"] {
        assert!(!is_leftover(other, 0), "{other}");
    }
    assert!(!is_leftover(&format!("test_12_{}", uuid.to_uppercase()), 0));
}

/// A `risk-monitor serve` process.
pub struct Served {
    /// The process.
    pub child: std::process::Child,
    /// The address it logged, `127.0.0.1:PORT`.
    pub address: String,
    /// The log line that gave it.
    pub line: String,
}

/// `risk-monitor serve` on `test_db`, with `envs`, started as users start
/// it, once it has logged its address (two minutes at most).
pub fn serve_binary(test_db: &TestDb, envs: &[(&str, &str)]) -> Served {
    use std::io::{BufRead, BufReader};
    let mut command = test_db.cli(&["serve"]);
    command
        .env("API_PORT", "0")
        .env("LOG_LEVEL", "info")
        // No digest at start whatever the hour (`envs` may turn it on).
        .env("DIGEST_TIME", "off")
        .stderr(std::process::Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start risk-monitor serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        if let Some(rest) = line.split("listening on http://").nth(1)
            && let Some(address) = rest.split('/').next()
        {
            let address = address.to_owned();
            // The reader thread goes on draining the pipe, so the process
            // never blocks on a full one.
            return Served {
                child,
                address,
                line,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not log its address within two minutes");
}

/// The one count `sql` selects (`SELECT count(*) …`) on `db`.
pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect(sql)
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .expect("a count")
}

/// A small deterministic generator (SplitMix64), so that a failure replays.
pub struct Dice(pub u64);

impl Dice {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
