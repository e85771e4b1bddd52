//! `/console/risky-users`: the risky list with every filter the API has, in
//! the URL (SPEC §11: `min_score`, `level`, `pattern`, `plan`, `q`, `after`,
//! `page_size`), paged by the keyset cursor to the end of the list, with the
//! filtered list's total and its exports.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use sea_orm::DatabaseConnection;

use super::Ctx;
use super::layout::{self, Nav, count, percent};
use crate::domain::{ListCursor, RiskyFilter};
use crate::error::{AppError, AppResult};
use crate::rest::params;
use crate::risk::{RiskLevel, RiskPattern};
use crate::service::queries::{self, RiskyPage};
use crate::service::stats_cache::StatsCache;

/// The page sizes offered; the first is the default.
const PAGE_SIZES: [u64; 3] = [50, 20, 100];

/// The list's query string, parsed.
struct ListQuery {
    filter: RiskyFilter,
    after: Option<ListCursor>,
    page_size: u64,
    /// The filter's own parameters as given (blank ones dropped), to build
    /// links that keep them.
    kept: Vec<(String, String)>,
}

/// The filter names of SPEC §11, in the order links write them.
const FILTERS: [&str; 5] = ["min_score", "level", "pattern", "plan", "q"];

/// Reads the query string. A blank field (an empty select or search box)
/// filters nothing; anything else must be valid, with the export's rules.
fn parse(query: &HashMap<String, String>) -> AppResult<ListQuery> {
    let given: HashMap<String, String> = FILTERS
        .iter()
        .filter_map(|name| {
            let value = query.get(*name)?.trim();
            (!value.is_empty()).then(|| ((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let filter = params::export(&given).map_err(|invalid| {
        let first = invalid.0.first();
        AppError::bad_input(
            first
                .and_then(|i| i.loc.get(1))
                .map_or("query", String::as_str),
            first.map_or_else(String::new, |i| format!("{} (given {:?})", i.msg, i.input)),
        )
    })?;
    let after =
        match query.get("after").map(|a| a.trim()) {
            None | Some("") => None,
            Some(text) => Some(ListCursor::decode(text).ok_or_else(|| {
                AppError::bad_input("after", "that is not a position in this list")
            })?),
        };
    let page_size = match query.get("page_size").map(|s| s.trim()) {
        None | Some("") => PAGE_SIZES[0],
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| PAGE_SIZES.contains(n))
            .ok_or_else(|| AppError::bad_input("page_size", "choose 20, 50 or 100 rows"))?,
    };
    let kept = FILTERS
        .iter()
        .filter_map(|name| given.get(*name).map(|v| ((*name).to_owned(), v.clone())))
        .collect();
    Ok(ListQuery {
        filter,
        after,
        page_size,
        kept,
    })
}

/// `path?pairs`, encoded.
fn link(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    format!("{path}?{}", query.finish())
}

/// `GET /console/risky-users`.
pub async fn risky_users(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(stats): State<Arc<StatsCache>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let list = match parse(&query) {
        Ok(list) => list,
        Err(error) => return layout::failure(&ctx, Nav::Risky, &error),
    };
    let page = queries::risky_users(&db, &list.filter, list.page_size, list.after);
    let total = stats.total(&db, &list.filter);
    match futures::try_join!(page, total) {
        Ok((page, total)) => {
            let body = view(&list, &page, total);
            layout::page(&ctx, StatusCode::OK, "Risky users", Nav::Risky, body)
        }
        Err(error) => layout::failure(&ctx, Nav::Risky, &error),
    }
}

fn filters(list: &ListQuery) -> Markup {
    let value = |name: &str| {
        list.kept
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let level = list.filter.level;
    let pattern = list.filter.pattern;
    html! {
        form.filters.panel method="get" action="/console/risky-users" role="search" aria-label="Filter the list" {
            div.field {
                label for="f-q" { "Name or email" }
                input #f-q type="search" name="q" value=(value("q")) maxlength="200" placeholder="e.g. smith";
            }
            div.field {
                label for="f-min" { "Minimum score" }
                input #f-min type="number" name="min_score" min="0" max="1" step="0.05"
                    value=(format!("{}", list.filter.min_score.get()));
            }
            div.field {
                label for="f-level" { "Level" }
                select #f-level name="level" {
                    option value="" { "any" }
                    @for l in RiskLevel::ALL {
                        option value=(l.as_str()) selected[level == Some(l)] { (l.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-pattern" { "Pattern" }
                select #f-pattern name="pattern" {
                    option value="" { "any" }
                    @for p in RiskPattern::all() {
                        option value=(p.as_str()) selected[pattern == Some(*p)] { (layout::pattern_label(*p)) }
                    }
                }
            }
            div.field {
                label for="f-plan" { "Plan" }
                input #f-plan type="text" name="plan" value=(value("plan")) maxlength="50" placeholder="e.g. basic";
            }
            div.field {
                label for="f-size" { "Rows per page" }
                select #f-size name="page_size" {
                    @for n in [20u64, 50, 100] {
                        option value=(n) selected[list.page_size == n] { (n) }
                    }
                }
            }
            div.actions {
                button type="submit" { "Apply" }
                a.button.secondary href="/console/risky-users" { "Clear" }
            }
        }
    }
}

fn view(list: &ListQuery, page: &RiskyPage, total: u64) -> Markup {
    let mut next = list.kept.clone();
    if list.page_size != PAGE_SIZES[0] {
        next.push(("page_size".to_owned(), list.page_size.to_string()));
    }
    let first_page = link("/console/risky-users", &next);
    let next_link = page.rows.last().filter(|_| page.has_next_page).map(|row| {
        let mut pairs = next.clone();
        pairs.push(("after".to_owned(), row.cursor().encode()));
        link("/console/risky-users", &pairs)
    });
    html! {
        h1 { "Risky users" }
        p.sub {
            "Active users at or above the minimum score, highest first. "
            span data-total=(total) { strong { (count(total)) } " match" @if total == 1 { "es" } " these filters." }
        }
        (filters(list))
        div.pager {
            span {
                @if list.after.is_some() {
                    a href=(first_page) { "← First page" } " · "
                }
                (page.rows.len()) " rows on this page"
            }
            span {
                "Export the whole filtered list: "
                a data-export="csv" href=(link("/api/export/risky-users.csv", &list.kept)) download { "CSV" } " · "
                a data-export="json" href=(link("/api/export/risky-users.json", &list.kept)) download { "JSON" }
            }
        }
        @if page.rows.is_empty() {
            div.panel { p { "No user matches these filters." } }
        } @else {
            div.table-wrap {
                table.cards.risky {
                    caption.visually-hidden { "Risky users, highest score first" }
                    thead {
                        tr {
                            th scope="col" { "User" }
                            th.num scope="col" { "Score" }
                            th scope="col" { "Level" }
                            th scope="col" { "Patterns" }
                            th.num scope="col" { "Failure rate" }
                            th.num scope="col" { "Failed / total" }
                            th scope="col" { "Plan" }
                            th.num scope="col" { "Monthly" }
                            th scope="col" { "Since" }
                        }
                    }
                    tbody {
                        @for row in &page.rows {
                            tr data-user-id=(row.user.id) {
                                td.lead data-label="User" {
                                    a href={ "/console/users/" (row.user.id) } { (row.user.name) }
                                    br;
                                    span.muted { (row.user.email) }
                                }
                                td.num data-label="Score" data-score=(row.score.score) { (layout::score(row.score.score)) }
                                td data-label="Level" { (layout::level_badge(row.level())) }
                                td data-label="Patterns" {
                                    @let patterns = row.patterns();
                                    span {
                                        @for p in &patterns { span.tag { (layout::pattern_label(*p)) } }
                                        @if patterns.is_empty() { span.muted { "none" } }
                                    }
                                }
                                td.num data-label="Failure rate" { (percent(row.score.failure_rate)) }
                                td.num data-label="Failed / total" { (row.score.failed_payments) " / " (row.score.total_payments) }
                                td data-label="Plan" { (row.score.subscription_type.as_deref().unwrap_or("—")) }
                                td.num data-label="Monthly" {
                                    @match (row.score.monthly_amount_cents, row.score.currency.as_deref()) {
                                        (Some(cents), Some(currency)) => (layout::money(cents, currency)),
                                        _ => "—",
                                    }
                                }
                                td data-label="Since" { (layout::day(row.user.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        div.pager {
            span {}
            @if let Some(next_link) = next_link {
                a.button rel="next" href=(next_link) { "Next page →" }
            } @else if !page.rows.is_empty() {
                span.muted data-end="true" { "End of the list." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn blank_fields_filter_nothing_and_bad_ones_are_named() {
        let list = parse(&query(&[("level", ""), ("q", " "), ("min_score", "0.7")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.filter.level, None);
        assert_eq!(list.filter.search, None);
        assert_eq!(list.filter.min_score.get(), 0.7);
        assert_eq!(list.page_size, 50);
        let error = parse(&query(&[("level", "severe")]))
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.starts_with("level:")));
        assert!(parse(&query(&[("page_size", "7")])).is_err());
        assert!(parse(&query(&[("after", "nonsense")])).is_err());
    }

    #[test]
    fn links_keep_the_filters_encoded() {
        let pairs = vec![
            ("q".to_owned(), "o'neil & co".to_owned()),
            ("level".to_owned(), "high".to_owned()),
        ];
        assert_eq!(
            link("/console/risky-users", &pairs),
            "/console/risky-users?q=o%27neil+%26+co&level=high"
        );
        assert_eq!(link("/x", &[]), "/x");
    }
}
