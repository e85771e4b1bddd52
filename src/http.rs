//! HTTP details shared by the front ends, which import this rather than
//! each other: content negotiation between the browser pages and the APIs,
//! request ids (SPEC §9) and the security headers every response carries.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// The header that carries a request's id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a client.
pub const MAX_REQUEST_ID: usize = 64;

/// The `Content-Security-Policy` given to an HTML page that sets none of its
/// own: no other site may frame it (clickjacking).
pub const DEFAULT_PAGE_CSP: &str = "frame-ancestors 'none'";

/// The id of one request (SPEC §9): the client's `x-request-id` when it is
/// sane (1 to [`MAX_REQUEST_ID`] visible ASCII characters), else a UUID made
/// by the service. It is echoed on the response, recorded on every log line
/// of the request, and reachable by handlers as an extractor and by GraphQL
/// resolvers in the request's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id as sent on the response.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    /// The id tower-http's `SetRequestIdLayer` settled on; a fresh UUID when
    /// that layer is absent (a handler tested alone), so handlers never fail.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .extensions
            .get::<tower_http::request_id::RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        Ok(Self(id))
    }
}

/// Whether a client's request id may be kept: 1 to [`MAX_REQUEST_ID`]
/// visible ASCII characters (no spaces or controls, which would garble log
/// lines).
pub fn is_sane_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(u8::is_ascii_graphic)
}

/// Middleware (`map_request`, before tower-http's `SetRequestIdLayer`):
/// drops a client's `x-request-id` that is not sane, or sent more than once,
/// so that the service makes one instead.
pub async fn drop_unfit_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    let fit = match (values.next(), values.next()) {
        (Some(value), None) => is_sane_request_id(value),
        (None, None) => true,
        _ => false,
    };
    if !fit {
        headers.remove(REQUEST_ID_HEADER);
    }
    request
}

/// The tracing span of one request, which every log line written while it
/// is served carries: method, route pattern, path (without the query
/// string, which may hold search terms) and request id. At ERROR level so
/// that it is recorded whatever `LOG_LEVEL` lets through: a span's level
/// only decides whether it exists, and a warning of the request must carry
/// its id too.
pub fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::error_span!(
        "request",
        method = %request.method(),
        route,
        path = request.uri().path(),
        request_id,
    )
}

/// Middleware (`map_response`): the security headers of every response.
/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`
/// everywhere; an HTML page that sets no `Content-Security-Policy` of its own
/// gets [`DEFAULT_PAGE_CSP`], and `X-Frame-Options: DENY` for older browsers.
/// Headers a handler set are kept.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(DEFAULT_PAGE_CSP));
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
    }
    response
}

/// Whether the client prefers HTML to JSON (a browser), by the `Accept`
/// header's quality values; a tie (`*/*`, curl) is JSON.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut html: f32 = 0.0;
    let mut json: f32 = 0.0;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = html.max(q),
            "application/json" | "application/graphql-response+json" => json = json.max(q),
            "*/*" => {
                html = html.max(q);
                json = json.max(q);
            }
            "application/*" => json = json.max(q),
            "text/*" => html = html.max(q),
            _ => {}
        }
    }
    // `*/*` counts for both; only an explicit, stronger text/html wins.
    html > json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().expect("header"));
        headers
    }

    #[test]
    fn request_ids_from_clients_are_kept_only_when_sane() {
        let sane = |v: &str| is_sane_request_id(&HeaderValue::from_str(v).expect("a value"));
        assert!(sane("abc-123"));
        assert!(sane("7d1c6c5e-0a4b-4e8f-9a53-3f3c2a1b0c9d"));
        assert!(sane(&"x".repeat(MAX_REQUEST_ID)));
        assert!(!sane(&"x".repeat(MAX_REQUEST_ID + 1)), "too long");
        assert!(!sane(""), "empty");
        assert!(!sane("two words"), "a space");
        assert!(!sane("tab\there"), "a control character");
        let latin1 = HeaderValue::from_bytes(b"caf\xe9").expect("an opaque value");
        assert!(!is_sane_request_id(&latin1), "not ASCII");
    }

    /// Serves `router` on a free port; returns its base URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn handlers_read_the_id_the_layers_settled_on() {
        use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
        let echo = || {
            axum::Router::new().route(
                "/",
                axum::routing::get(|id: RequestId| async move { id.to_string() }),
            )
        };
        let layered = serve(
            echo()
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
        )
        .await;
        let client = reqwest::Client::new();
        let response = client
            .get(&layered)
            .header(REQUEST_ID_HEADER, "from-the-client")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "from-the-client");
        assert_eq!(response.text().await.expect("body"), "from-the-client");
        let response = client.get(&layered).send().await.expect("GET");
        let made = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert_eq!(response.text().await.expect("body"), made, "the made id");

        // Without the layers (a handler tested alone), still an id.
        let bare = serve(echo()).await;
        let body = client
            .get(&bare)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(uuid::Uuid::parse_str(&body).is_ok(), "{body}");
    }

    #[test]
    fn browsers_get_html_and_api_clients_get_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(prefers_html(&accept(chrome)));
        assert!(!prefers_html(&accept("*/*")), "curl");
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html;q=0.5")));
        assert!(prefers_html(&accept("text/html")));
        assert!(!prefers_html(&HeaderMap::new()), "no Accept: JSON");
    }
}
