//! Roles on GraphQL fields (SPEC §9): every root field names the permission
//! it needs with `#[graphql(guard = "Need(Permission::…)")]`, and this guard
//! is the one place it is checked. The handler puts the request's
//! [`Caller`] in the request's data; without one the field answers
//! `UNAUTHENTICATED`, without the permission `FORBIDDEN`, and its resolver
//! never runs.

use async_graphql::{Context, ErrorExtensions, Guard};

use crate::domain::{Caller, Permission};
use crate::error::AppError;

/// The permission a field needs.
pub struct Need(pub Permission);

impl Guard for Need {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.data_opt::<Caller>() {
            None => Err(AppError::Unauthenticated.extend()),
            Some(caller) if caller.actor.may(self.0) => Ok(()),
            Some(_) => Err(AppError::Forbidden.extend()),
        }
    }
}
