//! Refused mutations in the audit trail (SPEC §9): a mutation that changes
//! something writes its entry in its own transaction (in `service`); one that
//! is refused (bad input, no such user, the wrong role, …) changed nothing
//! and is recorded here, from the response: the handler is the one place
//! that sees every root field's outcome.
//!
//! This reads the response rather than hooking each field's resolution (an
//! async-graphql extension): any extension with a resolve hook puts every
//! field of every request through it, which cost a third of a list's
//! instructions (BENCHMARKS.md, "Instructions per request").

use async_graphql::{PathSegment, Response, Value};
use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::domain::Caller;
use crate::service::audit::{self, Action};

/// A mutation's root field as the document selects it.
#[derive(Clone, Debug)]
pub struct RootField {
    /// Its key in the response (the alias, or the field's name).
    pub key: String,
    /// The field's name.
    pub name: String,
}

/// Records each root field of `fields` (a mutation's) that `response`
/// answers with an error and no value: refused, it changed nothing. The
/// code is the error's `extensions.code` (the handler has filled it). They
/// are written once the operation has run: after the entries of its fields
/// that changed something, even those that ran after a refused one.
pub async fn record_refusals(
    db: &DatabaseConnection,
    clock: &SharedClock,
    caller: &Caller,
    fields: &[RootField],
    response: &Response,
) {
    let mut recorded: Vec<&str> = Vec::new();
    for error in &response.errors {
        let Some(PathSegment::Field(key)) = error.path.first() else {
            continue;
        };
        let Some(field) = fields.iter().find(|field| field.key == *key) else {
            continue;
        };
        let answered = match &response.data {
            Value::Object(data) => data.get(key.as_str()).is_some_and(|v| *v != Value::Null),
            _ => false,
        };
        if answered || recorded.contains(&key.as_str()) {
            continue;
        }
        recorded.push(key);
        let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.clone(),
            _ => "ERROR".to_owned(),
        };
        let action = Action::refused_with(&field.name, None, &code, error.message.clone());
        audit::record_refusal(db, caller, action, clock.now()).await;
    }
}
