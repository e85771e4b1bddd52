//! The frame every console page shares (navigation, who is signed in,
//! sign-out), its headers, the error pages, and how figures are written.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::{Ctx, assets};
use crate::domain::{Credential, Permission, role_name};
use crate::error::AppError;
use crate::risk::{RiskLevel, RiskPattern};

/// What console pages may load: their own scripts, styles and images, and
/// requests (the live feed's socket included) to this service only.
pub const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's sections, for the navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// `/console`.
    Overview,
    /// `/console/risky-users`.
    Risky,
    /// `/console/cases`.
    Cases,
    /// A user's page (under the risky list).
    User,
    /// None of them (sign-in).
    None,
}

/// An HTML response with the console's headers. The referrer policy is
/// `same-origin`, not the service's default `no-referrer`: under
/// `no-referrer` browsers send `Origin: null` with a form's POST, which the
/// gate refuses as foreign; under `same-origin` our own forms name our
/// origin, and nothing leaks to other sites.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONSOLE_POLICY),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Risk Monitor" }
            link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// A whole page for a signed-in caller: navigation, `body`, footer.
pub fn page(ctx: &Ctx, status: StatusCode, title: &str, nav: Nav, body: Markup) -> Response {
    let actor = &ctx.caller.actor;
    let link = |href: &str, label: &str, section: Nav| {
        html! {
            li { a href=(href) aria-current=[(nav == section).then_some("page")] { (label) } }
        }
    };
    let signed_in = actor.credential == Credential::Session;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Console" {
                        a.brand href="/console" { "Risk Monitor" }
                        ul {
                            (link("/console", "Overview", Nav::Overview))
                            (link("/console/risky-users", "Risky users", Nav::Risky))
                            (link("/console/cases", "Cases", Nav::Cases))
                            li { a href="/graphiql" { "GraphQL" } }
                        }
                        div.who {
                            span data-role=(role_name(actor.role)) {
                                (actor.name) " · " (role_name(actor.role))
                            }
                            @if signed_in {
                                form method="post" action="/console/logout" {
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    };
    respond(status, markup)
}

/// A page without navigation (no caller to show): a title and a message.
pub fn bare(status: StatusCode, title: &str, message: &str) -> Response {
    respond(
        status,
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    main #main .login {
                        div.error role="alert" {
                            h1 { (title) }
                            p { (message) }
                            p { a href="/console" { "Back to the console" } }
                        }
                    }
                }
            }
        },
    )
}

/// The page for a failed request: what went wrong in words, with its status.
pub fn failure(ctx: &Ctx, nav: Nav, error: &AppError) -> Response {
    let (status, title, message) = explain(ctx, error);
    let body = html! {
        div.error role="alert" {
            h1 { (title) }
            p { (message) }
            @if let Some(id) = &ctx.caller.request_id {
                p.muted { "Request id: " code { (id) } }
            }
            p { a href=(ctx.here) { "Try again" } " · " a href="/console" { "Overview" } }
        }
    };
    page(ctx, status, title, nav, body)
}

/// Status, title and message for `error`.
fn explain(ctx: &Ctx, error: &AppError) -> (StatusCode, &'static str, String) {
    match error {
        AppError::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", format!("{what}.")),
        AppError::BadUserInput { field, reason } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That request is not valid",
            format!("{field}: {reason}."),
        ),
        AppError::Conflict(what) => (
            StatusCode::CONFLICT,
            "Someone else changed this first",
            format!("{}. Nothing was changed by you.", capitalise(what)),
        ),
        AppError::Forbidden => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            if ctx.may(Permission::Read) && !ctx.may(Permission::Alert) {
                format!(
                    "Your role ({}) can read but not act. Nothing was changed.",
                    role_name(ctx.caller.actor.role)
                )
            } else {
                "This action was refused: the form did not come from this console page, or it \
                 expired. Reload the page and try again. Nothing was changed."
                    .to_owned()
            },
        ),
        AppError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your session has ended. Sign in again.".to_owned(),
        ),
        AppError::DatabaseUnavailable(_) => {
            error.log();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not answering",
                "The service cannot reach its database right now. Nothing was changed; try \
                 again in a moment."
                    .to_owned(),
            )
        }
        AppError::Timeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            "That took too long",
            "The request ran out of its time budget. Narrow the filters or try again.".to_owned(),
        ),
        AppError::Internal(_) => {
            error.log();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The service failed to answer. The error was logged with the request id below."
                    .to_owned(),
            )
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A level as a coloured badge.
pub fn level_badge(level: RiskLevel) -> Markup {
    html! { span class={ "level level-" (level.as_str()) } { (level.as_str()) } }
}

/// A pattern's name in words.
pub fn pattern_label(pattern: RiskPattern) -> String {
    capitalise(&pattern.as_str().to_ascii_lowercase().replace('_', " "))
}

/// `0.4234` → `42.3%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A score with three decimals.
pub fn score(value: f64) -> String {
    format!("{value:.3}")
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Cents as units with the currency: `12.99 EUR`.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

/// A UTC day, `2026-11-26`.
pub fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// A UTC instant to the minute.
pub fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How long ago `then` was, in words: `12 s`, `4 min`, `3 h`, `2 d`.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86400 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(money(1299, "EUR"), "12.99 EUR");
        assert_eq!(money(5, "USD"), "0.05 USD");
        assert_eq!(percent(0.4234), "42.3%");
        assert_eq!(
            pattern_label(RiskPattern::PayOnceThenDecline),
            "Pay once then decline"
        );
        let now = DateTime::from_timestamp(100_000, 0).unwrap_or_default();
        assert_eq!(age(now - chrono::Duration::seconds(5), now), "5 s");
        assert_eq!(age(now - chrono::Duration::minutes(5), now), "5 min");
        assert_eq!(age(now - chrono::Duration::hours(5), now), "5 h");
    }
}
