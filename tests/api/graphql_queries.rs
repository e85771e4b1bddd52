//! GraphQL queries over real HTTP: the risky list walked to its end, its
//! filters, one user's analysis, the statistics, and their errors.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use entity::{risk_scores, users};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::internals::{StatsCache, stats_cache};
use crate::helpers::{Backend, TestApp, backend_tests, error_code, instant, stored_score};

const PAGE: &str = r#"
query Page($first: Int, $after: String, $level: RiskLevel, $pattern: RiskPattern,
           $search: String, $plan: String, $min: Float) {
  riskyUsers(first: $first, after: $after, level: $level, pattern: $pattern,
             search: $search, subscriptionType: $plan, minScore: $min) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { user { id name email isActive } riskScore riskLevel patterns
                           subscriptionType monthlyAmount totalPayments failedPayments failureRate } }
  }
}"#;

/// Walks the list to its end; returns every node and the reported total.
async fn walk(app: &TestApp, first: i64, filters: Value) -> (Vec<Value>, i64) {
    let mut nodes = Vec::new();
    let mut after: Option<String> = None;
    let mut total = None;
    for _ in 0..1000 {
        let mut vars = filters.clone();
        vars["first"] = json!(first);
        vars["after"] = json!(after);
        let response = app.graphql(PAGE, vars).await;
        assert!(response["errors"].is_null(), "{response}");
        let list = &response["data"]["riskyUsers"];
        let this_total = list["totalCount"].as_i64().expect("totalCount");
        assert_eq!(
            *total.get_or_insert(this_total),
            this_total,
            "totalCount is stable across pages"
        );
        let edges = list["edges"].as_array().expect("edges");
        assert!(edges.len() as i64 <= first);
        nodes.extend(edges.iter().map(|e| e["node"].clone()));
        if !list["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage")
        {
            return (nodes, this_total);
        }
        after = list["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    panic!("the list never ended");
}

backend_tests!(the_risky_list_walked_to_its_end_has_no_gap_no_repeat_and_the_right_total);
async fn the_risky_list_walked_to_its_end_has_no_gap_no_repeat_and_the_right_total(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.seed(150).await;

    let (nodes, total) = walk(&app, 7, json!({})).await;

    // The database's own answer: active users at or above 0.4.
    let expected: Vec<i64> = {
        let mut rows: Vec<(f64, i64)> = risk_scores::Entity::find()
            .filter(risk_scores::Column::IsActive.eq(true))
            .filter(risk_scores::Column::Score.gte(0.4))
            .all(app.db())
            .await
            .expect("scores")
            .into_iter()
            .map(|r| (r.score, r.user_id))
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        rows.into_iter().map(|(_, id)| id).collect()
    };
    let ids: Vec<i64> = nodes
        .iter()
        .map(|n| {
            n["user"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("numeric")
        })
        .collect();
    assert!(
        expected.len() > 20,
        "{backend:?}: enough risky users to span pages"
    );
    assert_eq!(
        ids, expected,
        "{backend:?}: every risky user once, highest first, ties by id"
    );
    assert_eq!(total as usize, expected.len(), "{backend:?}: totalCount");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no repeats"
    );
    assert!(nodes.iter().all(|n| n["user"]["isActive"] == json!(true)));
}

backend_tests!(the_risky_list_filters_by_level_pattern_plan_and_search);
async fn the_risky_list_filters_by_level_pattern_plan_and_search(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(100).await;

    let (critical, _) = walk(&app, 50, json!({ "level": "CRITICAL" })).await;
    assert!(!critical.is_empty(), "{backend:?}");
    assert!(
        critical
            .iter()
            .all(|n| n["riskLevel"] == "CRITICAL" && n["riskScore"].as_f64() >= Some(0.7))
    );

    let (downgrades, _) = walk(&app, 50, json!({ "pattern": "DOWNGRADE", "min": 0.0 })).await;
    assert!(!downgrades.is_empty());
    assert!(downgrades.iter().all(|n| {
        n["patterns"]
            .as_array()
            .expect("patterns")
            .contains(&json!("DOWNGRADE"))
    }));

    let (basic, _) = walk(&app, 50, json!({ "plan": "BASIC", "min": 0.0 })).await;
    assert!(!basic.is_empty());
    assert!(
        basic.iter().all(|n| n["subscriptionType"] == "basic"),
        "plan filter ignores case"
    );

    // Search: part of one user's name, in another case, finds them.
    let someone = users::Entity::find_by_id(3)
        .one(app.db())
        .await
        .expect("query")
        .expect("user 3");
    let surname = someone
        .name
        .split_whitespace()
        .last()
        .expect("a surname")
        .to_uppercase();
    let (found, total) = walk(&app, 50, json!({ "search": surname, "min": 0.0 })).await;
    assert!(
        found.iter().any(|n| n["user"]["id"] == "3"),
        "{backend:?}: search by name finds user 3"
    );
    assert_eq!(found.len() as i64, total);
    let local = someone
        .email
        .split('@')
        .next()
        .expect("local part")
        .to_uppercase();
    let (by_email, _) = walk(&app, 50, json!({ "search": local, "min": 0.0 })).await;
    assert!(
        by_email.iter().any(|n| n["user"]["id"] == "3"),
        "search by email"
    );

    // A search with LIKE wildcards matches them literally.
    let (nothing, total) = walk(&app, 50, json!({ "search": "%_%", "min": 0.0 })).await;
    assert!(
        nothing.is_empty() && total == 0,
        "{backend:?}: % and _ are not wildcards"
    );
}

backend_tests!(the_page_cap_and_bad_cursors_are_refused_with_bad_user_input);
async fn the_page_cap_and_bad_cursors_are_refused_with_bad_user_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let too_big = app.graphql(PAGE, json!({ "first": 101 })).await;
    assert_eq!(error_code(&too_big), "BAD_USER_INPUT", "{too_big}");
    assert!(
        too_big["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("100")
    );
    assert_eq!(
        error_code(&app.graphql(PAGE, json!({ "first": -1 })).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(&app.graphql(PAGE, json!({ "after": "not-a-cursor" })).await),
        "BAD_USER_INPUT"
    );
    let ok = app.graphql(PAGE, json!({ "first": 100 })).await;
    assert!(ok["errors"].is_null(), "{ok}");
}

const ANALYSIS: &str = r#"
query Analysis($id: ID!, $asOf: DateTime) {
  userRiskAnalysis(userId: $id, asOf: $asOf) {
    user { id name email } riskScore riskLevel failureRate totalPayments failedPayments successfulPayments
    factors { name value weight contribution detail } patterns messages recommendations asOf
    subscriptions { id subscriptionType status monthlyAmount currency effectiveFrom effectiveUntil }
    recentPayments(first: 3) { id amount currency status paymentDate paymentMethod failureReason }
    alerts { id riskScore riskLevel note }
  }
}"#;

backend_tests!(a_users_analysis_explains_the_score_and_matches_the_legacy_route);
async fn a_users_analysis_explains_the_score_and_matches_the_legacy_route(backend: Backend) {
    // The app's clock stands still: the stored scores, the analysis and the
    // legacy route are all computed at one instant.
    let (app, _clock) = TestApp::spawn_at(backend, Utc::now()).await;
    app.seed(30).await;

    let response = app.graphql(ANALYSIS, json!({ "id": "1" })).await;
    let a = &response["data"]["userRiskAnalysis"];
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(a["user"]["id"], "1");

    // Contributions are weight × value and add up to the score.
    let factors = a["factors"].as_array().expect("factors");
    assert_eq!(factors.len(), 5, "{backend:?}: five inputs");
    let sum: f64 = factors
        .iter()
        .map(|f| f["contribution"].as_f64().expect("contribution"))
        .sum();
    assert!((sum - a["riskScore"].as_f64().expect("score")).abs() < 1e-9);
    for f in factors {
        let (w, v, c) = (
            f["weight"].as_f64(),
            f["value"].as_f64(),
            f["contribution"].as_f64(),
        );
        assert!((w.expect("w") * v.expect("v") - c.expect("c")).abs() < 1e-12);
    }
    assert_eq!(a["recentPayments"].as_array().expect("payments").len(), 3);
    let dates: Vec<DateTime<Utc>> = a["recentPayments"]
        .as_array()
        .expect("p")
        .iter()
        .map(|p| instant(&p["paymentDate"]))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // The same explanation as the REST route.
    let legacy: Value = app
        .get("/api/user/1/risk-analysis")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(a["messages"], legacy["risk_factors"], "{backend:?}");
    assert_eq!(a["recommendations"], legacy["recommendations"]);
    assert_eq!(a["riskScore"], legacy["risk_score"]);

    // The stored score agrees with the analysis.
    let stored = stored_score(app.db(), 1).await;
    assert_eq!(a["riskScore"].as_f64(), Some(stored.score));

    // Unknown user: null, no error. Malformed id: BAD_USER_INPUT.
    let none = app.graphql(ANALYSIS, json!({ "id": "999999" })).await;
    assert!(
        none["data"]["userRiskAnalysis"].is_null() && none["errors"].is_null(),
        "{none}"
    );
    assert_eq!(
        error_code(&app.graphql(ANALYSIS, json!({ "id": "abc" })).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &app.graphql(ANALYSIS, json!({ "id": "1", "asOf": "yesterday" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
}

backend_tests!(an_analysis_as_of_a_past_instant_counts_only_what_existed_then);
async fn an_analysis_as_of_a_past_instant_counts_only_what_existed_then(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(25).await;
    let now = app.graphql(ANALYSIS, json!({ "id": "20" })).await;
    let total_now = now["data"]["userRiskAnalysis"]["totalPayments"]
        .as_i64()
        .expect("total");
    let dates: Vec<String> = {
        let r = app.graphql("query($id: ID!) { userRiskAnalysis(userId: $id) { recentPayments(first: 100) { paymentDate } } }", json!({ "id": "20" })).await;
        r["data"]["userRiskAnalysis"]["recentPayments"]
            .as_array()
            .expect("p")
            .iter()
            .map(|p| p["paymentDate"].as_str().expect("d").to_owned())
            .collect()
    };
    assert!(
        dates.len() >= 4,
        "{backend:?}: a healthy user has 8+ payments"
    );
    // Just after the 3rd newest payment: the two newest did not exist yet.
    let as_of = &dates[2];
    let as_of_instant = instant(&json!(as_of));
    let then = app
        .graphql(ANALYSIS, json!({ "id": "20", "asOf": as_of }))
        .await;
    let t = &then["data"]["userRiskAnalysis"];
    assert_eq!(
        t["totalPayments"].as_i64(),
        Some(total_now - 2),
        "{backend:?}: {then}"
    );
    assert_eq!(
        t["asOf"].as_str().map(|s| s[..19].to_owned()),
        Some(as_of[..19].to_owned())
    );
    assert!(
        t["recentPayments"]
            .as_array()
            .expect("p")
            .iter()
            .all(|p| instant(&p["paymentDate"]) <= as_of_instant)
    );
}

const STATS: &str = r#"
query Stats($days: Int) {
  stats(trendDays: $days) {
    totalUsers activeUsers highRiskUsers totalPayments failedPayments overallFailureRate avgRiskScore
    levels { level count } histogram { from to count } failureTrend { day payments failed failureRate }
  }
}"#;

backend_tests!(stats_count_every_high_risk_user_and_add_up);
async fn stats_count_every_high_risk_user_and_add_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed(300).await;

    // The service reads its clock for the trend's days during this request.
    let before = Utc::now();
    let response = app.graphql(STATS, json!({ "days": 14 })).await;
    let after = Utc::now();
    let s = &response["data"]["stats"];
    assert!(response["errors"].is_null(), "{response}");
    let users = users::Entity::find().count(app.db()).await.expect("count");
    assert_eq!(s["totalUsers"].as_u64(), Some(users));
    let active = s["activeUsers"].as_i64().expect("active");
    let high = s["highRiskUsers"].as_i64().expect("high");
    assert!(
        high > 100,
        "{backend:?}: not capped at 100 like the legacy ({high})"
    );

    // The same number as the risky list at the high threshold.
    let list = app.graphql(PAGE, json!({ "first": 1, "min": 0.4 })).await;
    assert_eq!(
        list["data"]["riskyUsers"]["totalCount"].as_i64(),
        Some(high)
    );

    let levels: i64 = s["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l["count"].as_i64().expect("n"))
        .sum();
    let buckets: i64 = s["histogram"]
        .as_array()
        .expect("histogram")
        .iter()
        .map(|b| b["count"].as_i64().expect("n"))
        .sum();
    assert_eq!((levels, buckets), (active, active), "{backend:?}");
    let high_levels: i64 = s["levels"]
        .as_array()
        .expect("l")
        .iter()
        .filter(|l| l["level"] == "HIGH" || l["level"] == "CRITICAL")
        .map(|l| l["count"].as_i64().expect("n"))
        .sum();
    assert_eq!(high_levels, high);

    let trend = s["failureTrend"].as_array().expect("trend");
    assert_eq!(trend.len(), 14, "one entry per day");
    // Today by the service's clock: the day of `before` or of `after`, which
    // differ only when the request spans midnight.
    let today = &trend.last().expect("today")["day"];
    let days = [before, after].map(|t| json!(t.format("%Y-%m-%d").to_string()));
    assert!(
        days.contains(today),
        "the last day {today} is today: {days:?}"
    );
    for day in trend {
        let (p, f) = (
            day["payments"].as_i64().expect("p"),
            day["failed"].as_i64().expect("f"),
        );
        let expected = if p == 0 { 0.0 } else { f as f64 / p as f64 };
        assert_eq!(day["failureRate"].as_f64(), Some(expected));
    }
    let (total, failed) = (
        s["totalPayments"].as_f64().expect("t"),
        s["failedPayments"].as_f64().expect("f"),
    );
    assert_eq!(s["overallFailureRate"].as_f64(), Some(failed / total));

    for bad in [0, 367] {
        assert_eq!(
            error_code(&app.graphql(STATS, json!({ "days": bad })).await),
            "BAD_USER_INPUT"
        );
    }
}

#[tokio::test]
async fn stats_are_a_snapshot_refreshed_within_seconds_of_a_change() {
    let (app, clock) = TestApp::spawn_at(Backend::Sqlite, Utc::now()).await;
    app.seed(10).await;
    let query = "{ stats { totalUsers computedAt } }";
    let first = app.graphql(query, json!({})).await;
    assert_eq!(first["data"]["stats"]["totalUsers"], 10, "{first}");

    let input = json!({ "input": { "name": "New Comer", "email": "new.comer@example.com" } });
    let added = app
        .graphql(
            "mutation($input: UserInput!) { upsertUser(input: $input) { id } }",
            input,
        )
        .await;
    assert!(added["errors"].is_null(), "{added}");
    let cached = app.graphql(query, json!({})).await;
    assert_eq!(
        cached, first,
        "served from the snapshot, computedAt unchanged"
    );

    // Past the snapshot's age, a refresh starts and the new user shows.
    clock.advance(TimeDelta::from_std(stats_cache::MAX_AGE).expect("a short span"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 10;
    while Instant::now() < deadline {
        let now = app.graphql(query, json!({})).await;
        seen = now["data"]["stats"]["totalUsers"].as_i64().expect("count");
        if seen == 11 {
            assert!(
                instant(&now["data"]["stats"]["computedAt"])
                    > instant(&first["data"]["stats"]["computedAt"])
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 11, "the snapshot was refreshed within 30 s");
}

backend_tests!(statistics_whose_client_gave_up_are_still_computed_for_the_next_request);
async fn statistics_whose_client_gave_up_are_still_computed_for_the_next_request(backend: Backend) {
    use std::sync::Arc;
    let app = TestApp::spawn(backend).await;
    app.seed(50).await;
    let metrics = stats_cache::SnapshotMetrics::default();
    let computed = metrics.stats_computed.clone();
    let cache = Arc::new(StatsCache::observed(
        risk_monitor::clock::SharedClock::system(),
        metrics,
    ));

    // A client that gives up at once, before anything is cached.
    let gave_up = tokio::time::timeout(Duration::ZERO, cache.get(app.db(), app.db(), 30)).await;
    assert!(
        gave_up.is_err(),
        "{backend:?}: the first request was cancelled"
    );

    // With no request waiting, the computation it started still finishes
    // (the counter moves once the figures are read, not when it starts).
    let deadline = Instant::now() + Duration::from_secs(30);
    while computed.get() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        computed.get(),
        1,
        "{backend:?}: the cancelled request's computation finished"
    );

    // The next request is served by that computation, not a new one.
    let asked = Utc::now();
    let stats = cache.get(app.db(), app.db(), 30).await.expect("stats");
    assert!(
        stats.computed_at < asked,
        "{backend:?}: computed at {}, asked at {asked}",
        stats.computed_at
    );
    assert_eq!(computed.get(), 1, "{backend:?}: no second computation");
    assert_eq!(stats.total_users, 50, "{backend:?}");
}

/// PostgreSQL: the statistics are background work, not bound by a
/// request's budget (the serving pool's statement timeout): a computation
/// that outlasts it (here held up by a lock; at ten million users, by the
/// size of the tables) still finishes and publishes its snapshot, while the
/// request that started it is answered `TIMEOUT`.
#[tokio::test]
async fn statistics_that_outlast_a_requests_budget_are_still_computed() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let name = "statistics_that_outlast_a_requests_budget_are_still_computed";
    if !crate::helpers::postgres_configured(name) {
        return;
    }
    let app = TestApp::spawn_configured(Backend::Postgres, |settings| {
        settings.limits.request_timeout = Duration::from_secs(1);
    })
    .await;
    app.seed(20).await;
    let published = || {
        crate::helpers::count(
            app.db(),
            "SELECT count(*) FROM shared_snapshots WHERE name = 'stats' AND body IS NOT NULL",
        )
    };

    // Arrange: the statistics' counters (migration 14) locked for 2.5 s,
    // past the 1 s budget.
    let lock = app.db().begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE stats_totals IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the counters");

    // Act
    let response: Value = app
        .post_json("/graphql", &json!({ "query": "{ stats { totalUsers } }" }))
        .await
        .json()
        .await
        .expect("json");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        published().await,
        0,
        "nothing computed while the lock holds"
    );
    lock.commit().await.expect("release the lock");

    // Assert
    assert_eq!(error_code(&response), "TIMEOUT", "{response}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while published().await == 0 {
        assert!(
            Instant::now() < deadline,
            "the computation that outlasted the request's budget published no snapshot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = app.graphql("{ stats { totalUsers } }", json!({})).await;
    assert_eq!(stats["data"]["stats"]["totalUsers"], 20, "{stats}");
}

backend_tests!(a_corrupt_stored_level_is_an_internal_error_never_a_default);
async fn a_corrupt_stored_level_is_an_internal_error_never_a_default(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    app.seed(10).await;
    // A level no version of the service writes, as a bad migration or a
    // hand edit could leave it.
    app.db()
        .execute_unprepared("UPDATE risk_scores SET level = 'lowish' WHERE user_id = 1")
        .await
        .expect("corrupt one row");

    let response = app
        .graphql(
            "{ riskyUsers(minScore: 0) { edges { node { riskLevel } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "INTERNAL", "{backend:?}: {response}");
    assert_eq!(
        response["errors"][0]["message"], "internal error",
        "{backend:?}: nothing of the cause reaches the client"
    );
    let legacy = app.get("/api/risky-users?min_risk_score=0").await;
    assert_eq!(
        legacy.status(),
        500,
        "{backend:?}: not a list with a guessed level"
    );
}
