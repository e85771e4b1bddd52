//! Who may reach the service, and as whom (SPEC §9): the HTTP gate every
//! request passes before any handler, and the per-route permission checks
//! the route table in `app.rs` declares.
//!
//! [`admit`] refuses a `Host` the service does not answer for (a DNS
//! rebinding page would send its own name) and an unsafe request from a
//! foreign `Origin`; it then finds the actor: an API key in
//! `Authorization: Bearer`, else a console session cookie, else the local
//! administrator when `AUTH=off` (loopback only), else, on the legacy routes,
//! a client from a network listed in `LEGACY_ANONYMOUS_NETWORKS`. A bad key
//! is refused (401) before anything runs. Browsers send cookies on their
//! own, so a request carried by a cookie (or by nothing, with `AUTH=off`)
//! must also prove it comes from a page of ours: a GraphQL POST must be
//! JSON (which a foreign page cannot send without a CORS preflight that is
//! refused unless `CORS_ORIGINS` names it). The [`Caller`] found is put in
//! the request's extensions; [`require`] checks a route's permission.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::clock::SharedClock;
use crate::config::{AccessSettings, AuthMode};
use crate::domain::{Actor, Caller, Credential, Permission};
use crate::error::{AppError, Code};
use crate::http::prefers_html;
use crate::service::access;

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "rm_session";

/// Where a browser without a session is sent to sign in.
pub const LOGIN_PATH: &str = "/console/login";

/// What the gate needs. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    db: DatabaseConnection,
    settings: Arc<AccessSettings>,
    clock: SharedClock,
}

impl Gate {
    /// The gate for `settings` on `db`.
    pub fn new(db: DatabaseConnection, settings: AccessSettings, clock: SharedClock) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            clock,
        }
    }

    /// The access settings in force.
    pub fn settings(&self) -> &AccessSettings {
        &self.settings
    }
}

/// A refusal before any handler runs: GraphQL's error shape on `/graphql`,
/// the legacy `{"detail"}` elsewhere, the code in `x-error-code` either way.
pub fn refuse(path: &str, status: StatusCode, code: Code, message: &str) -> Response {
    let body = if path.starts_with("/graphql") {
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
    } else {
        json!({ "detail": message })
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        "x-error-code",
        header::HeaderValue::from_static(code.as_str()),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// The `Host` of a request without its port, lower case (`[::1]` keeps its
/// brackets).
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            if name.starts_with('[') || !name.contains(':') {
                name.to_owned()
            } else {
                host.clone()
            }
        }
        _ => host.clone(),
    };
    Some(name)
}

/// Whether an unsafe request's `Origin` is this service itself (the page it
/// came from was served by the same host) or one of `CORS_ORIGINS`.
pub fn origin_allowed(headers: &HeaderMap, settings: &AccessSettings) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true; // not a browser, or a same-origin navigation
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let same = ["http://", "https://"]
        .iter()
        .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")));
    same || settings.cors_origins.iter().any(|o| o == origin)
}

/// The value of cookie `name`, if the request sends it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

/// The token of an `Authorization: Bearer …` header, if the request sends
/// one that is not blank.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The legacy REST routes a listed network may use without credentials.
fn is_legacy_route(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET => {
            path == "/api/risky-users"
                || path == "/api/stats"
                || (path.starts_with("/api/user/") && path.ends_with("/risk-analysis"))
        }
        Method::POST => path.starts_with("/api/alert/"),
        _ => false,
    }
}

/// Whether a request is JSON (what a foreign page cannot send unasked).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let media = v.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        })
}

/// The request's id, as the request-id layer set it.
fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The gate: host, origin, credentials; see the module's documentation.
pub async fn admit(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let headers = request.headers();
    let allowed_host =
        host_name(headers).is_some_and(|name| gate.settings.allowed_hosts.contains(&name));
    if !allowed_host {
        return refuse(
            &path,
            StatusCode::MISDIRECTED_REQUEST,
            Code::BadRequest,
            "this service does not answer for that host name (ALLOWED_HOSTS)",
        );
    }
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && !origin_allowed(headers, &gate.settings) {
        return refuse(
            &path,
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            "cross-origin request refused (CORS_ORIGINS)",
        );
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_canonical());
    let stale_session = cookie(request.headers(), SESSION_COOKIE).is_some();
    let actor = match find_actor(&gate, request.headers(), &method, &path, peer).await {
        Ok(actor) => actor,
        Err(error) => {
            error.log();
            let status = match error {
                AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return refuse(&path, status, error.code(), &error.to_string());
        }
    };
    if let Some(actor) = &actor {
        let ambient = matches!(actor.credential, Credential::Session | Credential::Local);
        if ambient && method == Method::POST && path == "/graphql" && !is_json(request.headers()) {
            return refuse(
                &path,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::BadRequest,
                "a GraphQL POST must be application/json",
            );
        }
    }
    let id = request_id(request.headers());
    // A session cookie that named no live session was ignored: the rate
    // limit counts it as a refused credential, like a bad key.
    let ignored_cookie = stale_session
        && !actor
            .as_ref()
            .is_some_and(|a| a.credential == Credential::Session);
    if let Some(actor) = actor {
        request.extensions_mut().insert(Caller {
            actor,
            request_id: id,
        });
    }
    let mut response = next.run(request).await;
    if ignored_cookie {
        response.extensions_mut().insert(RefusedCredential);
    }
    response
}

/// Marks a response to a request whose credential was refused or ignored.
#[derive(Clone, Copy, Debug)]
pub struct RefusedCredential;

async fn find_actor(
    gate: &Gate,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    peer: Option<std::net::IpAddr>,
) -> Result<Option<Actor>, AppError> {
    if headers.contains_key(header::AUTHORIZATION) {
        let token = bearer(headers).ok_or(AppError::Unauthenticated)?;
        return match access::key_actor(&gate.db, token).await? {
            Some(actor) => Ok(Some(actor)),
            None => Err(AppError::Unauthenticated),
        };
    }
    if let Some(token) = cookie(headers, SESSION_COOKIE)
        && let Some(actor) = access::session_actor(&gate.db, &token, gate.clock.now()).await?
    {
        return Ok(Some(actor));
    }
    if gate.settings.auth == AuthMode::Off {
        return Ok(Some(Actor::local()));
    }
    if is_legacy_route(method, path)
        && let Some(peer) = peer
        && let Some(network) = gate
            .settings
            .legacy_anonymous_networks
            .iter()
            .find(|n| n.contains(&peer))
    {
        return Ok(Some(Actor::network(*network)));
    }
    Ok(None)
}

/// A route's permission check: 401 without a caller, 403 without the
/// permission; `None` asks only for a caller.
pub async fn require(permission: Option<Permission>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let caller = request.extensions().get::<Caller>();
    match (caller, permission) {
        (None, _) => {
            let error = AppError::Unauthenticated;
            refuse(
                &path,
                StatusCode::UNAUTHORIZED,
                error.code(),
                &error.to_string(),
            )
        }
        (Some(caller), Some(permission)) if !caller.actor.may(permission) => {
            let error = AppError::Forbidden;
            refuse(
                &path,
                StatusCode::FORBIDDEN,
                error.code(),
                &error.to_string(),
            )
        }
        _ => next.run(request).await,
    }
}

/// For pages: a browser without a caller is sent to sign in, then back.
pub async fn require_page(request: Request, next: Next) -> Response {
    if request.extensions().get::<Caller>().is_some() {
        return next.run(request).await;
    }
    if prefers_html(request.headers()) || request.uri().path() == "/graphiql" {
        let back = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let target = format!("{LOGIN_PATH}?next={}", urlencode(&back));
        return Redirect::to(&target).into_response();
    }
    require(None, request, next).await
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn host_names_lose_their_port_but_keep_ipv6_brackets() {
        assert_eq!(
            host_name(&headers(&[("host", "127.0.0.1:8000")])).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            host_name(&headers(&[("host", "[::1]:8000")])).as_deref(),
            Some("[::1]")
        );
        assert_eq!(
            host_name(&headers(&[("host", "Risk.Example.com")])).as_deref(),
            Some("risk.example.com")
        );
        assert_eq!(host_name(&HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = headers(&[("cookie", "a=1; rm_session=rs_abc; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("rs_abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn only_the_legacy_reads_and_alert_are_open_to_listed_networks() {
        assert!(is_legacy_route(&Method::GET, "/api/risky-users"));
        assert!(is_legacy_route(&Method::GET, "/api/user/7/risk-analysis"));
        assert!(is_legacy_route(&Method::POST, "/api/alert/7"));
        assert!(!is_legacy_route(&Method::POST, "/graphql"));
        assert!(!is_legacy_route(&Method::GET, "/graphql"));
    }
}
