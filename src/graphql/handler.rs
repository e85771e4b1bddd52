//! The HTTP side of GraphQL: our own handler (not async-graphql-axum's
//! extractor, which reads the body without a limit), so that it can refuse
//! oversized bodies (413) and oversized batches before executing anything,
//! give every error an `extensions.code`, and serve the explorer.

use async_graphql::http::MultipartOptions;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, ErrorExtensionValues, ServerError, Value};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppSchema, MAX_BATCH, explorer};

/// `POST /graphql`: one operation or a batch of at most [`MAX_BATCH`].
pub async fn graphql_post(
    State(schema): State<AppSchema>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(rejection))
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            );
        }
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                rejection.body_text(),
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = match async_graphql::http::receive_batch_body(
        content_type,
        body.as_ref(),
        MultipartOptions::default(),
    )
    .await
    {
        Ok(request) => request,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("not a GraphQL request: {error}"),
            );
        }
    };
    execute(&schema, request).await
}

/// `GET /graphql`: the explorer for a browser, else a query (never a
/// mutation) from the query string.
pub async fn graphql_get(
    State(schema): State<AppSchema>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if prefers_html(&headers) {
        return explorer_page().await;
    }
    let request = match async_graphql::http::parse_query_string(uri.query().unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("not a GraphQL request: {error}"),
            );
        }
    };
    let is_mutation = async_graphql::parser::parse_query(&request.query)
        .map(|doc| {
            doc.operations
                .iter()
                .any(|(_, op)| op.node.ty != OperationType::Query)
        })
        .unwrap_or(false);
    if is_mutation {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations are accepted over POST only".to_owned(),
        );
    }
    execute(&schema, BatchRequest::Single(request)).await
}

async fn execute(schema: &AppSchema, request: BatchRequest) -> Response {
    if let BatchRequest::Batch(operations) = &request
        && (operations.is_empty() || operations.len() > MAX_BATCH)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BATCH_TOO_LARGE",
            format!(
                "a batch holds 1 to {MAX_BATCH} operations; this one has {}",
                operations.len()
            ),
        );
    }
    let mut response = schema.execute_batch(request).await;
    match &mut response {
        BatchResponse::Single(r) => r.errors.iter_mut().for_each(fill_code),
        BatchResponse::Batch(all) => all
            .iter_mut()
            .flat_map(|r| r.errors.iter_mut())
            .for_each(fill_code),
    }
    GraphQLResponse::from(response).into_response()
}

/// Gives an error that has no `extensions.code` one (SPEC §4: every error
/// carries a machine-readable code). async-graphql's own validation errors
/// have none; they are recognised by their wording.
pub fn fill_code(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
    {
        return;
    }
    let m = error.message.as_str();
    let code = if m.starts_with(" --> ") {
        "GRAPHQL_PARSE_FAILED"
    } else if m.starts_with("Query is nested too deep") || m.starts_with("recursion limit exceeded")
    {
        "QUERY_TOO_DEEP"
    } else if m.starts_with("Query is too complex") {
        "QUERY_TOO_COMPLEX"
    } else if m.contains("Invalid value for argument")
        || m.contains("Invalid value for variable")
        || m.starts_with("Failed to parse")
        || m.contains("is required")
    {
        "BAD_USER_INPUT"
    } else if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "INTERNAL"
    };
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", Value::from(code));
}

/// A refusal before execution, in the GraphQL response shape.
fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })),
    )
        .into_response()
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

/// `GET /graphiql`: the explorer's page.
pub async fn explorer_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, explorer::INDEX_CONTENT_TYPE),
            (
                header::CONTENT_SECURITY_POLICY,
                explorer::CONTENT_SECURITY_POLICY,
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        explorer::INDEX_HTML,
    )
        .into_response()
}

/// `GET /graphiql/assets/{name}`: one vendored file, compiled into the binary.
pub async fn explorer_asset(Path(name): Path<String>) -> Response {
    match explorer::asset(&name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such explorer asset").into_response(),
    }
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
