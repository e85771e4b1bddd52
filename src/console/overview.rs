//! `/console`: the overview (the legacy dashboard's "Vue d'ensemble"), every
//! figure from the statistics snapshot that GraphQL's `stats` serves.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use sea_orm::DatabaseConnection;

use super::Ctx;
use super::charts::{self, Bar};
use super::layout::{self, Nav, count, percent};
use crate::clock::SharedClock;
use crate::risk::RiskLevel;
use crate::service::queries::SystemStats;
use crate::service::stats_cache::StatsCache;

/// The days of failure trend shown.
const TREND_DAYS: i64 = 30;

/// `GET /console`.
pub async fn overview(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(stats): State<Arc<StatsCache>>,
    State(clock): State<SharedClock>,
) -> Response {
    match stats.get(&db, &db, TREND_DAYS).await {
        Ok(stats) => {
            let body = view(&stats, clock.now());
            layout::page(&ctx, StatusCode::OK, "Overview", Nav::Overview, body)
        }
        Err(error) => layout::failure(&ctx, Nav::Overview, &error),
    }
}

fn bar_class(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "bar-low",
        RiskLevel::Medium => "bar-medium",
        RiskLevel::High => "bar-high",
        RiskLevel::Critical => "bar-critical",
    }
}

/// One bar per level, coloured as the level.
fn per_level(counts: &[(RiskLevel, u64)]) -> Vec<Bar> {
    counts
        .iter()
        .map(|(level, n)| Bar {
            label: level.as_str().to_owned(),
            value: *n as f64,
            shown: count(*n),
            class: bar_class(*level),
        })
        .collect()
}

fn figure(key: &str, label: &str, value: String, raw: String, extra: Option<String>) -> Markup {
    html! {
        div.figure {
            dt { (label) }
            dd data-figure=(key) data-value=(raw) {
                (value)
                @if let Some(extra) = extra { " " small { (extra) } }
            }
        }
    }
}

fn view(stats: &SystemStats, now: chrono::DateTime<chrono::Utc>) -> Markup {
    let share = if stats.active_users == 0 {
        0.0
    } else {
        stats.high_risk_users as f64 / stats.active_users as f64
    };
    let level_bars = per_level(&stats.levels);
    let histogram: Vec<Bar> = stats
        .histogram
        .iter()
        .enumerate()
        .map(|(i, n)| Bar {
            label: format!("{:.1}", i as f64 / 10.0),
            value: *n as f64,
            shown: count(*n),
            class: "bar",
        })
        .collect();
    let plans: Vec<Bar> = stats
        .high_risk_by_plan
        .iter()
        .map(|(plan, n)| Bar {
            label: plan.clone().unwrap_or_else(|| "no plan".to_owned()),
            value: *n as f64,
            shown: count(*n),
            class: "bar-high",
        })
        .collect();
    let cases = per_level(&stats.open_cases);
    let trend: Vec<(String, f64)> = stats
        .failure_trend
        .iter()
        .map(|d| (d.day.format("%m-%d").to_string(), d.failure_rate()))
        .collect();
    html! {
        h1 { "Overview" }
        p.sub data-stats-age=(stats.computed_at.to_rfc3339()) {
            "Statistics computed " (layout::age(stats.computed_at, now)) " ago ("
            (layout::instant(stats.computed_at)) "); they refresh every few seconds."
        }
        dl.figures {
            (figure("total-users", "Users", count(stats.total_users), stats.total_users.to_string(), None))
            (figure("active-users", "Active users", count(stats.active_users), stats.active_users.to_string(), None))
            (figure("high-risk-users", "High-risk users", count(stats.high_risk_users), stats.high_risk_users.to_string(),
                Some(format!("{} of active", percent(share)))))
            (figure("failure-rate", "Payment failure rate", percent(stats.overall_failure_rate), stats.overall_failure_rate.to_string(),
                Some(format!("{} of {}", count(stats.failed_payments), count(stats.total_payments)))))
            (figure("avg-score", "Average score", layout::score(stats.avg_risk_score), stats.avg_risk_score.to_string(), None))
        }
        div.grid {
            section.panel aria-labelledby="levels-title" {
                h2 #levels-title { "Active users per level" }
                (charts::bars("Active users per level", &level_bars))
                ul.visually-hidden {
                    @for (level, n) in &stats.levels {
                        li data-level-count=(level.as_str()) data-value=(n) { (level.as_str()) ": " (n) }
                    }
                }
                p { a href="/console/risky-users?level=critical" { "See the critical users" } }
            }
            section.panel aria-labelledby="cases-title" {
                h2 #cases-title { "Open cases per level" }
                (charts::bars("Open and acknowledged cases per level", &cases))
                ul.visually-hidden {
                    @for (level, n) in &stats.open_cases {
                        li data-open-cases=(level.as_str()) data-value=(n) { (level.as_str()) ": " (n) }
                    }
                }
                p { a href="/console/cases" { "Work the case queue" } }
            }
            section.panel aria-labelledby="histogram-title" {
                h2 #histogram-title { "Score distribution" }
                (charts::columns("Active users per tenth of score, from 0.0 to 1.0", &histogram))
                ul.visually-hidden {
                    @for (i, n) in stats.histogram.iter().enumerate() {
                        li data-bucket=(i) data-value=(n) {
                            (format!("{:.1}–{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0)) ": " (n)
                        }
                    }
                }
            }
            section.panel aria-labelledby="plans-title" {
                h2 #plans-title { "High-risk users per plan" }
                @if plans.is_empty() {
                    p.muted { "No active user is at the high level or above." }
                } @else {
                    (charts::bars("High-risk users per plan", &plans))
                }
                ul.visually-hidden {
                    @for (plan, n) in &stats.high_risk_by_plan {
                        li data-plan=(plan.as_deref().unwrap_or("")) data-value=(n) {
                            (plan.as_deref().unwrap_or("no plan")) ": " (n)
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="trend-title" {
            h2 #trend-title { "Daily payment failure rate, last " (TREND_DAYS) " days" }
            (charts::trend("Share of payments that failed or were declined, per UTC day", &trend))
            details {
                summary { "The figures per day" }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Day" } th.num scope="col" { "Payments" } th.num scope="col" { "Failed" } th.num scope="col" { "Rate" } } }
                        tbody {
                            @for d in stats.failure_trend.iter().rev() {
                                tr data-day=(d.day.format("%Y-%m-%d")) data-rate=(d.failure_rate()) {
                                    td { (d.day.format("%Y-%m-%d")) }
                                    td.num { (count(d.payments)) }
                                    td.num { (count(d.failed)) }
                                    td.num { (percent(d.failure_rate())) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
