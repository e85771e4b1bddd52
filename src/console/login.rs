//! The support console's sign-in (SPEC §11 `/console/login`): a plain form
//! with one field, the person's own API key, which opens a server-side
//! session kept in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when
//! served over HTTPS). Sign-out ends the session.

use axum::Extension;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use maud::{DOCTYPE, html};

use super::{assets, layout};
use crate::auth::{Gate, LOGIN_PATH, SESSION_COOKIE, cookie};
use crate::clock::SharedClock;
use crate::domain::Caller;
use crate::http::RequestId;
use crate::service::access;

/// `?next=` of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    /// Where to go once signed in: a path of this service.
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The person's API key.
    key: String,
    /// Where to go once signed in.
    next: Option<String>,
}

/// A path of this service to go back to (`/…`, never `//host` or a URL).
/// Browsers drop tabs and newlines from a URL and read `\\` as `/`, so a
/// path holding any of them, a blank or a control character is refused.
pub(super) fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') =>
        {
            path
        }
        _ => "/console",
    }
}

/// The sign-in page, with `message` above the form when there is one.
fn sign_in_page(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    layout::respond(
        status,
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Sign in · Risk Monitor" }
                    link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
                    link rel="stylesheet" href=(assets::url("console.css"));
                }
                body {
                    main #main .login {
                        div.panel {
                            h1 { "Sign in to Risk Monitor" }
                            @if let Some(message) = message {
                                p.error role="alert" { (message) }
                            }
                            form method="post" action=(LOGIN_PATH) {
                                div.field {
                                    label for="key" { "Your API key" }
                                    input #key name="key" type="password"
                                        autocomplete="current-password" required;
                                }
                                input type="hidden" name="next" value=(next);
                                div.actions { button type="submit" { "Sign in" } }
                            }
                            p.muted {
                                "An administrator issues each person a key: "
                                code {
                                    "risk-monitor keys create "
                                    span.nowrap { "--name NAME" } " "
                                    span.nowrap { "--role viewer" }
                                }
                                "."
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `GET /console/login`: the form.
pub async fn login_page(Query(next): Query<Next>) -> Response {
    sign_in_page(StatusCode::OK, local_path(next.next.as_deref()), None)
}

/// Whether the request reached us over HTTPS (directly or through a proxy
/// that says so).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(value: &str, max_age_seconds: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    ))
    .ok()
}

/// `POST /console/login`: opens a session for a live key, or shows the form
/// again with a message (401).
pub async fn login(
    State(db): State<DatabaseConnection>,
    State(gate): State<Gate>,
    State(clock): State<SharedClock>,
    request_id: RequestId,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = local_path(form.next.as_deref()).to_owned();
    let lifetime =
        TimeDelta::from_std(gate.settings().session_lifetime).unwrap_or(TimeDelta::hours(12));
    let request_id = Some(request_id.as_str().to_owned());
    match access::sign_in(&db, &form.key, lifetime, request_id, clock.now()).await {
        Ok(signed_in) => {
            let mut response = Redirect::to(&next).into_response();
            if let Some(cookie) = session_cookie(
                &signed_in.token,
                lifetime.num_seconds(),
                over_https(&headers),
            ) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(crate::error::AppError::Unauthenticated) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That key is not valid, or it was revoked."),
        ),
        Err(error) => {
            error.log();
            sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some("The service cannot sign you in right now; try again."),
            )
        }
    }
}

/// `POST /console/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(db): State<DatabaseConnection>,
    State(clock): State<SharedClock>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
) -> Response {
    if let (Some(token), Some(Extension(caller))) = (cookie(&headers, SESSION_COOKIE), caller)
        && let Err(error) = access::sign_out(&db, &token, &caller, clock.now()).await
    {
        error.log();
    }
    let mut response = Redirect::to(LOGIN_PATH).into_response();
    if let Some(cookie) = session_cookie("", 0, over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/graphiql")), "/graphiql");
        assert_eq!(local_path(Some("//evil.example")), "/console");
        assert_eq!(local_path(Some("https://evil.example")), "/console");
        assert_eq!(local_path(Some("/\\evil.example")), "/console");
        assert_eq!(local_path(Some("/\t/evil.example")), "/console");
        assert_eq!(local_path(Some("/\n/evil.example")), "/console");
        assert_eq!(local_path(Some("/ /evil.example")), "/console");
        assert_eq!(local_path(None), "/console");
    }
}
