//! The GraphQL API (SPEC §4): schema, resolvers, the HTTP handler that guards
//! the endpoint, and the vendored GraphiQL explorer.
//!
//! [`schema`] returns the bare builder (roots and types only): the SDL
//! snapshot test uses it. [`build_schema`] adds what the server needs: the
//! database, the scoring configuration and the limits.

pub mod access;
pub mod alerting;
pub mod audit;
pub mod cost;
pub mod digest;
pub mod explorer;
pub mod guard;
pub mod handler;
pub mod introspection;
pub mod metrics;
pub mod mutation;
pub mod parsed;
pub mod query;
pub mod subscription;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{ErrorExtensions, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::config::OperationSettings;
use crate::db::Reads;
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::service::Rules;
use crate::service::events::Hub;
use crate::service::payment_writer::PaymentWriter;
use crate::service::stats_cache::StatsCache;
use std::sync::Arc;
use subscription::SubscriptionRoot;

/// The service's schema type.
pub type AppSchema = Schema<query::Query, mutation::Mutation, SubscriptionRoot>;

/// Deepest selection accepted (the explorer's introspection query nests 13 deep).
pub const MAX_DEPTH: usize = 16;
/// Largest complexity accepted (each field counts 1; connection pages are
/// bounded separately by the page cap, which async-graphql's count ignores).
pub const MAX_COMPLEXITY: usize = 400;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The bare schema builder: roots and types, no data, no limits.
pub fn schema() -> SchemaBuilder<query::Query, mutation::Mutation, SubscriptionRoot> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        SubscriptionRoot,
    )
}

/// The schema as the server runs it: its data, limits, and introspection
/// as `operations` allows (SPEC §9 `INTROSPECTION`; the handler refuses a
/// request that asks for it when it is off). It has no async-graphql
/// extension: the handler counts operations ([`metrics`]) and audits
/// refusals ([`audit`]) from each response.
pub fn build_schema(
    db: DatabaseConnection,
    rules: Rules,
    hub: Hub,
    stats: Arc<StatsCache>,
    clock: SharedClock,
    operations: &OperationSettings,
    metrics: &Arc<Metrics>,
) -> AppSchema {
    let writer = PaymentWriter::new(
        db.clone(),
        rules.clone(),
        clock.clone(),
        metrics.writer.clone(),
    );
    let builder = schema()
        .data(writer)
        .data(clock)
        .data(DataLoader::new(
            alerting::CaseLoader(db.clone()),
            tokio::spawn,
        ))
        // The default for reads: the primary. The HTTP handler replaces it
        // with the replica for a request that writes nothing.
        .data(Reads(db.clone()))
        .data(db)
        .data(rules.scoring)
        .data(rules)
        .data(hub)
        .data(stats)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(cost::MAX_RECURSIVE_DEPTH)
        .limit_directives(10);
    if operations.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// Converts a service result into a resolver result, keeping the code
/// (async-graphql's blanket conversion from any `Display` error would drop
/// it; the mapping itself is in [`crate::error`]).
pub trait GqlResultExt<T> {
    /// `Err(AppError)` becomes an error with `extensions.code`.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResultExt<T> for Result<T, AppError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_sdl_matches_the_code() {
        let sdl = schema().finish().sdl();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema.graphql is stale: run `UPDATE_SNAPSHOTS=1 cargo test the_committed_sdl` and commit it"
        );
    }
}
