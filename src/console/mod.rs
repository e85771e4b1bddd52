//! The support console (SPEC §11): server-rendered HTML pages over the same
//! use cases as GraphQL and REST, for people who should not have to write
//! queries. Pages are built with maud (templates checked by the compiler,
//! every value escaped), charts are SVG drawn here, and the only script is
//! the case queue's live updates. Everything ships inside the binary
//! ([`assets`]) under a strict Content-Security-Policy; nothing is fetched
//! from elsewhere.
//!
//! Every page needs a caller with the read permission (a browser without a
//! session is sent to sign in, [`gate`]); every action checks its own
//! permission on the server whatever the page showed, and a form posted with
//! a session cookie must carry the session's CSRF token ([`Ctx::check_form`]).
//! Errors are pages with a readable message, never raw JSON.

pub mod assets;
mod cases;
mod charts;
mod layout;
mod login;
mod overview;
mod risky;
mod user;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use crate::auth::{LOGIN_PATH, SESSION_COOKIE, cookie, urlencode};
use crate::domain::{Caller, Credential, Permission};
use crate::error::AppError;

pub use cases::{case_action, cases_page};
pub use layout::Nav;
pub use login::{login, login_page, logout};
pub use overview::overview;
pub use risky::risky_users;
pub use user::{send_alert, user_page};

/// What every console page knows about its request.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Who asks.
    pub caller: Caller,
    /// The token a form of this page must send back (empty when the caller
    /// is not carried by a session cookie).
    pub csrf: String,
    /// This request's path and query, to come back to after an action.
    pub here: String,
}

/// The CSRF token of a session: derived from its secret cookie, so a page
/// of another site, which cannot read the cookie, cannot know it.
fn csrf_of(session_token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("risk-monitor console form\0{session_token}").as_bytes(),
    ))
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Redirect::to(LOGIN_PATH).into_response())?;
        let csrf = match caller.actor.credential {
            Credential::Session => cookie(&parts.headers, SESSION_COOKIE)
                .map(|token| csrf_of(&token))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        Ok(Self { caller, csrf, here })
    }
}

impl Ctx {
    /// Whether the caller holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.caller.actor.may(permission)
    }

    /// Refuses a posted form unless the caller may `permission` and the form
    /// came from one of our pages: with a session, its CSRF token; with
    /// `AUTH=off` (no cookie to steal, loopback only), a same-origin
    /// `Origin` header (the gate has refused any other origin already). A
    /// key in `Authorization` is not sent by browsers on their own.
    pub fn check_form(
        &self,
        permission: Permission,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<(), AppError> {
        if !self.may(permission) {
            return Err(AppError::Forbidden);
        }
        let genuine = match self.caller.actor.credential {
            Credential::Session => !self.csrf.is_empty() && same(&self.csrf, token),
            Credential::Local => headers.contains_key(header::ORIGIN),
            Credential::Key => true,
            Credential::Network(_) | Credential::CommandLine => false,
        };
        if genuine {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The console's gate: a browser without a caller is sent to sign in and
/// brought back; a caller whose role cannot read gets a page saying so.
pub async fn gate(request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        let back = request
            .uri()
            .path_and_query()
            .map_or_else(|| "/console".to_owned(), |p| p.as_str().to_owned());
        let target = format!("{LOGIN_PATH}?next={}", urlencode(&back));
        return Redirect::to(&target).into_response();
    };
    if !caller.actor.may(Permission::Read) {
        return layout::bare(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role cannot read the console. Ask an administrator for a viewer, agent or admin key.",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_of("rs_one");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_of("rs_two"));
        assert!(same(&a, &csrf_of("rs_one")));
        assert!(!same(&a, &a[..63]));
        assert!(!same(&a, ""));
    }
}
