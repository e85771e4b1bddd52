//! `/console/users/{id}`: one user's analysis (the legacy "Analyse
//! détaillée"): score and level, the factors' contributions as bars that add
//! up to the score, the legacy messages and the recommendations, the plan
//! history, the payments as a timeline and a table, the user's cases with
//! their notes, the score as of a past day, and "Send alert".

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{alert_notes, alerts, subscription_payments, user_subscriptions};
use maud::{Markup, html};
use sea_orm::{ActiveEnum, DatabaseConnection};
use serde::Deserialize;

use super::Ctx;
use super::cases::case_card;
use super::charts::{self, Bar, Dot};
use super::layout::{self, Nav, count, percent};
use crate::clock::SharedClock;
use crate::domain::{self, IdempotencyKey, Permission};
use crate::error::{AppError, AppResult};
use crate::risk::ScoringConfig;
use crate::service::alerts::{self as raising, NewAlert};
use crate::service::queries::{self, UserAnalysis};
use crate::service::{Rules, cases};

/// The most payments a page draws and lists.
const PAYMENTS_SHOWN: u64 = 500;

/// `?as_of=` and `?alert=` of a user's page.
#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    /// A past UTC day: the score as it stood at that day's end.
    as_of: Option<String>,
    /// An alert just raised from this page, to confirm.
    alert: Option<String>,
}

/// What a user's page reads, besides the analysis.
struct UserData {
    analysis: UserAnalysis,
    plans: Vec<user_subscriptions::Model>,
    payments: Vec<subscription_payments::Model>,
    cases: Vec<alerts::Model>,
    notes: HashMap<i64, Vec<alert_notes::Model>>,
}

fn user_id(raw: &str) -> AppResult<i64> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("There is no user {raw:?}")))
}

/// The end of `day` (UTC), refused if the day is after today.
fn as_of(raw: Option<&str>, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| AppError::bad_input("as_of", "pick a day on the calendar (YYYY-MM-DD)"))?;
    if day > now.date_naive() {
        return Err(AppError::bad_input(
            "as_of",
            "pick a day up to today: the future has no score yet",
        ));
    }
    Ok(day
        .and_hms_milli_opt(23, 59, 59, 999)
        .map(|end| end.and_utc().min(now)))
}

async fn load(
    db: &DatabaseConnection,
    scoring: &ScoringConfig,
    id: i64,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<UserData> {
    let analysis = queries::user_analysis(db, scoring, id, at, now)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no user with the id {id}")))?;
    let (plans, payments, cases) = futures::try_join!(
        queries::analysis_subscriptions(db, &analysis),
        queries::analysis_payments(db, &analysis, PAYMENTS_SHOWN),
        queries::analysis_alerts(db, &analysis),
    )?;
    let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let notes = cases::notes(db, &ids).await?;
    Ok(UserData {
        analysis,
        plans,
        payments,
        cases,
        notes,
    })
}

/// `GET /console/users/{id}`.
pub async fn user_page(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(scoring): State<ScoringConfig>,
    State(clock): State<SharedClock>,
    Path(raw): Path<String>,
    Query(query): Query<UserQuery>,
) -> Response {
    let now = clock.now();
    let data = match user_id(&raw) {
        Ok(id) => match as_of(query.as_of.as_deref(), now) {
            Ok(at) => load(&db, &scoring, id, at, now).await,
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match data {
        Ok(data) => {
            let title = data.analysis.user.name.clone();
            let body = view(&ctx, &data, query.alert.as_deref(), now);
            layout::page(&ctx, StatusCode::OK, &title, Nav::User, body)
        }
        Err(error) => layout::failure(&ctx, Nav::User, &error),
    }
}

/// The "Send alert" form's fields.
#[derive(Debug, Deserialize)]
pub struct AlertForm {
    /// The page's CSRF token.
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// Why.
    #[serde(default)]
    note: String,
    /// Drawn when the page was rendered: a double submit is one alert.
    #[serde(default)]
    idempotency_key: String,
}

/// `POST /console/users/{id}/alert`: raises a manual alert (agent), then
/// back to the user's page, which confirms it.
pub async fn send_alert(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(rules): State<Rules>,
    State(clock): State<SharedClock>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AlertForm>,
) -> Response {
    let sent = async {
        ctx.check_form(Permission::Alert, &headers, &form.csrf)?;
        let user_id = user_id(&raw)?;
        let input = NewAlert {
            user_id,
            note: domain::note(Some(&form.note))?,
            idempotency_key: Some(IdempotencyKey::parse(&form.idempotency_key)?),
        };
        let sent = raising::send_alert(&db, &rules, input, &ctx.caller, clock.now()).await?;
        Ok::<_, AppError>((user_id, sent))
    }
    .await;
    match sent {
        Ok((user_id, sent)) => {
            Redirect::to(&format!("/console/users/{user_id}?alert={}", sent.alert.id))
                .into_response()
        }
        Err(error) => layout::failure(&ctx, Nav::User, &error),
    }
}

fn view(ctx: &Ctx, data: &UserData, alert: Option<&str>, now: DateTime<Utc>) -> Markup {
    let analysis = &data.analysis;
    let user = &analysis.user;
    let a = &analysis.assessment;
    let sum: f64 = a.factors.iter().map(|f| f.contribution).sum();
    let factor_bars: Vec<Bar> = a
        .factors
        .iter()
        .map(|f| Bar {
            label: f.name.as_str().replace('_', " "),
            value: f.contribution,
            shown: format!("{:+.3}", f.contribution),
            class: if f.contribution < 0.0 {
                "bar-negative"
            } else {
                "bar"
            },
        })
        .collect();
    let raised = alert
        .and_then(|id| id.parse::<i64>().ok())
        .and_then(|id| data.cases.iter().find(|c| c.id == id));
    let dots: Vec<Dot> = data
        .payments
        .iter()
        .map(|p| Dot {
            at: p.payment_date,
            amount: p.amount_cents as f64 / 100.0,
            status: p.status.to_value(),
        })
        .collect();
    let current = data.plans.last();
    html! {
        @if let Some(case) = raised {
            p.notice role="status" data-alert-raised=(case.id) {
                "Alert #" (case.id) " was raised on " (user.name) " and queued to the channels."
            }
        }
        h1 { (user.name) }
        p.sub {
            (user.email) " · user " (user.id) " · customer since " (layout::day(user.created_at))
            @if !user.is_active { " · " strong { "inactive" } }
        }
        @if analysis.as_of {
            p.notice role="status" {
                "The score as of " strong { (layout::instant(analysis.at)) } ": only what was recorded by then counts. "
                a href={ "/console/users/" (user.id) } { "Back to now" }
            }
        }
        div.grid {
            section.panel aria-labelledby="score-title" {
                h2 #score-title { "Score" }
                dl.figures {
                    div.figure { dt { "Risk score" } dd data-score=(a.score) { (layout::score(a.score)) } }
                    div.figure { dt { "Level" } dd data-level=(a.level.as_str()) { (layout::level_badge(a.level)) } }
                    div.figure {
                        dt { "Failed payments" }
                        dd { (a.failed_payments) " / " (a.total_payments) " " small { (percent(a.failure_rate)) } }
                    }
                }
                form #as-of .filters method="get" action={ "/console/users/" (user.id) } {
                    div.field {
                        label for="as-of-day" { "Score as of (UTC day)" }
                        input #as-of-day type="date" name="as_of" max=(now.format("%Y-%m-%d"))
                            value=[analysis.as_of.then(|| analysis.at.format("%Y-%m-%d").to_string())];
                    }
                    div.actions { button.secondary type="submit" { "Show" } }
                }
            }
            section.panel aria-labelledby="factors-title" {
                h2 #factors-title { "Why: each factor's contribution" }
                (charts::bars("Contributions of the five factors to the score", &factor_bars))
                div.table-wrap {
                    table.cards {
                        thead { tr { th scope="col" { "Factor" } th.num scope="col" { "Value" } th.num scope="col" { "Weight" } th.num scope="col" { "Contribution" } } }
                        tbody {
                            @for f in &a.factors {
                                tr data-factor=(f.name.as_str()) data-contribution=(f.contribution) {
                                    td.lead data-label="Factor" { (f.name.as_str().replace('_', " ")) br; span.muted { (f.detail) } }
                                    td.num data-label="Value" { (format!("{:.3}", f.value)) }
                                    td.num data-label="Weight" { (format!("{:.2}", f.weight)) }
                                    td.num data-label="Contribution" { (format!("{:+.3}", f.contribution)) }
                                }
                            }
                        }
                        tfoot {
                            tr {
                                th scope="row" colspan="3" { "Sum: the score" }
                                td.num data-sum=(sum) { strong { (layout::score(sum)) } }
                            }
                        }
                    }
                }
            }
        }
        div.grid {
            section.panel aria-labelledby="explain-title" {
                h2 #explain-title { "What the score says" }
                @if !a.patterns.is_empty() {
                    p { @for p in &a.patterns { span.tag { (layout::pattern_label(*p)) } } }
                }
                ul { @for m in &a.messages { li { (m) } } }
                h3 { "Recommendations" }
                ul { @for r in a.recommendations { li { (r) } } }
            }
            section.panel aria-labelledby="alert-title" {
                h2 #alert-title { "Cases" }
                @if ctx.may(Permission::Alert) && !analysis.as_of {
                    form #send-alert method="post" action={ "/console/users/" (user.id) "/alert" } data-action="send-alert" {
                        input type="hidden" name="_csrf" value=(ctx.csrf);
                        input type="hidden" name="idempotency_key" value=(uuid::Uuid::new_v4().to_string());
                        div.field {
                            label for="alert-note" { "Note for the alert (optional)" }
                            textarea #alert-note name="note" maxlength="2000" {}
                        }
                        div.actions { button type="submit" { "Send alert" } }
                    }
                }
                @if data.cases.is_empty() {
                    p.muted { "No case was raised on this user." }
                }
                @for case in &data.cases {
                    (case_card(ctx, now, case, None, data.notes.get(&case.id).map_or(&[][..], Vec::as_slice), &ctx.here))
                }
            }
        }
        section.panel aria-labelledby="plans-title" {
            h2 #plans-title { "Plan" }
            @if let Some(plan) = current {
                p {
                    "Current: " strong { (plan.subscription_type) } ", "
                    (layout::money(plan.monthly_amount_cents, &plan.currency)) " a month, "
                    (plan.status.to_value()) " since " (layout::day(plan.effective_from)) "."
                }
            } @else {
                p.muted { "No plan recorded." }
            }
            @if data.plans.len() > 1 || current.is_some() {
                div.table-wrap {
                    table.cards {
                        caption.visually-hidden { "Every version of the plan, newest first" }
                        thead { tr { th scope="col" { "Plan" } th.num scope="col" { "Monthly" } th scope="col" { "Status" } th scope="col" { "From" } th scope="col" { "Until" } } }
                        tbody {
                            @for plan in data.plans.iter().rev() {
                                tr {
                                    td.lead data-label="Plan" { (plan.subscription_type) }
                                    td.num data-label="Monthly" { (layout::money(plan.monthly_amount_cents, &plan.currency)) }
                                    td data-label="Status" { (plan.status.to_value()) }
                                    td data-label="From" { (layout::day(plan.effective_from)) }
                                    td data-label="Until" { (plan.effective_until.map_or_else(|| "—".to_owned(), layout::day)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="payments-title" {
            h2 #payments-title { "Payments" }
            @if data.payments.is_empty() {
                p.muted { "No payment recorded." }
            } @else {
                p.muted {
                    @if u64::from(a.total_payments) > data.payments.len() as u64 {
                        "The newest " (count(data.payments.len() as u64)) " of " (count(u64::from(a.total_payments))) " payments."
                    } @else {
                        "All " (count(data.payments.len() as u64)) " payments."
                    }
                }
                (charts::timeline("Payments by date and amount, shaped and coloured by status", &dots))
                details open[data.payments.len() <= 20] {
                    summary { "The payments, newest first" }
                    div.table-wrap {
                        table.cards.payments {
                            thead { tr { th scope="col" { "Date" } th.num scope="col" { "Amount" } th scope="col" { "Status" } th scope="col" { "Method" } th scope="col" { "Reason" } } }
                            tbody {
                                @for p in &data.payments {
                                    tr data-payment-status=(p.status.to_value()) {
                                        td.lead data-label="Date" { (layout::instant(p.payment_date)) }
                                        td.num data-label="Amount" { (layout::money(p.amount_cents, &p.currency)) }
                                        td data-label="Status" { @let status = p.status.to_value(); span class={ "status-" (status) } { (status) } }
                                        td data-label="Method" { (p.payment_method) }
                                        td data-label="Reason" { (p.failure_reason.as_deref().unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_reads_as_its_end_and_the_future_is_refused() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let end = as_of(Some("2026-11-01"), now).ok().flatten();
        assert_eq!(
            end.map(|e| e.to_rfc3339()),
            Some("2026-11-01T23:59:59.999+00:00".to_owned())
        );
        assert_eq!(as_of(Some("2026-11-26"), now).ok().flatten(), Some(now));
        assert!(as_of(Some("2026-11-27"), now).is_err());
        assert!(as_of(Some("26/11/2026"), now).is_err());
        assert_eq!(as_of(Some(""), now).ok().flatten(), None);
    }
}
