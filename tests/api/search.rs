//! The risky list's search (SPEC §4 `riskyUsers(search:)`): whatever index
//! answers it (SQLite's FTS5 trigram table, PostgreSQL's `pg_trgm`), it
//! finds exactly what a scan of every user finds, in the list's order, after
//! inserts, changes of name and email, and deletes; for terms of one, two
//! and more characters, in any case, with LIKE's wildcards and escape
//! character and quotes taken literally.

use std::collections::HashMap;

use entity::{risk_scores, users};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::internals::{MinScore, RiskyFilter, store};
use crate::helpers::{Backend, TestApp, backend_tests};

const UPSERT: &str = "mutation($input: UserInput!) { upsertUser(input: $input) { id } }";

const SEARCH: &str = r#"
query($search: String, $after: String) {
  riskyUsers(first: 7, after: $after, search: $search, minScore: 0) {
    pageInfo { hasNextPage endCursor }
    edges { node { user { id } } }
  }
}"#;

/// The terms searched at each step: one and two characters (no trigram),
/// three and more, upper case, wildcards and quotes, the longest allowed.
const TERMS: &[&str] = &[
    // one character
    "a",
    "Z",
    "%",
    "_",
    "\\",
    "'",
    "\"",
    "@",
    ".",
    "é",
    // two
    "sm",
    "SM",
    "%r",
    "_n",
    "\\s",
    "o'",
    "\"z",
    "xy",
    "ab",
    // three and more
    "smi",
    "SMITH",
    "mith",
    "o'brien",
    "O'BRIEN",
    "100%",
    "0% r",
    "real_name",
    "l_n",
    "r%l",
    "1_0",
    "back\\slash",
    "k\\s",
    "\"z\"",
    "z\" s",
    "ann.o'brien@",
    "@example.com",
    "EXAMPLE.NET",
    "josé",
    "müller",
    "é m",
    "plain",
    "smith-jones",
    "new o'",
    "%%%",
    "___",
    "\\\\\\",
    "nobody has this",
];

/// A user written through `upsertUser`; returns its id.
async fn upsert(app: &TestApp, external_id: &str, name: &str, email: &str) -> i64 {
    let input = json!({ "externalId": external_id, "name": name, "email": email });
    let response = app.graphql(UPSERT, json!({ "input": input })).await;
    assert!(response["errors"].is_null(), "{name}: {response}");
    response["data"]["upsertUser"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id")
}

/// The ids the list shows for `term`, walked page by page.
async fn listed(app: &TestApp, term: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .graphql(SEARCH, json!({ "search": term, "after": after }))
            .await;
        assert!(response["errors"].is_null(), "{term:?}: {response}");
        let list = &response["data"]["riskyUsers"];
        for edge in list["edges"].as_array().expect("edges") {
            let id: &Value = &edge["node"]["user"]["id"];
            ids.push(id.as_str().and_then(|id| id.parse().ok()).expect("an id"));
        }
        if list["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = list["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// Every term's list against a scan done here: the active scored users
/// whose lower-cased name or email holds the lower-cased term, highest
/// score first, ties by id; and the list's count (uncached) the same.
async fn search_matches_a_scan(app: &TestApp, backend: Backend, when: &str) {
    let users = users::Entity::find().all(app.db()).await.expect("users");
    let scores: HashMap<i64, risk_scores::Model> = risk_scores::Entity::find()
        .all(app.db())
        .await
        .expect("scores")
        .into_iter()
        .map(|s| (s.user_id, s))
        .collect();
    for term in TERMS {
        let needle = term.to_lowercase();
        let mut expected: Vec<(f64, i64)> = users
            .iter()
            .filter(|u| {
                u.name.to_lowercase().contains(&needle) || u.email.to_lowercase().contains(&needle)
            })
            .filter_map(|u| scores.get(&u.id).filter(|s| s.is_active))
            .map(|s| (s.score, s.user_id))
            .collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();

        assert_eq!(
            listed(app, term).await,
            expected,
            "{backend:?}, {when}: the list for {term:?}"
        );
        let filter = RiskyFilter {
            min_score: MinScore::parse(0.0, "minScore").expect("a score"),
            search: Some((*term).to_owned()),
            ..RiskyFilter::default()
        };
        let count = store::risk_scores::risky_count(app.db(), &filter)
            .await
            .expect("count");
        assert_eq!(
            count,
            expected.len() as u64,
            "{backend:?}, {when}: the count for {term:?}"
        );
    }
}

/// On SQLite, FTS5's own check that its index holds exactly the users'
/// names and emails (rank 1: against the content table). On PostgreSQL,
/// every score row's copies of its user's lower-cased name and email
/// (migration 12) equal them.
async fn index_agrees_with_users(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            app.db()
                .execute_unprepared(
                    "INSERT INTO users_fts (users_fts, rank) VALUES ('integrity-check', 1)",
                )
                .await
                .expect("the FTS index matches the users table");
        }
        Backend::Postgres => {
            assert_eq!(stale_search_copies(app).await, 0, "every copy is current");
        }
    }
}

/// PostgreSQL: the score rows whose `search_name` or `search_email` is not
/// its user's `lower(name)` or `lower(email)`.
async fn stale_search_copies(app: &TestApp) -> i64 {
    crate::helpers::count(
        app.db(),
        "SELECT count(*) FROM risk_scores r JOIN users u ON u.id = r.user_id \
         WHERE r.search_name IS DISTINCT FROM lower(u.name) \
         OR r.search_email IS DISTINCT FROM lower(u.email)",
    )
    .await
}

backend_tests!(a_search_finds_what_a_scan_finds_through_inserts_renames_and_deletes);
async fn a_search_finds_what_a_scan_finds_through_inserts_renames_and_deletes(backend: Backend) {
    // Arrange: demo users, then users whose names and emails hold what a
    // LIKE pattern or an FTS5 query would misread.
    let app = TestApp::spawn(backend).await;
    app.seed(40).await;
    let crafted = [
        ("ext-1", "Ann O'Brien", "ann.o'brien@example.com"),
        ("ext-2", "Zed \"Z\" Smithers", "zed.\"z\"@example.com"),
        ("ext-3", "100% Real_Name", "pct_100%@example.com"),
        ("ext-4", "Back\\slash Tom", "back\\slash@example.com"),
        ("ext-5", "A", "a@b.co"),
        ("ext-6", "José Müller", "jose.muller@example.com"),
        ("ext-7", "XY", "xy@example.org"),
        ("ext-8", "SMITH John", "JOHN.SMITH@EXAMPLE.NET"),
        ("ext-9", "realXname", "r.x@example.com"),
    ];
    let mut ids = HashMap::new();
    for (external_id, name, email) in crafted {
        ids.insert(external_id, upsert(&app, external_id, name, email).await);
    }

    // Act + Assert: after inserts
    search_matches_a_scan(&app, backend, "after inserts").await;
    index_agrees_with_users(&app, backend).await;

    // New names and emails (the same users, found by external id), and a
    // rewrite that changes neither.
    upsert(
        &app,
        "ext-1",
        "Ann Smith-Jones",
        "ann.smithjones@example.com",
    )
    .await;
    upsert(&app, "ext-3", "Plain Name", "plain@example.com").await;
    upsert(&app, "ext-5", "AB", "ab@b.co").await;
    upsert(&app, "ext-7", "XY", "xy@example.org").await;
    upsert(&app, "ext-10", "New O'Smith", "new.o'smith@example.com").await;
    search_matches_a_scan(&app, backend, "after renames").await;
    index_agrees_with_users(&app, backend).await;

    // Deletes (nothing in the service deletes a user; an operator may).
    for external_id in ["ext-2", "ext-4", "ext-8"] {
        let id = ids[external_id];
        for sql in [
            format!("DELETE FROM risk_scores WHERE user_id = {id}"),
            format!("DELETE FROM users WHERE id = {id}"),
        ] {
            app.db().execute_unprepared(&sql).await.expect(&sql);
        }
    }
    search_matches_a_scan(&app, backend, "after deletes").await;
    index_agrees_with_users(&app, backend).await;
}

backend_tests!(the_longest_search_is_served_and_finds_its_user);
async fn the_longest_search_is_served_and_finds_its_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let name = "Lo%ng_'\"\\x".repeat(20);
    assert_eq!(name.chars().count(), 200);
    let id = upsert(&app, "ext-long", &name, "long@example.com").await;
    assert_eq!(
        listed(&app, &name.to_uppercase()).await,
        vec![id],
        "{backend:?}"
    );
    let other = format!("{}y", &name[..199]);
    assert_eq!(listed(&app, &other).await, Vec::<i64>::new(), "{backend:?}");
}

/// PostgreSQL: a name that fills a page within the list's first rows is
/// answered from the copies in `risk_scores` (walking the list's order
/// inside its index), a rare one from the trigram indexes; both give what a
/// scan gives, page after page. Blanking one matching user's copies (what a
/// broken trigger would leave) hides that user from the common name's
/// list only, which shows which path answered each.
#[tokio::test]
async fn postgres_pages_a_common_name_from_the_scores_and_a_rare_one_from_the_trigrams() {
    let name = "postgres_pages_a_common_name_from_the_scores_and_a_rare_one_from_the_trigrams";
    if !crate::helpers::postgres_configured(name) {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    app.seed(30).await;
    let mut smiths = Vec::new();
    for i in 0..25 {
        let name = format!("Pat Quixmith {i}");
        smiths.push(
            upsert(
                &app,
                &format!("smith-{i}"),
                &name,
                &format!("pat{i}@example.com"),
            )
            .await,
        );
    }
    let rare = upsert(&app, "rare", "Quentin Zyx", "qz@example.org").await;
    search_matches_a_scan(&app, Backend::Postgres, "seeded and written").await;
    assert_eq!(stale_search_copies(&app).await, 0);

    // The common name: every one of them, 7 to a page.
    let mut listed_smiths = listed(&app, "QUIXMITH").await;
    listed_smiths.sort_unstable();
    assert_eq!(listed_smiths, smiths);

    let hidden = smiths[0];
    for id in [hidden, rare] {
        app.db()
            .execute_unprepared(&format!(
                "UPDATE risk_scores SET search_name = '', search_email = '' WHERE user_id = {id}"
            ))
            .await
            .expect("blank the copies");
    }
    let after = listed(&app, "quixmith").await;
    assert!(
        !after.contains(&hidden),
        "the walk answered the common name"
    );
    assert_eq!(after.len(), smiths.len() - 1);
    assert_eq!(
        listed(&app, "zyx").await,
        vec![rare],
        "the trigram indexes answered the rare one"
    );
}

backend_tests!(a_list_page_decodes_every_column_as_the_orm_reads_it);
/// The list's rows are decoded by position: each column of the score and
/// of its user lands in its own field, every field distinct here, with and
/// without a search.
async fn a_list_page_decodes_every_column_as_the_orm_reads_it(backend: Backend) {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let app = TestApp::spawn(backend).await;
    app.seed(40).await;
    // Arrange: the nullable columns that a seed leaves empty hold values of
    // their own, so that two columns read in each other's place differ.
    app.db()
        .execute_unprepared(
        "UPDATE risk_scores SET baseline_score = score / 2, previous_score = score / 3, \
         baseline_level = 'low', previous_level = 'medium', succeeded_payments = total_payments + 7, \
         next_change_at = computed_at, currency = 'EUR'",
    )
    .await
    .expect("update the scores");
    app.db()
        .execute_unprepared("UPDATE users SET external_id = 'ext-' || email")
        .await
        .expect("update the users");

    for search in [None, Some("a")] {
        let filter = RiskyFilter {
            min_score: MinScore::parse(0.0, "minScore").expect("a score"),
            search: search.map(str::to_owned),
            ..RiskyFilter::default()
        };
        let page = store::risk_scores::risky_page(app.db(), &filter, None, 100)
            .await
            .expect("a page");
        let mut read = risk_scores::Entity::find()
            .find_also_related(users::Entity)
            .filter(risk_scores::Column::IsActive.eq(true))
            .order_by_desc(risk_scores::Column::Score)
            .order_by_asc(risk_scores::Column::UserId)
            .all(app.db())
            .await
            .expect("the rows")
            .into_iter()
            .map(|(score, user)| (score, user.expect("a user")))
            .collect::<Vec<_>>();
        if let Some(term) = search {
            read.retain(|(_, user)| {
                user.name.to_lowercase().contains(term) || user.email.to_lowercase().contains(term)
            });
        }
        assert!(page.len() > 5, "{backend:?}: a page of rows");
        assert_eq!(page, read, "{backend:?}, search {search:?}");
    }
}
