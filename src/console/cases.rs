//! `/console/cases`: the case queue (SPEC §10), the most severe and oldest
//! first, worked from the page: assign to me, acknowledge, note, resolve,
//! sanction, dismiss. Each action posts a form naming the version it was
//! decided on, so two agents never overwrite each other silently. New and
//! changed cases appear without a reload (`console.js`, the live feed).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::{AlertKind, AlertStatus, Resolution};
use entity::{alert_notes, alerts, users};
use maud::{Markup, html};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use super::Ctx;
use super::layout::{self, Nav, count};
use super::login::local_path;
use crate::clock::SharedClock;
use crate::domain::{self, Permission};
use crate::error::{AppError, AppResult};
use crate::risk::RiskLevel;
use crate::service::cases::{self, CaseCursor, CaseFilter, CasePage, Transition};
use crate::service::{Rules, outbox};

/// Cases per page.
const PAGE: u64 = 50;

/// The queue's views: which statuses each lists.
const VIEWS: [(&str, &str); 6] = [
    ("queue", "To work"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("dismissed", "Dismissed"),
    ("all", "All"),
];

/// The queue's query string.
#[derive(Debug, Default, Deserialize)]
pub struct CasesQuery {
    view: Option<String>,
    level: Option<String>,
    mine: Option<String>,
    after: Option<String>,
}

struct Listing {
    view: &'static str,
    filter: CaseFilter,
    level: Option<RiskLevel>,
    mine: bool,
    after: Option<CaseCursor>,
}

fn parse(query: &CasesQuery, me: &str) -> AppResult<Listing> {
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let view = match blank(&query.view) {
        None => "queue",
        Some(name) => VIEWS
            .iter()
            .map(|(v, _)| *v)
            .find(|v| *v == name)
            .ok_or_else(|| AppError::bad_input("view", "choose one of the queue's tabs"))?,
    };
    let level =
        match blank(&query.level) {
            None => None,
            Some(name) => Some(RiskLevel::from_name(&name.to_ascii_lowercase()).ok_or_else(
                || AppError::bad_input("level", "choose low, medium, high or critical"),
            )?),
        };
    let after =
        match blank(&query.after) {
            None => None,
            Some(text) => Some(CaseCursor::decode(&text).ok_or_else(|| {
                AppError::bad_input("after", "that is not a position in this queue")
            })?),
        };
    let mine = blank(&query.mine).is_some();
    let status = match view {
        "open" => Some(AlertStatus::Open),
        "acknowledged" => Some(AlertStatus::Acknowledged),
        "resolved" => Some(AlertStatus::Resolved),
        "dismissed" => Some(AlertStatus::Dismissed),
        _ => None,
    };
    Ok(Listing {
        view,
        filter: CaseFilter {
            status,
            level,
            kind: None,
            assignee: mine.then(|| me.to_owned()),
            unresolved: view == "queue",
        },
        level,
        mine,
        after,
    })
}

/// `GET /console/cases`.
pub async fn cases_page(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(clock): State<SharedClock>,
    Query(query): Query<CasesQuery>,
) -> Response {
    let listing = match parse(&query, &ctx.caller.actor.name) {
        Ok(listing) => listing,
        Err(error) => return layout::failure(&ctx, Nav::Cases, &error),
    };
    let loaded = async {
        let (page, total) = futures::try_join!(
            cases::page(&db, &listing.filter, listing.after, PAGE),
            cases::count(&db, &listing.filter),
        )?;
        let ids: Vec<i64> = page.rows.iter().map(|c| c.id).collect();
        let user_ids: Vec<i64> = page.rows.iter().map(|c| c.user_id).collect();
        let (notes, people) =
            futures::try_join!(cases::notes(&db, &ids), cases::users(&db, &user_ids))?;
        Ok::<_, AppError>((page, total, notes, people))
    }
    .await;
    match loaded {
        Ok((page, total, notes, people)) => {
            let body = view(&ctx, &listing, &page, total, &notes, &people, clock.now());
            layout::page(&ctx, StatusCode::OK, "Cases", Nav::Cases, body)
        }
        Err(error) => layout::failure(&ctx, Nav::Cases, &error),
    }
}

fn link(view: &str, level: Option<RiskLevel>, mine: bool, after: Option<&CaseCursor>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if view != "queue" {
        query.append_pair("view", view);
    }
    if let Some(level) = level {
        query.append_pair("level", level.as_str());
    }
    if mine {
        query.append_pair("mine", "1");
    }
    if let Some(after) = after {
        query.append_pair("after", &after.encode());
    }
    let query = query.finish();
    if query.is_empty() {
        "/console/cases".to_owned()
    } else {
        format!("/console/cases?{query}")
    }
}

fn view(
    ctx: &Ctx,
    listing: &Listing,
    page: &CasePage,
    total: u64,
    notes: &HashMap<i64, Vec<alert_notes::Model>>,
    people: &HashMap<i64, users::Model>,
    now: DateTime<Utc>,
) -> Markup {
    let next = page.rows.last().filter(|_| page.has_next_page).map(|last| {
        link(
            listing.view,
            listing.level,
            listing.mine,
            Some(&CaseCursor::after(last)),
        )
    });
    html! {
        h1 { "Cases" }
        p.sub { "The most severe first, then the oldest. " span data-total=(total) { strong { (count(total)) } " in this view." } }
        nav.panel aria-label="Queue views" {
            div.actions {
                @for (name, label) in VIEWS {
                    a.button.secondary[name != listing.view] href=(link(name, listing.level, listing.mine, None))
                        aria-current=[(name == listing.view).then_some("page")] { (label) }
                }
            }
            form.filters method="get" action="/console/cases" {
                @if listing.view != "queue" { input type="hidden" name="view" value=(listing.view); }
                div.field {
                    label for="c-level" { "Level" }
                    select #c-level name="level" {
                        option value="" { "any" }
                        @for l in RiskLevel::ALL {
                            option value=(l.as_str()) selected[listing.level == Some(l)] { (l.as_str()) }
                        }
                    }
                }
                div.field {
                    label for="c-mine" { "Assigned" }
                    select #c-mine name="mine" {
                        option value="" { "to anyone" }
                        option value="1" selected[listing.mine] { "to me" }
                    }
                }
                div.actions { button type="submit" { "Apply" } }
            }
        }
        p #live-status .live role="status" aria-live="polite" { "Reload to see new cases (live updates need JavaScript)." }
        div.panel data-live {
            @if page.rows.is_empty() {
                p { "No case in this view." }
            }
            @for case in &page.rows {
                (case_card(ctx, now, case, people.get(&case.user_id), notes.get(&case.id).map_or(&[][..], Vec::as_slice), &ctx.here))
            }
            @if let Some(next) = next {
                div.pager { span {} a.button rel="next" href=(next) { "Next page →" } }
            }
            p.muted { "As of " (layout::instant(now)) "." }
        }
    }
}

/// Who an audit name (`session:ann`, `key:sam`, `local`) stands for: the
/// name people know, without how they proved it.
fn person(audit_name: &str) -> &str {
    audit_name
        .split_once(':')
        .map_or(audit_name, |(_, name)| name)
}

fn status_word(status: AlertStatus) -> String {
    outbox::status_name(status).to_ascii_lowercase()
}

/// One case: its state, its user, its notes, and the actions the caller's
/// role allows in its state. `back` is where an action returns.
pub(super) fn case_card(
    ctx: &Ctx,
    now: DateTime<Utc>,
    case: &alerts::Model,
    user: Option<&users::Model>,
    notes: &[alert_notes::Model],
    back: &str,
) -> Markup {
    let level = RiskLevel::from(case.risk_level);
    let open = matches!(case.status, AlertStatus::Open | AlertStatus::Acknowledged);
    let me = &ctx.caller.actor.name;
    let hidden = |action: &str| {
        html! {
            input type="hidden" name="_csrf" value=(ctx.csrf);
            input type="hidden" name="version" value=(case.version);
            input type="hidden" name="back" value=(back);
            input type="hidden" name="action" value=(action);
        }
    };
    let action_url = format!("/console/cases/{}", case.id);
    html! {
        article.case #{ "case-" (case.id) } data-case-id=(case.id) data-status=(outbox::status_name(case.status))
            data-level=(level.as_str()) data-version=(case.version) {
            header {
                strong { "#" (case.id) }
                (layout::level_badge(level))
                span.status { (status_word(case.status)) }
                @if case.kind == AlertKind::Automatic { span.tag { "automatic" } }
                span.muted {
                    "score " (layout::score(case.risk_score)) " · raised "
                    time datetime=(case.created_at.to_rfc3339()) { (layout::instant(case.created_at)) }
                    " (" (layout::age(case.created_at, now)) " ago)"
                }
            }
            p {
                @if let Some(user) = user {
                    a href={ "/console/users/" (user.id) } { (user.name) } " "
                    span.muted { (user.email) } " · "
                }
                "assignee: " @if let Some(a) = &case.assignee { strong data-assignee=(a) { (a) } } @else { span.muted { "nobody" } }
                @if let Some(r) = case.resolution { " · resolution: " strong { (outbox::resolution_name(r).to_ascii_lowercase().replace('_', " ")) } }
                @if let Some(by) = &case.created_by { span.muted { " · by " (person(by)) } }
            }
            @if let Some(note) = &case.note { p { "“" (note) "”" } }
            @if !notes.is_empty() {
                ol.notes aria-label={ "Notes on case " (case.id) } {
                    @for n in notes { li { span.muted { (person(&n.author)) ", " (layout::instant(n.at)) ": " } (n.text) } }
                }
            }
            @if ctx.may(Permission::Alert) {
                div.actions {
                    @if open && case.assignee.as_deref() != Some(me.as_str()) {
                        form method="post" action=(action_url) data-action="assign-me" {
                            (hidden("assign-me")) button.secondary type="submit" { "Assign to me" }
                        }
                    }
                    @if open && case.assignee.is_some() {
                        form method="post" action=(action_url) data-action="unassign" {
                            (hidden("unassign")) button.secondary type="submit" { "Unassign" }
                        }
                    }
                    @if case.status == AlertStatus::Open {
                        form method="post" action=(action_url) data-action="acknowledge" {
                            (hidden("acknowledge")) button type="submit" { "Acknowledge" }
                        }
                    }
                }
                details {
                    summary { @if open { "Note, resolve, sanction or dismiss…" } @else { "Add a note…" } }
                    form.stack method="post" action=(action_url) data-action="note" {
                        (hidden("note"))
                        div.field {
                            label for={ "note-" (case.id) } { "Note" }
                            textarea #{ "note-" (case.id) } name="note" maxlength="2000" required {}
                        }
                        div.actions { button.secondary type="submit" { "Add note" } }
                    }
                    @if open {
                        form.stack method="post" action=(action_url) data-action="close" {
                            (hidden("resolve"))
                            div.field {
                                label for={ "why-" (case.id) } { "Why (saved as a note)" }
                                textarea #{ "why-" (case.id) } name="note" maxlength="2000" {}
                            }
                            div.field {
                                label for={ "res-" (case.id) } { "Resolution" }
                                select #{ "res-" (case.id) } name="resolution" {
                                    option value="contacted" { "contacted" }
                                    option value="payment_recovered" { "payment recovered" }
                                    option value="false_positive" { "false positive" }
                                }
                            }
                            div.actions {
                                button type="submit" name="action" value="resolve" { "Resolve" }
                                button.danger type="submit" name="action" value="sanction" { "Sanction" }
                                button.secondary type="submit" name="action" value="dismiss" { "Dismiss" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A case action's form.
#[derive(Debug)]
struct CaseForm {
    csrf: String,
    version: String,
    back: Option<String>,
    /// `assign-me`, `unassign`, `acknowledge`, `note`, `resolve`,
    /// `sanction`, `dismiss`; a button's value wins over the hidden field.
    action: Vec<String>,
    note: String,
    resolution: Option<String>,
}

fn resolution(name: Option<&str>) -> AppResult<Resolution> {
    match name.map(str::trim) {
        Some("contacted") => Ok(Resolution::Contacted),
        Some("payment_recovered") => Ok(Resolution::PaymentRecovered),
        Some("false_positive") => Ok(Resolution::FalsePositive),
        _ => Err(AppError::bad_input(
            "resolution",
            "choose contacted, payment recovered or false positive",
        )),
    }
}

/// `POST /console/cases/{id}`: one action on a case (agent), then back to
/// the page it came from.
pub async fn case_action(
    ctx: Ctx,
    State(db): State<DatabaseConnection>,
    State(rules): State<Rules>,
    State(clock): State<SharedClock>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = read_form(pairs);
    let back = local_path(form.back.as_deref()).to_owned();
    let ctx = Ctx {
        here: back.clone(),
        ..ctx
    };
    let done = async {
        ctx.check_form(Permission::Alert, &headers, &form.csrf)?;
        let id = raw
            .trim()
            .parse::<i64>()
            .map_err(|_| AppError::NotFound(format!("There is no case {raw:?}")))?;
        let note = domain::note(Some(&form.note))?;
        // The last action named wins: a submit button's value comes after
        // the form's hidden default.
        let action = form.action.last().map(String::as_str).unwrap_or_default();
        if action == "note" {
            let text = note.ok_or_else(|| AppError::bad_input("note", "write the note first"))?;
            cases::comment(&db, &rules, id, text, &ctx.caller, clock.now()).await?;
            return Ok(id);
        }
        let version = form
            .version
            .trim()
            .parse::<i32>()
            .map_err(|_| AppError::bad_input("version", "reload the page and try again"))?;
        let transition = match action {
            "assign-me" => Transition::Assign(Some(ctx.caller.actor.name.clone())),
            "unassign" => Transition::Assign(None),
            "acknowledge" => Transition::Acknowledge,
            "resolve" => Transition::Resolve(resolution(form.resolution.as_deref())?, note),
            "sanction" => Transition::Resolve(Resolution::Sanctioned, note),
            "dismiss" => Transition::Dismiss(note),
            _ => {
                return Err(AppError::bad_input(
                    "action",
                    "that is not something a case can do",
                ));
            }
        };
        cases::transition(
            &db,
            &rules,
            id,
            version,
            transition,
            &ctx.caller,
            clock.now(),
        )
        .await?;
        Ok::<_, AppError>(id)
    }
    .await;
    match done {
        Ok(id) => {
            let target = match back.split_once('#') {
                Some((path, _)) => format!("{path}#case-{id}"),
                None => format!("{back}#case-{id}"),
            };
            Redirect::to(&target).into_response()
        }
        Err(error) => layout::failure(&ctx, Nav::Cases, &error),
    }
}

/// The form's pairs, read by name (`action` may come twice: the hidden
/// default, then the button pressed).
fn read_form(pairs: Vec<(String, String)>) -> CaseForm {
    let mut form = CaseForm {
        csrf: String::new(),
        version: String::new(),
        back: None,
        action: Vec::new(),
        note: String::new(),
        resolution: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "_csrf" => form.csrf = value,
            "version" => form.version = value,
            "back" => form.back = Some(value),
            "action" => form.action.push(value),
            "note" => form.note = value,
            "resolution" => form.resolution = Some(value),
            _ => {}
        }
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pressed_button_names_the_action() {
        let form = read_form(vec![
            ("action".to_owned(), "resolve".to_owned()),
            ("note".to_owned(), "paid by phone".to_owned()),
            ("action".to_owned(), "sanction".to_owned()),
        ]);
        assert_eq!(form.action.last().map(String::as_str), Some("sanction"));
        assert_eq!(form.note, "paid by phone");
    }

    #[test]
    fn queue_links_keep_their_view() {
        assert_eq!(link("queue", None, false, None), "/console/cases");
        assert_eq!(
            link("resolved", Some(RiskLevel::High), true, None),
            "/console/cases?view=resolved&level=high&mine=1"
        );
        assert!(
            parse(
                &CasesQuery {
                    view: Some("x".into()),
                    ..Default::default()
                },
                "me"
            )
            .is_err()
        );
    }
}
