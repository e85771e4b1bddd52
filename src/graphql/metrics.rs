//! Counting GraphQL operations for `/metrics` (SPEC §9): the handler counts
//! each operation of a request (each one of a batch) once it has an answer,
//! by name and outcome, in [`crate::metrics::Metrics`].
//!
//! The name is the one execution settles on (the request's
//! `operationName`, or the document's only operation's name); an operation
//! that never ran (refused by the handler's checks, a parse or validation
//! error, a subscription sent over HTTP: its first error has no path) or has
//! no name counts as `anonymous`. The outcome is `ok` or the first error's
//! `extensions.code`.

use async_graphql::{Response, Value};

use crate::metrics::Metrics;

/// Counts `response`, the answer to the operation named `name`. Its errors
/// have their codes (the handler fills them first).
pub fn count(metrics: &Metrics, name: Option<&str>, response: &Response) {
    let first = response.errors.first();
    let outcome = first.map_or("ok", |error| {
        match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.as_str(),
            _ => "INTERNAL",
        }
    });
    let ran = first.is_none_or(|error| !error.path.is_empty());
    metrics.graphql_operation(name.filter(|_| ran), outcome);
}
