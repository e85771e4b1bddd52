//! Refused mutations in the audit trail (SPEC §9): a mutation that changes
//! something writes its entry in its own transaction (in `service`); one that
//! is refused (bad input, no such user, the wrong role, …) changed nothing
//! and is recorded here, the one place that sees every root field's outcome.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::domain::Caller;
use crate::service::audit::{self, Action};

/// Installs [`RefusalAudit`] on a schema.
pub struct AuditRefusals;

impl ExtensionFactory for AuditRefusals {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RefusalAudit)
    }
}

/// Records each refused root mutation field.
struct RefusalAudit;

#[async_trait::async_trait]
impl Extension for RefusalAudit {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let root_mutation = info.path_node.parent.is_none() && info.parent_type == "Mutation";
        let field = info.name.to_owned();
        let result = next.run(ctx, info).await;
        if root_mutation && let Err(error) = &result {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .map(|code| code.to_string().trim_matches('"').to_owned())
                .unwrap_or_else(|| "ERROR".to_owned());
            if let (Some(caller), Ok(db), Ok(clock)) = (
                ctx.data_opt::<Caller>(),
                ctx.data::<DatabaseConnection>(),
                ctx.data::<SharedClock>(),
            ) {
                let action = Action::refused_with(&field, None, &code, error.message.clone());
                audit::record_refusal(db, caller, action, clock.now()).await;
            }
        }
        result
    }
}
