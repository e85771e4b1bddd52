//! Limits every request meets before its route (SPEC §9): a rate limit per
//! client (`RATE_LIMIT_PER_MINUTE`, code `RATE_LIMITED`, HTTP 429 with
//! `Retry-After`) and a time budget (`REQUEST_TIMEOUT_SECONDS`, code
//! `TIMEOUT`, HTTP 503). Refusals take the shape of the route they refuse:
//! GraphQL's `{"errors": [...]}` on `/graphql`, the legacy `{"detail": …}`
//! with `x-error-code` elsewhere.
//!
//! A client is its credential (`Authorization: Bearer …`, else the
//! `rm_session` cookie), else its address (an IPv6 client by its /64). The
//! limiter keeps a SHA-256 of the credential, never the credential. Health probes are never limited:
//! an orchestrator must see the service alive while clients are refused.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::auth::{self, RefusedCredential};
use crate::config::LimitSettings;
use crate::error::{Code, rest_refusal};
use crate::graphql::handler::refusal as graphql_refusal;
use crate::server;

/// Every this many requests, the limiter forgets clients whose allowance is
/// full again (so that its memory follows the clients of the last minute).
const FORGET_EVERY: u64 = 1024;

/// The rate limit of `settings`, the state of [`rate_limit`]; `None` when
/// there is none (`RATE_LIMIT_PER_MINUTE=0`).
pub fn limiter(settings: &LimitSettings) -> Option<Arc<RateLimit>> {
    RateLimit::per_minute(settings.rate_limit_per_minute).map(Arc::new)
}

/// Answers `TIMEOUT` when the route has not answered within `budget`. The
/// route's work is dropped (a database transaction rolls back; PostgreSQL
/// also cancels the statement itself, see `db::connect_serving`).
pub async fn time_budget(State(budget): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, budget_s = budget.as_secs(), "request timed out");
            refuse(
                &path,
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Timeout,
                format!("the request took longer than {} s", budget.as_secs()),
            )
        }
    }
}

/// Refuses a client over its allowance with 429 and `Retry-After` (with a
/// limit: `limit` from [`limiter`]).
pub async fn rate_limit(
    State(limit): State<Option<Arc<RateLimit>>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let Some(limit) = limit.filter(|_| !path.starts_with("/health/")) else {
        return next.run(request).await;
    };
    let address = server::peer(&request).map(|p| server::network(p.ip()));
    let client = ClientKey::of(request.headers(), address);
    // A credential is its own client, but a refused one says nothing of who
    // sends it: an address whose credentials were refused more than the
    // limit allows this minute is refused before any is looked up, so that
    // a new made-up key per request does not escape the limit.
    let credentialed = client.credentialed;
    let blocked = credentialed && address.is_some_and(|a| limit.failures.exceeded(a));
    let checked = match blocked {
        true => Err(Duration::from_secs(60)),
        false => limit.check(&client),
    };
    let Err(wait) = checked else {
        let response = next.run(request).await;
        let refused = response.status() == StatusCode::UNAUTHORIZED
            || response.extensions().get::<RefusedCredential>().is_some();
        if credentialed
            && refused
            && let Some(address) = address
        {
            limit.failures.count(address);
        }
        return response;
    };
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = refuse(
        path,
        StatusCode::TOO_MANY_REQUESTS,
        Code::RateLimited,
        format!(
            "more than {} requests a minute; retry in {seconds} s",
            limit.per_minute
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A refusal in the shape of the route at `path`.
fn refuse(path: &str, status: StatusCode, code: Code, message: String) -> Response {
    if path == "/graphql" {
        graphql_refusal(status, code, message)
    } else {
        rest_refusal(status, code, message)
    }
}

/// A client as the limiter knows it: a SHA-256 of its credential or address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    hash: [u8; 32],
    /// Whether the client is a credential (else its address).
    credentialed: bool,
}

impl ClientKey {
    /// The bearer token, else the session cookie, else the address (unknown
    /// when the request did not come through [`server::serve`]).
    fn of(headers: &HeaderMap, address: Option<IpAddr>) -> Self {
        let bearer = auth::bearer(headers);
        let session = auth::cookie(headers, auth::SESSION_COOKIE).filter(|v| !v.is_empty());
        let mut hash = Sha256::new();
        let credentialed = bearer.is_some() || session.is_some();
        match (bearer, session) {
            (Some(token), _) => {
                hash.update(b"bearer\0");
                hash.update(token.as_bytes());
            }
            (None, Some(session)) => {
                hash.update(b"session\0");
                hash.update(session.as_bytes());
            }
            (None, None) => {
                hash.update(b"address\0");
                if let Some(address) = address.map(server::network) {
                    hash.update(address.to_string().as_bytes());
                }
            }
        }
        Self {
            hash: hash.finalize().into(),
            credentialed,
        }
    }
}

/// Refused credentials per address, counted over fixed minutes.
struct Failures {
    per_minute: u32,
    counts: std::sync::Mutex<std::collections::HashMap<IpAddr, (std::time::Instant, u32)>>,
}

impl Failures {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            counts: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Whether `address` had more refused credentials than allowed in the
    /// current minute.
    fn exceeded(&self, address: IpAddr) -> bool {
        let Ok(counts) = self.counts.lock() else {
            return false;
        };
        counts.get(&address).is_some_and(|(since, n)| {
            since.elapsed() < Duration::from_secs(60) && *n >= self.per_minute
        })
    }

    /// Counts one refused credential from `address`.
    fn count(&self, address: IpAddr) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if counts.len() >= 100_000 {
            counts.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
        }
        let entry = counts
            .entry(address)
            .or_insert_with(|| (std::time::Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (std::time::Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// `per_minute` requests per client and minute, a full minute's allowance
/// available at once (a token bucket: GCRA, from `governor`).
pub struct RateLimit {
    per_minute: u32,
    limiter: DefaultKeyedRateLimiter<ClientKey>,
    failures: Failures,
    checks: AtomicU64,
}

impl RateLimit {
    /// `None` when `per_minute` is 0 (no limit).
    fn per_minute(per_minute: u32) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        Some(Self {
            per_minute,
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            failures: Failures::new(per_minute),
            checks: AtomicU64::new(0),
        })
    }

    /// Counts a request of `client`; `Err` with the wait until the next one
    /// is allowed.
    fn check(&self, client: &ClientKey) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(client)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_str(value).expect("a value"),
            );
        }
        map
    }

    #[test]
    fn a_client_is_its_key_else_its_session_else_its_address() {
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        let key_a = headers(&[("authorization", "Bearer a")]);
        assert_eq!(ClientKey::of(&key_a, here), ClientKey::of(&key_a, there));
        assert_ne!(
            ClientKey::of(&key_a, here),
            ClientKey::of(&headers(&[("authorization", "Bearer b")]), here)
        );
        let session = headers(&[("cookie", "theme=dark; rm_session=s1")]);
        assert_eq!(
            ClientKey::of(&session, here),
            ClientKey::of(&session, there)
        );
        assert_ne!(ClientKey::of(&session, here), ClientKey::of(&key_a, here));
        let none = headers(&[("authorization", "Bearer "), ("cookie", "rm_session=")]);
        assert_ne!(ClientKey::of(&none, here), ClientKey::of(&none, there));
        assert_eq!(
            ClientKey::of(&none, here),
            ClientKey::of(&HeaderMap::new(), here)
        );
    }

    #[test]
    fn the_allowance_is_per_client_and_zero_is_no_limit() {
        assert!(RateLimit::per_minute(0).is_none());
        let limit = RateLimit::per_minute(3).expect("a limit");
        let (a, b) = (
            ClientKey::of(&HeaderMap::new(), Some(IpAddr::from([1, 1, 1, 1]))),
            ClientKey::of(&HeaderMap::new(), Some(IpAddr::from([2, 2, 2, 2]))),
        );
        for _ in 0..3 {
            assert!(limit.check(&a).is_ok());
        }
        let wait = limit.check(&a).expect_err("over the allowance");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limit.check(&b).is_ok(), "another client is not affected");
    }
}
