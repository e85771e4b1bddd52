//! The HTTP side of GraphQL: our own handler (not async-graphql-axum's
//! extractor, which reads the body without a limit), so that it can refuse
//! oversized bodies (413) and oversized batches before executing anything,
//! give every error an `extensions.code`, and serve the explorer.

use std::sync::Arc;

use async_graphql::http::MultipartOptions;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, ErrorExtensionValues, ServerError, Value};
use async_graphql_axum::GraphQLResponse;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppSchema, MAX_BATCH, explorer};
use crate::config::Settings;
use crate::domain::Caller;
use crate::error::Code;
use crate::http::{RequestId, prefers_html};

/// `POST /graphql`: one operation or a batch of at most [`MAX_BATCH`].
pub async fn graphql_post(
    State(schema): State<AppSchema>,
    caller: Option<Extension<Caller>>,
    request_id: RequestId,
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
                Code::PayloadTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            );
        }
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                Code::BadRequest,
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
        Err(error) => return not_graphql(error),
    };
    execute(
        &schema,
        request.data(request_id),
        caller.map(|Extension(c)| c),
    )
    .await
}

/// `GET /graphql`: the explorer for a browser (unless `EXPLORER` is off),
/// else a query (never a mutation) from the query string.
pub async fn graphql_get(
    State(schema): State<AppSchema>,
    caller: Option<Extension<Caller>>,
    State(settings): State<Arc<Settings>>,
    request_id: RequestId,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if settings.operations.explorer && prefers_html(&headers) {
        return explorer_page().await;
    }
    let request = match async_graphql::http::parse_query_string(uri.query().unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => return not_graphql(error),
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
            Code::MethodNotAllowed,
            "mutations are accepted over POST only".to_owned(),
        );
    }
    let request = BatchRequest::Single(request.data(request_id));
    execute(&schema, request, caller.map(|Extension(c)| c)).await
}

/// Runs `request` as `caller` (the field guards read it). A response whose
/// errors include a refusal for want of credentials or of a role gets that
/// status too (401, 403), as REST does.
async fn execute(schema: &AppSchema, request: BatchRequest, caller: Option<Caller>) -> Response {
    if let BatchRequest::Batch(operations) = &request
        && (operations.is_empty() || operations.len() > MAX_BATCH)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            Code::BatchTooLarge,
            format!(
                "a batch holds 1 to {MAX_BATCH} operations; this one has {}",
                operations.len()
            ),
        );
    }
    let request = match caller {
        Some(caller) => request.data(caller),
        None => request,
    };
    let mut response = schema.execute_batch(request).await;
    let errors: Vec<&mut ServerError> = match &mut response {
        BatchResponse::Single(r) => r.errors.iter_mut().collect(),
        BatchResponse::Batch(all) => all.iter_mut().flat_map(|r| r.errors.iter_mut()).collect(),
    };
    let mut status = StatusCode::OK;
    for error in errors {
        fill_code(error);
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        if code == Some(&Value::from(Code::Unauthenticated.as_str())) {
            status = StatusCode::UNAUTHORIZED;
        } else if code == Some(&Value::from(Code::Forbidden.as_str()))
            && status != StatusCode::UNAUTHORIZED
        {
            status = StatusCode::FORBIDDEN;
        }
    }
    (status, GraphQLResponse::from(response)).into_response()
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
        Code::GraphqlParseFailed
    } else if m.starts_with("Query is nested too deep") || m.starts_with("recursion limit exceeded")
    {
        Code::QueryTooDeep
    } else if m.starts_with("Query is too complex") {
        Code::QueryTooComplex
    } else if m.contains("Invalid value for argument")
        || m.contains("Invalid value for variable")
        || m.starts_with("Failed to parse")
        || m.contains("is required")
    {
        Code::BadUserInput
    } else if error.path.is_empty() {
        Code::GraphqlValidationFailed
    } else {
        Code::Internal
    };
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", Value::from(code.as_str()));
}

/// 400: the body or query string is not a GraphQL request.
fn not_graphql(error: impl std::fmt::Display) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        Code::BadRequest,
        format!("not a GraphQL request: {error}"),
    )
}

/// A refusal before execution, in the GraphQL response shape.
fn refuse(status: StatusCode, code: Code, message: String) -> Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, axum::Json(body)).into_response()
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
