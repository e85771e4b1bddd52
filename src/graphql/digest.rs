//! The daily digest on demand (SPEC §10 `digest(date:)`): a thin resolver
//! over [`crate::service::digest::for_day`].

use async_graphql::{Context, Object, Result};
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::guard::Need;
use crate::clock::SharedClock;
use crate::domain::Permission;
use crate::service::{Rules, digest};

/// The `digest` query.
#[derive(Default)]
pub struct DigestQuery;

#[Object]
impl DigestQuery {
    /// The daily digest of `date` (`YYYY-MM-DD`, UTC; today when omitted),
    /// as Markdown: users per level and their change since the previous
    /// digest, users who became high or critical, the biggest risers, open
    /// cases by age and the failure-rate trend. A day whose digest was made
    /// gives it as it was sent; today, before `DIGEST_TIME`, gives a
    /// preview. A malformed or future date, or a past day without a digest,
    /// is refused with `BAD_USER_INPUT`.
    #[graphql(guard = "Need(Permission::Read)")]
    async fn digest(&self, ctx: &Context<'_>, date: Option<String>) -> Result<String> {
        let db = ctx.data::<DatabaseConnection>()?;
        let rules = ctx.data::<Rules>()?;
        let now = ctx.data::<SharedClock>()?.now();
        digest::for_day(db, rules, date.as_deref(), now).await.gql()
    }
}
