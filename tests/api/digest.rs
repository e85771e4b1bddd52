//! The daily digest (issue #11, SPEC §10): its figures are the statistics'
//! figures, it reports who rose since the last digest, it is made once per
//! day however many processes try, and it reads the same over GraphQL and
//! on the command line.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use entity::sea_orm_active_enums::{ChannelKind, EventType, RiskLevel as StoredLevel};
use entity::{deliveries, digests};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::internals::{
    Rules, ScoringConfig, begin_write, channels, connect_serving, digest, store, tester,
};
use crate::helpers::{Backend, TestApp, TestDb, backend_tests, error_code};
use risk_monitor::clock::ManualClock;

const STATS: &str = r#"
query {
  stats(trendDays: 7) {
    totalPayments failedPayments overallFailureRate
    levels { level count } failureTrend { day payments failed failureRate }
  }
}"#;

const DIGEST: &str = "query($date: String) { digest(date: $date) }";

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id } }";
const PAY: &str =
    "mutation($input: PaymentInput!) { recordPayment(input: $input) { riskScore riskLevel } }";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn rules() -> Rules {
    Rules::from(ScoringConfig::default())
}

/// The text of section `## {title}…` of `markdown`, up to the next section.
fn section<'a>(markdown: &'a str, title: &str) -> &'a str {
    let start = markdown
        .find(&format!("## {title}"))
        .unwrap_or_else(|| panic!("no section {title:?} in:\n{markdown}"));
    let rest = &markdown[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// The body rows of the first table of `text`, cell by cell.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn title(level: &str) -> String {
    let lower = level.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn percent(rate: &Value) -> String {
    format!("{:.1}%", rate.as_f64().expect("rate") * 100.0)
}

/// Asserts that `markdown`'s counts per level and failure rates are those
/// of the `stats` answer `stats`.
fn assert_says_what_stats_says(markdown: &str, stats: &Value) {
    let levels = rows(section(markdown, "Users per level"));
    assert_eq!(levels.len(), 4, "{markdown}");
    for entry in stats["levels"].as_array().expect("levels") {
        let name = title(entry["level"].as_str().expect("level"));
        let row = levels
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}:\n{markdown}"));
        assert_eq!(row[1], entry["count"].to_string(), "{name}: {markdown}");
    }
    let trend = rows(section(markdown, "Failure rate, last 7 days"));
    let days = stats["failureTrend"].as_array().expect("trend");
    assert_eq!(trend.len(), days.len(), "{markdown}");
    assert_eq!(trend.len(), 7);
    for (row, day) in trend.iter().zip(days) {
        assert_eq!(row[0], day["day"].as_str().expect("day"));
        assert_eq!(row[1], day["payments"].to_string());
        assert_eq!(row[2], day["failed"].to_string());
        assert_eq!(row[3], percent(&day["failureRate"]));
    }
    let overall = format!(
        "Overall: {} of {} payments failed ({}).",
        stats["failedPayments"],
        stats["totalPayments"],
        percent(&stats["overallFailureRate"])
    );
    assert!(markdown.contains(&overall), "{overall} in:\n{markdown}");
}

backend_tests!(the_digest_counts_what_stats_answers);
async fn the_digest_counts_what_stats_answers(backend: Backend) {
    let now = at("2026-11-20T09:30:00Z");
    let (app, _clock) = TestApp::spawn_at(backend, now).await;
    app.seed(200).await;

    let stats = app.graphql(STATS, json!({})).await;
    assert!(stats["errors"].is_null(), "{stats}");
    let stats = &stats["data"]["stats"];
    let preview = app.graphql(DIGEST, json!({})).await;
    assert!(preview["errors"].is_null(), "{preview}");
    let preview = preview["data"]["digest"].as_str().expect("markdown");

    assert!(
        preview.starts_with("# Risk Monitor digest, 2026-11-20\n"),
        "{preview}"
    );
    assert!(preview.contains("Preview"), "{preview}");
    let recent: i64 = stats["failureTrend"]
        .as_array()
        .expect("trend")
        .iter()
        .map(|d| d["failed"].as_i64().expect("failed"))
        .sum();
    assert!(
        recent > 0,
        "the seed has failures in the last week: {stats}"
    );
    assert_says_what_stats_says(preview, stats);

    // The digest made at the same instant says the same, without "preview".
    let made = digest::make(app.db(), &rules(), now.date_naive(), now)
        .await
        .expect("make");
    assert!(made.made);
    assert!(!made.markdown.contains("Preview"), "{}", made.markdown);
    assert_says_what_stats_says(&made.markdown, stats);
    // The first digest: every user is new, so each level rose by its count.
    for row in rows(section(&made.markdown, "Users per level")) {
        let change = if row[1] == "0" {
            "0".to_owned()
        } else {
            format!("+{}", row[1])
        };
        assert_eq!(row[2], change, "{}", made.markdown);
    }
}

async fn new_user(app: &TestApp, email: &str) -> String {
    let input =
        json!({ "name": "Grace | Hopper", "email": email, "createdAt": "2026-10-25T00:00:00Z" });
    let r = app.graphql(UPSERT, json!({ "input": input })).await;
    r["data"]["upsertUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned()
}

async fn pay(app: &TestApp, user: &str, status: &str, date: &str) -> Value {
    let input = json!({ "userId": user, "amount": 99.99, "status": status, "paymentDate": date, "paymentMethod": "card" });
    let r = app.graphql(PAY, json!({ "input": input })).await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["recordPayment"].clone()
}

/// Whether `markdown`'s section `title` names user `id`.
fn names(markdown: &str, title: &str, id: &str) -> bool {
    section(markdown, title).contains(&format!("/console/users/{id})"))
}

backend_tests!(a_user_pushed_into_critical_since_the_last_digest_is_reported_once);
async fn a_user_pushed_into_critical_since_the_last_digest_is_reported_once(backend: Backend) {
    let day1 = at("2026-11-20T08:00:00Z");
    let (app, clock) = TestApp::spawn_at(backend, day1).await;
    app.seed(30).await;
    let grace = new_user(&app, "grace@example.com").await;
    let mut answer = Value::Null;
    for date in ["2026-10-26", "2026-10-28", "2026-10-30"] {
        answer = pay(&app, &grace, "SUCCESS", &format!("{date}T10:00:00Z")).await;
    }
    assert_eq!(answer["riskLevel"], "LOW", "{answer}");
    let rules = rules();
    let first = digest::make(app.db(), &rules, day1.date_naive(), day1)
        .await
        .expect("first digest");
    assert!(!names(&first.markdown, "Became high or critical", &grace));

    // Since the first digest, Grace's payments fail.
    clock.advance(TimeDelta::hours(12));
    fail_five_times(&app, &grace).await;

    let day2 = day1 + TimeDelta::days(1);
    let second = digest::make(app.db(), &rules, day2.date_naive(), day2)
        .await
        .expect("second digest");
    let md = &second.markdown;
    assert!(names(md, "Became high or critical", &grace), "{md}");
    let row = rows(section(md, "Became high or critical"))
        .into_iter()
        .find(|r| r[0].contains(&format!("/users/{grace})")))
        .expect("Grace's row");
    assert_eq!(
        row[0],
        format!("[Grace \\| Hopper](http://127.0.0.1:8000/console/users/{grace})")
    );
    assert_eq!(row[3], "Critical");
    assert_eq!(row[4], "Low", "her level at the last digest");
    assert!(names(md, "Biggest risers", &grace), "{md}");
    assert!(
        md.contains("Changes since the digest of 2026-11-20."),
        "{md}"
    );
    let critical = &rows(section(md, "Users per level"))[0];
    assert_eq!(critical[0], "Critical");
    assert_eq!(critical[2], "+1", "one more critical user: {md}");

    // The baselines moved: the next day she is no news.
    let day3 = day2 + TimeDelta::days(1);
    let third = digest::make(app.db(), &rules, day3.date_naive(), day3)
        .await
        .expect("third digest");
    assert!(!names(&third.markdown, "Became high or critical", &grace));
    assert!(!names(&third.markdown, "Biggest risers", &grace));
    assert!(
        third.markdown.contains("Became high or critical (0)"),
        "{}",
        third.markdown
    );
}

async fn digest_channel(db: &sea_orm::DatabaseConnection, name: &str, events: Vec<EventType>) {
    let input = channels::NewChannel {
        name: name.to_owned(),
        kind: ChannelKind::Webhook,
        url: format!("http://127.0.0.1:9/{name}"),
        events,
        min_level: StoredLevel::High,
        secret: None,
    };
    channels::create(db, input, &tester(), Utc::now())
        .await
        .expect("create a channel");
}

backend_tests!(
    two_processes_making_the_same_day_make_one_digest_and_one_delivery_per_channel,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn two_processes_making_the_same_day_make_one_digest_and_one_delivery_per_channel(
    backend: Backend,
) {
    let test_db = TestDb::migrated(backend).await;
    let now = Utc::now();
    test_db.seed(40, 7, now).await;
    digest_channel(&test_db.db, "ops", vec![EventType::Digest]).await;
    digest_channel(
        &test_db.db,
        "all",
        vec![EventType::AlertRaised, EventType::Digest],
    )
    .await;
    digest_channel(&test_db.db, "alerts-only", vec![EventType::AlertRaised]).await;
    // Two pools, as two replicas have.
    let timeout = std::time::Duration::from_secs(30);
    let pools = [
        connect_serving(&test_db.url, timeout).await,
        connect_serving(&test_db.url, timeout).await,
    ];
    let day = now.date_naive();

    let tasks: Vec<_> = pools
        .iter()
        .cloned()
        .map(|db| tokio::spawn(async move { digest::make(&db, &rules(), day, now).await }))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("join").expect("make"));
    }

    assert_eq!(
        outcomes.iter().filter(|m| m.made).count(),
        1,
        "exactly one process made it"
    );
    assert_eq!(
        outcomes[0].markdown, outcomes[1].markdown,
        "both answer the stored digest"
    );
    assert_eq!(outcomes.iter().map(|m| m.queued).sum::<usize>(), 2);
    assert_eq!(
        digests::Entity::find()
            .count(&test_db.db)
            .await
            .expect("count"),
        1
    );
    let sent = deliveries::Entity::find()
        .filter(deliveries::Column::EventType.eq(EventType::Digest))
        .all(&test_db.db)
        .await
        .expect("deliveries");
    assert_eq!(sent.len(), 2, "one per channel wanting DIGEST: {sent:?}");
    let mut keys: Vec<String> = sent.iter().filter_map(|d| d.batch_key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("digest:{day}:"))),
        "{keys:?}"
    );
    for delivery in &sent {
        let body: Value =
            serde_json::from_str(delivery.payload.as_deref().expect("payload")).expect("JSON");
        assert_eq!(body["type"], "DIGEST");
        assert_eq!(body["data"]["markdown"], outcomes[0].markdown.as_str());
    }

    // A restart later that day changes nothing.
    let again = digest::make(&pools[0], &rules(), day, now + TimeDelta::hours(3))
        .await
        .expect("make again");
    assert!(!again.made);
    assert_eq!(again.queued, 0);
    assert_eq!(again.markdown, outcomes[0].markdown);
    let count = deliveries::Entity::find()
        .filter(deliveries::Column::EventType.eq(EventType::Digest))
        .count(&test_db.db)
        .await
        .expect("count");
    assert_eq!(count, 2);
}

backend_tests!(digest_over_http_gives_the_stored_one_and_refuses_bad_dates);
async fn digest_over_http_gives_the_stored_one_and_refuses_bad_dates(backend: Backend) {
    let now = at("2026-11-20T09:30:00Z");
    let (app, _clock) = TestApp::spawn_at(backend, now).await;
    app.seed(20).await;
    let two_days_ago = now - TimeDelta::days(2);
    let made = digest::make(app.db(), &rules(), two_days_ago.date_naive(), two_days_ago)
        .await
        .expect("make");

    let stored = app.graphql(DIGEST, json!({ "date": "2026-11-18" })).await;
    assert!(stored["errors"].is_null(), "{stored}");
    assert_eq!(stored["data"]["digest"], made.markdown.as_str());

    for (date, reason) in [
        ("2026-11-19", "no digest was made on 2026-11-19"),
        ("2026-11-21", "in the future"),
        ("2026-13-01", "YYYY-MM-DD"),
        ("20261118", "YYYY-MM-DD"),
    ] {
        let refused = app.graphql(DIGEST, json!({ "date": date })).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{date}: {refused}");
        let message = refused["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{date}: {message}");
        assert!(refused["data"].is_null(), "{refused}");
    }

    // Today, not made yet: a preview, which stores nothing.
    let today = app.graphql(DIGEST, json!({ "date": "2026-11-20" })).await;
    let text = today["data"]["digest"].as_str().expect("preview");
    assert!(text.contains("Preview"), "{text}");
    assert!(
        text.contains("Changes since the digest of 2026-11-18."),
        "{text}"
    );
    assert_eq!(
        digests::Entity::find()
            .count(app.db())
            .await
            .expect("count"),
        1
    );
}

backend_tests!(the_command_line_prints_the_digest);
async fn the_command_line_prints_the_digest(backend: Backend) {
    let test_db = TestDb::migrated(backend).await;
    let now = Utc::now();
    test_db.seed(20, 42, now).await;
    let yesterday = now - TimeDelta::days(1);
    let made = digest::make(&test_db.db, &rules(), yesterday.date_naive(), yesterday)
        .await
        .expect("make");
    let date = yesterday.date_naive().format("%Y-%m-%d").to_string();

    let output = test_db
        .cli(&["digest", "--date", &date])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), made.markdown);

    // Today's, not made: the preview.
    let output = test_db.cli(&["digest"]).output().expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let today = String::from_utf8_lossy(&output.stdout);
    assert!(today.contains("Preview"), "{today}");
    assert!(
        today.contains(&format!("Changes since the digest of {date}.")),
        "{today}"
    );

    let output = test_db
        .cli(&["digest", "--date", "last tuesday"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("date") && stderr.contains("YYYY-MM-DD"),
        "{stderr}"
    );
}

backend_tests!(a_service_started_after_digest_time_makes_todays_missing_digest);
async fn a_service_started_after_digest_time_makes_todays_missing_digest(backend: Backend) {
    // DIGEST_TIME at midnight has always passed: the scheduler catches up.
    let midnight = NaiveTime::from_hms_opt(0, 0, 0);
    let app = TestApp::spawn_configured(backend, |s| s.alerts.digest_time = midnight).await;
    let today = Utc::now().date_naive();
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = digests::Entity::find()
            .filter(digests::Column::Made.eq(true))
            .all(app.db())
            .await
            .expect("digests");
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored.len(), 1, "today's digest was made at start");
    let day: NaiveDate = stored[0].day.parse().expect("day");
    assert!(day == today || day == Utc::now().date_naive(), "{day}");
    let answer = app.graphql(DIGEST, json!({})).await;
    assert_eq!(
        answer["data"]["digest"],
        stored[0].markdown.as_str(),
        "{answer}"
    );
}

/// Grace's and Ada's accounts: each pays three times on time (low).
async fn two_good_payers(app: &TestApp) -> (String, String) {
    let grace = new_user(app, "grace@example.com").await;
    let ada = new_user(app, "ada@example.com").await;
    for user in [&grace, &ada] {
        for date in ["2026-10-26", "2026-10-28", "2026-10-30"] {
            let answer = pay(app, user, "SUCCESS", &format!("{date}T10:00:00Z")).await;
            assert_eq!(answer["riskLevel"], "LOW", "{answer}");
        }
    }
    (grace, ada)
}

/// Five failed payments for `user`: the last answer (critical).
async fn fail_five_times(app: &TestApp, user: &str) -> Value {
    let mut last = Value::Null;
    for date in [
        "2026-11-05",
        "2026-11-10",
        "2026-11-15",
        "2026-11-17",
        "2026-11-19",
    ] {
        last = pay(app, user, "FAILED", &format!("{date}T10:00:00Z")).await;
    }
    assert_eq!(last["riskLevel"], "CRITICAL", "{last}");
    last
}

/// A service at 2026-11-20 08:00 with 30 users and Grace and Ada (both
/// low), whose first digest is made; the clock then moves 12 hours on.
async fn after_a_first_digest(
    backend: Backend,
) -> (TestApp, std::sync::Arc<ManualClock>, String, String) {
    let day1 = at("2026-11-20T08:00:00Z");
    let (app, clock) = TestApp::spawn_at(backend, day1).await;
    app.seed(30).await;
    let (grace, ada) = two_good_payers(&app).await;
    digest::make(app.db(), &rules(), day1.date_naive(), day1)
        .await
        .expect("first digest");
    clock.advance(TimeDelta::hours(12));
    (app, clock, grace, ada)
}

backend_tests!(a_digest_cut_short_after_its_close_is_finished_with_the_scores_at_its_close);
async fn a_digest_cut_short_after_its_close_is_finished_with_the_scores_at_its_close(
    backend: Backend,
) {
    let (app, clock, grace, ada) = after_a_first_digest(backend).await;
    let rules = rules();
    let day1 = at("2026-11-20T08:00:00Z");
    let at_close = fail_five_times(&app, &grace).await;
    // The second digest closes its generation, and its process stops there.
    let day2 = day1 + TimeDelta::days(1);
    let txn = begin_write(app.db()).await.expect("begin");
    let closed = store::digest::close(&txn, day2.date_naive(), day2)
        .await
        .expect("close");
    txn.commit().await.expect("commit");
    assert!(closed.is_some());
    clock.advance(TimeDelta::hours(12));
    let half_made = app.graphql(DIGEST, json!({ "date": "2026-11-21" })).await;
    let preview = half_made["data"]["digest"].as_str().unwrap_or_default();
    assert!(
        preview.contains("Preview") && names(preview, "Became high or critical", &grace),
        "a digest being made is previewed as of its close: {half_made}"
    );
    // No other digest closes until this one is finished.
    let day3 = day2 + TimeDelta::days(1);
    let txn = begin_write(app.db()).await.expect("begin");
    let next = store::digest::close(&txn, day3.date_naive(), day3)
        .await
        .expect("close");
    txn.rollback().await.expect("rollback");
    assert_eq!(next, None, "{backend:?}");

    // Writes after the close belong to the next digest.
    fail_five_times(&app, &ada).await;
    pay(&app, &grace, "FAILED", "2026-11-20T09:00:00Z").await;

    // The next attempt finishes it with what was true at its close.
    let second = digest::make(app.db(), &rules, day2.date_naive(), day2)
        .await
        .expect("second digest");
    assert!(second.made);
    let md = &second.markdown;
    assert!(names(md, "Became high or critical", &grace), "{md}");
    assert!(!names(md, "Became high or critical", &ada), "{md}");
    assert!(!names(md, "Biggest risers", &ada), "{md}");
    let row = rows(section(md, "Became high or critical"))
        .into_iter()
        .find(|r| r[0].contains(&format!("/users/{grace})")))
        .expect("Grace's row");
    let score = at_close["riskScore"].as_f64().expect("score");
    assert_eq!(
        row[2],
        format!("{score:.2}"),
        "her score at the close: {md}"
    );
    let critical = &rows(section(md, "Users per level"))[0];
    assert_eq!(critical[2], "+1", "Ada is not counted yet: {md}");
    let stored = app.graphql(DIGEST, json!({ "date": "2026-11-21" })).await;
    assert_eq!(stored["data"]["digest"], md.as_str(), "{stored}");

    let third = digest::make(app.db(), &rules, day3.date_naive(), day3)
        .await
        .expect("third digest");
    let md = &third.markdown;
    assert!(names(md, "Became high or critical", &ada), "{md}");
    assert!(!names(md, "Became high or critical", &grace), "{md}");
    assert_eq!(
        rows(section(md, "Users per level"))[0][2],
        "+1",
        "Ada, counted once: {md}"
    );
}

/// The digest holds no score write while it reads its figures: payments
/// recorded while the digest waits (here on a lock on `alerts`, which it
/// reads last) are answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_records_payments_while_the_digest_reads_its_figures() {
    let name = "postgres_records_payments_while_the_digest_reads_its_figures";
    if !crate::helpers::postgres_configured(name) {
        return;
    }
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (app, _clock, grace, _) = after_a_first_digest(Backend::Postgres).await;
    let rules = rules();
    let day1 = at("2026-11-20T08:00:00Z");

    let blocker = app.db().begin().await.expect("begin");
    blocker
        .execute_unprepared("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let day2 = day1 + TimeDelta::days(1);
    let db = app.db().clone();
    let making =
        tokio::spawn(async move { digest::make(&db, &rules, day2.date_naive(), day2).await });
    let mut waiting = 0;
    for _ in 0..100 {
        waiting = crate::helpers::count(
            app.db(),
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await;
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 1, "the digest waits on the lock");

    // Payments that leave Grace low (a change of level would raise an alert,
    // and `alerts` is what the test locked).
    let paid = async {
        for date in ["2026-11-01", "2026-11-03", "2026-11-05"] {
            let answer = pay(&app, &grace, "SUCCESS", &format!("{date}T10:00:00Z")).await;
            assert_eq!(answer["riskLevel"], "LOW", "{answer}");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), paid)
        .await
        .expect("the payments are recorded while the digest reads");
    assert!(!making.is_finished(), "the digest still waits");

    blocker.commit().await.expect("release");
    let second = making.await.expect("join").expect("second digest");
    assert!(second.made);
    let payments = crate::helpers::count(
        app.db(),
        &format!("SELECT count(*) FROM subscription_payments WHERE user_id = {grace}"),
    )
    .await;
    assert_eq!(payments, 6, "none was lost");
}

backend_tests!(reverting_migration_13_keeps_the_baselines_of_the_last_digest);
async fn reverting_migration_13_keeps_the_baselines_of_the_last_digest(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    let (app, _clock, grace, _) = after_a_first_digest(backend).await;
    fail_five_times(&app, &grace).await;

    // Down to migration 12: migration 13 and those after it reverted.
    let migrations = Migrator::migrations();
    let thirteenth = migrations
        .iter()
        .position(|m| m.name().contains("_000013_"))
        .expect("migration 13");
    let steps = u32::try_from(migrations.len() - thirteenth).expect("steps");
    Migrator::down(app.db(), Some(steps)).await.expect("down");

    let changed = "SELECT count(*) FROM risk_scores \
         WHERE baseline_score IS NULL OR baseline_score <> score OR baseline_level <> level";
    assert_eq!(
        crate::helpers::count(app.db(), changed).await,
        1,
        "{backend:?}: only Grace's score changed since the last digest"
    );
    let was_low = format!(
        "SELECT count(*) FROM risk_scores WHERE user_id = {grace} AND baseline_level = 'low'"
    );
    assert_eq!(
        crate::helpers::count(app.db(), &was_low).await,
        1,
        "{backend:?}"
    );
}
