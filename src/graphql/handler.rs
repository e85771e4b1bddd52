//! The HTTP side of GraphQL: our own handler (not async-graphql-axum's
//! extractor, which reads the body without a limit), so that it can refuse
//! oversized bodies (413) and oversized batches, and documents that cost too
//! much ([`super::cost`]) or lack a required variable, before executing
//! anything; give every error an `extensions.code`; serve the subscriptions
//! over WebSocket ([`graphql_ws`]); and serve the explorer.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::http::MultipartOptions;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    BatchRequest, BatchResponse, Data, ErrorExtensionValues, Request, ServerError, Value,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use futures::stream::BoxStream;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::ws::{
    CloseFrame, Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};
use serde_json::json;

use super::audit::{self, RootField};
use super::{AppSchema, MAX_BATCH, MAX_BODY_BYTES, cost, explorer, introspection, metrics, parsed};
use crate::auth::{self, Gate};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::Reads;
use crate::domain::{Caller, Permission};
use crate::error::{AppError, Code};
use crate::http::{RequestId, prefers_html};
use crate::metrics::Metrics;
use crate::service::access;

/// How much of a body over [`MAX_BODY_BYTES`] is read and thrown away
/// before the 413, so that the connection closes cleanly (a socket closed
/// with unread data is reset, and the client may lose the answer). Past
/// this, or a `Content-Length` past it, the connection closes at once.
const MAX_DRAINED_BYTES: usize = 4 * MAX_BODY_BYTES;

/// Documents longer than this are parsed and checked on the blocking pool,
/// away from the workers that serve other requests.
const INLINE_PARSE_BYTES: usize = 16 * 1024;

/// `POST /graphql`: one operation or a batch of at most [`MAX_BATCH`].
pub async fn graphql_post(
    State(schema): State<AppSchema>,
    State(services): State<Services>,
    caller: Option<Extension<Caller>>,
    request_id: RequestId,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
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
    let context = Context {
        caller: caller.map(|Extension(c)| c),
        request_id,
        services,
    };
    execute(&schema, request, Allow::Everything, context).await
}

/// The body, at most [`MAX_BODY_BYTES`]; past that a 413 that closes the
/// connection.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        let mut response = refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::PayloadTooLarge,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        );
        // The rest of the body is not read: the connection cannot carry
        // another request, and the client is told so.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DRAINED_BYTES as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            refusal(
                StatusCode::BAD_REQUEST,
                Code::BadRequest,
                format!("cannot read the request body: {error}"),
            )
        })?;
        read = read.saturating_add(chunk.len());
        if read <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else if read > MAX_DRAINED_BYTES {
            break;
        }
    }
    if read > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// `GET /graphql`: the explorer for a browser (unless `EXPLORER` is off),
/// else a query (never a mutation) from the query string.
pub async fn graphql_get(
    State(schema): State<AppSchema>,
    State(services): State<Services>,
    caller: Option<Extension<Caller>>,
    request_id: RequestId,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if services.settings.operations.explorer && prefers_html(&headers) {
        return explorer_page().await;
    }
    let request = match async_graphql::http::parse_query_string(uri.query().unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => return not_graphql(error),
    };
    let context = Context {
        caller: caller.map(|Extension(c)| c),
        request_id,
        services,
    };
    execute(
        &schema,
        BatchRequest::Single(request),
        Allow::QueriesOnly,
        context,
    )
    .await
}

/// What the handler reaches besides the schema: where reads go when no
/// operation of a request writes, the settings (the explorer,
/// introspection), and, for after an operation ran, the primary and the
/// clock (the audit of refusals) and the metrics (the operation counts).
#[derive(Clone)]
pub struct Services {
    /// The read pool.
    pub reads: Reads,
    /// The primary.
    pub db: DatabaseConnection,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The current instant.
    pub clock: SharedClock,
    /// This application's metrics.
    pub metrics: Arc<Metrics>,
}

/// What every operation of a request carries into the schema: who asks
/// (the field guards read it), the request's id, and where its reads go
/// when none of its operations writes.
struct Context {
    caller: Option<Caller>,
    request_id: RequestId,
    services: Services,
}

/// Which operations a request may run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Allow {
    Everything,
    /// GET: no mutation.
    QueriesOnly,
}

/// Runs `request` as `context.caller`. A response whose errors include a
/// refusal for want of credentials or of a role gets that status too (401,
/// 403), as REST does.
async fn execute(
    schema: &AppSchema,
    request: BatchRequest,
    allow: Allow,
    context: Context,
) -> Response {
    if let BatchRequest::Batch(operations) = &request
        && (operations.is_empty() || operations.len() > MAX_BATCH)
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            Code::BatchTooLarge,
            format!(
                "a batch holds 1 to {MAX_BATCH} operations; this one has {}",
                operations.len()
            ),
        );
    }
    let (requests, batched) = match request {
        BatchRequest::Single(request) => (vec![request], false),
        BatchRequest::Batch(requests) => (requests, true),
    };
    let introspection = context.services.settings.operations.introspection;
    let mut checked = Vec::with_capacity(requests.len());
    let mut writes = false;
    for request in requests {
        match prepare_off_the_workers(request, introspection).await {
            Ok(prepared) if prepared.writes && allow == Allow::QueriesOnly => {
                return refusal(
                    StatusCode::METHOD_NOT_ALLOWED,
                    Code::MethodNotAllowed,
                    "mutations are accepted over POST only".to_owned(),
                );
            }
            Ok(prepared) => {
                writes |= prepared.writes;
                checked.push(Ok(prepared));
            }
            Err(error) => checked.push(Err(error)),
        }
    }
    // A request that writes reads from the primary (the schema's default),
    // every operation of it, in order (below): a query batched after a
    // mutation sees what the mutation wrote. Only a request that writes
    // nothing reads from the replica.
    let prepared: Vec<_> = checked
        .into_iter()
        .map(|checked| {
            checked.map(|prepared| {
                let request = prepared.request.data(context.request_id.clone());
                let request = match &context.caller {
                    Some(caller) => request.data(caller.clone()),
                    None => request,
                };
                let request = match writes {
                    true => request,
                    false => request.data(context.services.reads.clone()),
                };
                (request, prepared.name, prepared.mutation_fields)
            })
        })
        .collect();
    // Each answer is counted and, for a mutation, its refusals audited
    // before the next operation of a batch runs.
    let services = &context.services;
    let caller = context.caller.as_ref();
    let run = |prepared: Result<(Request, Option<String>, Vec<RootField>), ServerError>| async move {
        let (request, name, fields) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // Refused before it ran: counted, without a name.
                let response = async_graphql::Response::from_errors(vec![error]);
                metrics::count(&services.metrics, None, &response);
                return response;
            }
        };
        let mut response = schema.execute(request).await;
        response.errors.iter_mut().for_each(fill_code);
        metrics::count(&services.metrics, name.as_deref(), &response);
        if let Some(caller) = caller
            && !fields.is_empty()
            && !response.errors.is_empty()
        {
            audit::record_refusals(&services.db, &services.clock, caller, &fields, &response).await;
        }
        response
    };
    // A batch that writes runs in order, each operation after the one
    // before has committed: a query after a mutation sees it. A batch of
    // queries runs at once.
    let mut responses: Vec<async_graphql::Response> = if writes {
        let mut responses = Vec::with_capacity(prepared.len());
        for prepared in prepared {
            responses.push(run(prepared).await);
        }
        responses
    } else {
        prepared
            .into_iter()
            .map(run)
            .collect::<FuturesOrdered<_>>()
            .collect()
            .await
    };
    let mut status = StatusCode::OK;
    for error in responses.iter_mut().flat_map(|r| r.errors.iter_mut()) {
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
    let response = match (batched, responses.pop()) {
        (false, Some(single)) => BatchResponse::Single(single),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    (status, GraphQLResponse::from(response)).into_response()
}

/// One operation, checked before it runs.
struct Prepared {
    /// The request, its document parsed.
    request: Request,
    /// Whether the document holds an operation that writes.
    writes: bool,
    /// Whether the operation that runs is a mutation.
    mutation: bool,
    /// The operation's name as execution settles it (see [`metrics`]).
    name: Option<String>,
    /// The root fields of the operation that runs, if it is a mutation
    /// (see [`audit`]).
    mutation_fields: Vec<RootField>,
}

/// [`prepare`], on the blocking pool for a long document.
async fn prepare_off_the_workers(
    request: Request,
    introspection: bool,
) -> Result<Prepared, ServerError> {
    if request.query.len() <= INLINE_PARSE_BYTES {
        return prepare(request, introspection);
    }
    tokio::task::spawn_blocking(move || prepare(request, introspection))
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "checking a GraphQL document failed");
            Err(ServerError::new("internal error", None))
        })
}

/// An error with `code`, refusing an operation before it runs.
fn refuse(code: Code, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", Value::from(code.as_str()));
    error
}

/// Parses one operation's document (or takes it from [`parsed`]) and
/// refuses it before anything runs when it costs too much ([`cost`]), asks
/// for introspection while it is off (`introspection` false), or leaves
/// out a required variable; keeps the parsed document in the request, so
/// it is parsed once. Also tells whether
/// the document holds a mutation, and what the handler needs once it ran.
/// A document that does not parse goes on as it is: async-graphql reports
/// the error.
fn prepare(mut request: Request, introspection: bool) -> Result<Prepared, ServerError> {
    let document = match parsed::get(&request.query) {
        Some(document) => document,
        None => {
            cost::check_text(&request.query).map_err(|r| refuse(r.code, r.message))?;
            let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
                return Ok(Prepared {
                    request,
                    writes: false,
                    mutation: false,
                    name: None,
                    mutation_fields: Vec::new(),
                });
            };
            cost::check_document(&document).map_err(|r| refuse(r.code, r.message))?;
            parsed::keep(&request.query, &document);
            document
        }
    };
    if !introspection && let Some(field) = introspection::introspects(&document) {
        return Err(refuse(
            Code::GraphqlValidationFailed,
            format!("introspection is disabled: {field}"),
        ));
    }
    let selected = selected_operation(&document, request.operation_name.as_deref());
    if let Some(name) = selected.and_then(|(_, op)| missing_variable(op, &request)) {
        return Err(refuse(
            Code::BadUserInput,
            format!("the variable ${name} is required but was not given"),
        ));
    }
    let writes = document
        .operations
        .iter()
        .any(|(_, op)| op.node.ty != OperationType::Query);
    let name = selected.and_then(|(name, _)| name.map(str::to_owned));
    let mut mutation_fields = Vec::new();
    let mutation = selected.is_some_and(|(_, op)| op.node.ty == OperationType::Mutation);
    if let Some((_, op)) = selected.filter(|_| mutation) {
        root_fields(
            &document,
            &op.node.selection_set.node,
            &mut mutation_fields,
            0,
        );
    }
    request.set_parsed_query(document);
    Ok(Prepared {
        request,
        writes,
        mutation,
        name,
        mutation_fields,
    })
}

/// The operation that would run, with its name, as async-graphql settles
/// it: the one named by `operation_name`, else the document's only one.
fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<(Option<&'a str>, &'a Positioned<OperationDefinition>)> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Some((None, op)),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get_key_value(name)
            .map(|(name, op)| (Some(name.as_str()), op)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (Some(name.as_str()), op)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The root fields `set` selects, through its fragments (a fragment that
/// spreads itself is refused by validation; `depth` stops it here first).
fn root_fields(
    document: &ExecutableDocument,
    set: &SelectionSet,
    fields: &mut Vec<RootField>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => fields.push(RootField {
                key: field.node.response_key().node.to_string(),
                name: field.node.name.node.to_string(),
            }),
            Selection::InlineFragment(fragment) => {
                root_fields(
                    document,
                    &fragment.node.selection_set.node,
                    fields,
                    depth + 1,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_fields(
                        document,
                        &fragment.node.selection_set.node,
                        fields,
                        depth + 1,
                    );
                }
            }
        }
    }
}

/// A non-null variable without a default that the request does not give,
/// in the operation that would run. (async-graphql would notice only while
/// executing, after other fields of the operation had run.)
fn missing_variable(
    operation: &Positioned<OperationDefinition>,
    request: &Request,
) -> Option<String> {
    operation
        .node
        .variable_definitions
        .iter()
        .find(|def| {
            def.node.default_value().is_none()
                && !request.variables.contains_key(&def.node.name.node)
        })
        .map(|def| def.node.name.node.to_string())
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
        || (m.starts_with("Variable ") && m.ends_with(" is not defined."))
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
    refusal(
        StatusCode::BAD_REQUEST,
        Code::BadRequest,
        format!("not a GraphQL request: {error}"),
    )
}

/// A refusal before execution, in the GraphQL response shape (also used by
/// the request limits in front of every route, for `/graphql`).
pub fn refusal(status: StatusCode, code: Code, message: String) -> Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, axum::Json(body)).into_response()
}

/// Most subscription sockets open at once in this process.
pub const MAX_LIVE_SOCKETS: usize = 512;
static LIVE_SOCKETS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LIVE_SOCKETS);

/// `GET /graphql/ws`: the subscriptions (SPEC §10 `SubscriptionRoot`) over
/// WebSocket, in graphql-transport-ws (or the older
/// subscriptions-transport-ws) as async-graphql serves it.
///
/// Who subscribes is settled before any subscription starts. The gate has
/// already read the upgrade request's credentials (a key, a console
/// session, or the local administrator under `AUTH=off`): a caller without
/// the read permission is refused here (403), and so is a page of a foreign
/// origin (403), since a browser sends cookies with a WebSocket upgrade
/// whatever page opens it and no CORS preflight guards it. An upgrade
/// without credentials (clients that cannot set headers) is accepted, and
/// the `connection_init` message must then carry
/// `{"Authorization": "Bearer rm_…"}`; without it, or with a key that is
/// not valid or may not read, the socket is closed with 4401 or 4403
/// before anything runs. Each field's guard checks the permission again.
#[expect(clippy::too_many_arguments, reason = "one axum extractor per argument")]
pub async fn graphql_ws(
    State(schema): State<AppSchema>,
    State(db): State<DatabaseConnection>,
    State(gate): State<Gate>,
    State(settings): State<Arc<Settings>>,
    caller: Option<Extension<Caller>>,
    request_id: RequestId,
    headers: HeaderMap,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    const PATH: &str = "/graphql/ws";
    if !auth::origin_allowed(&headers, gate.settings()) {
        return auth::refuse(
            PATH,
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            "cross-origin WebSocket refused (CORS_ORIGINS)",
        );
    }
    let caller = caller.map(|Extension(caller)| caller);
    if caller
        .as_ref()
        .is_some_and(|c| !c.actor.may(Permission::Read))
    {
        let error = AppError::Forbidden;
        return auth::refuse(
            PATH,
            StatusCode::FORBIDDEN,
            error.code(),
            &error.to_string(),
        );
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // An upgraded socket leaves the server's connection count: its own cap.
    let Ok(slot) = LIVE_SOCKETS.try_acquire() else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::RateLimited,
            format!("{MAX_LIVE_SOCKETS} live subscriptions are open: try again later"),
        );
    };
    let Ok(protocol) = protocol else {
        return refusal(
            StatusCode::BAD_REQUEST,
            Code::BadRequest,
            "Sec-WebSocket-Protocol must name graphql-transport-ws".to_owned(),
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let (sink, stream) = socket.split();
            let sink =
                sink.with(|message| async move { Ok::<_, axum::Error>(close_code(message)) });
            let mut data = Data::default();
            data.insert(request_id.clone());
            let executor = Subscriptions {
                schema,
                introspection: settings.operations.introspection,
            };
            let socket = GraphQLWebSocket::new_with_pair(sink, stream, executor, protocol);
            match caller {
                Some(caller) => {
                    data.insert(caller);
                    socket.with_data(data).serve().await;
                }
                None => {
                    let id = request_id.as_str().to_owned();
                    socket
                        .with_data(data)
                        .on_connection_init(move |payload| connection_init(db, payload, id))
                        .serve()
                        .await;
                }
            }
        })
}

/// The schema as the WebSocket serves it: each operation is checked as
/// `POST` checks it ([`prepare`]: its cost, introspection, its variables)
/// before it runs, and mutations are refused: they go over `POST`, where
/// their refusals are audited.
#[derive(Clone)]
struct Subscriptions {
    schema: AppSchema,
    introspection: bool,
}

impl Subscriptions {
    fn check(&self, request: Request) -> Result<Request, ServerError> {
        let prepared = prepare(request, self.introspection)?;
        if prepared.mutation {
            return Err(refuse(
                Code::MethodNotAllowed,
                "mutations are accepted over POST only".to_owned(),
            ));
        }
        Ok(prepared.request)
    }
}

impl async_graphql::Executor for Subscriptions {
    async fn execute(&self, request: Request) -> async_graphql::Response {
        match self.check(request) {
            Ok(request) => self.schema.execute(request).await,
            Err(error) => async_graphql::Response::from_errors(vec![error]),
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        match self.check(request) {
            Ok(request) => {
                async_graphql::Executor::execute_stream(&self.schema, request, session_data)
            }
            Err(error) => {
                futures::stream::once(
                    async move { async_graphql::Response::from_errors(vec![error]) },
                )
                .boxed()
            }
        }
    }
}

/// The close reason of a `connection_init` without a valid credential.
const UNAUTHENTICATED_CLOSE: &str = "Unauthorized";
/// The close reason of a `connection_init` whose key may not read.
const FORBIDDEN_CLOSE: &str = "Forbidden";

/// The caller of a socket whose upgrade carried no credential, from its
/// `connection_init` payload (`{"Authorization": "Bearer rm_…"}`).
async fn connection_init(
    db: DatabaseConnection,
    payload: serde_json::Value,
    request_id: String,
) -> async_graphql::Result<Data> {
    let token = ["Authorization", "authorization"]
        .iter()
        .find_map(|name| payload.get(name))
        .and_then(serde_json::Value::as_str)
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(async_graphql::Error::new(UNAUTHENTICATED_CLOSE));
    };
    match access::key_actor(&db, token).await {
        Ok(Some(actor)) if actor.may(Permission::Read) => {
            let mut data = Data::default();
            data.insert(Caller {
                actor,
                request_id: Some(request_id),
            });
            Ok(data)
        }
        Ok(Some(_)) => Err(async_graphql::Error::new(FORBIDDEN_CLOSE)),
        Ok(None) => Err(async_graphql::Error::new(UNAUTHENTICATED_CLOSE)),
        Err(error) => {
            error.log();
            Err(async_graphql::Error::new("internal error"))
        }
    }
}

/// async-graphql closes a refused `connection_init` with 1002 and the
/// refusal's message; graphql-transport-ws says 4401 (no valid
/// credential) or 4403 (not allowed), which clients know not to retry.
fn close_code(message: Message) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.code == 1002 => {
            let code = match frame.reason.as_str() {
                UNAUTHENTICATED_CLOSE => 4401,
                FORBIDDEN_CLOSE => 4403,
                _ => frame.code,
            };
            Message::Close(Some(CloseFrame {
                code,
                reason: frame.reason,
            }))
        }
        other => other,
    }
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
