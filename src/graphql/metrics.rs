//! Counting GraphQL operations for `/metrics` (SPEC §9): an async-graphql
//! extension that sees each operation of a request (each one of a batch)
//! once it has an answer, and counts it by name and outcome in
//! [`crate::metrics::Metrics`].
//!
//! The name is the one execution settled on (the request's
//! `operationName`, or the document's only operation's name); an operation
//! that never ran (a parse or validation error) or has no name counts as
//! `anonymous`. The outcome is `ok` or the first error's `extensions.code`.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextRequest,
};
use async_graphql::{Response, Value};

use super::handler::fill_code;
use crate::metrics::Metrics;

/// The extension's factory, registered in [`super::build_schema`].
pub struct OperationMetrics(pub Arc<Metrics>);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Counter {
            metrics: self.0.clone(),
            name: Mutex::new(None),
        })
    }
}

/// One operation's counter: async-graphql makes one per operation.
struct Counter {
    metrics: Arc<Metrics>,
    name: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Counter {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        // The handler fills codes too; doing it here first lets the count
        // see async-graphql's own errors by their code.
        response.errors.iter_mut().for_each(fill_code);
        let outcome = response
            .errors
            .first()
            .map_or("ok", |error| {
                match error.extensions.as_ref().and_then(|e| e.get("code")) {
                    Some(Value::String(code)) => code.as_str(),
                    _ => "INTERNAL",
                }
            })
            .to_owned();
        let name = self.name.lock().ok().and_then(|name| name.clone());
        self.metrics.graphql_operation(name.as_deref(), &outcome);
        response
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Ok(mut name) = self.name.lock() {
            *name = operation_name.map(str::to_owned);
        }
        next.run(ctx, operation_name).await
    }
}
