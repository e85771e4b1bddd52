//! The query roots: the risky list, one user's analysis, the statistics.
//! Resolvers are thin: they convert arguments, call one `service` function
//! and convert the result.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, ID, MergedObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::access::AccessQuery;
use super::alerting::AlertingQuery;
use super::digest::DigestQuery;
use super::guard::Need;
use super::types::{
    Alert, GqlRiskLevel, GqlRiskPattern, Payment, RiskFactor, RiskyUser, Subscription, SystemStats,
    User, page_size, parse_id, patterns_of,
};
use crate::clock::SharedClock;
use crate::db::Reads;
use crate::domain::{self, ListCursor, MinScore, Permission, RiskyFilter};
use crate::error::AppError;
use crate::risk::ScoringConfig;
use crate::service::queries::{
    self, DEFAULT_PAGE, DEFAULT_TREND_DAYS, RECENT_PAYMENTS, UserAnalysis,
};
use crate::service::stats_cache::StatsCache;
use std::sync::Arc;

/// An opaque position in the risky list: the exact score bits and user id of
/// the last row seen (keyset pagination).
pub struct RiskCursor(pub ListCursor);

impl CursorType for RiskCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        ListCursor::decode(s)
            .map(Self)
            .ok_or_else(|| format!("{s:?} is not a cursor of this list"))
    }

    fn encode_cursor(&self) -> String {
        self.0.encode()
    }
}

/// Fields of the list besides its edges.
#[derive(SimpleObject)]
pub struct RiskyUsersTotal {
    /// Users in the whole filtered list, across every page.
    pub total_count: i64,
}

/// The risky list connection.
pub type RiskyUserConnection = Connection<RiskCursor, RiskyUser, RiskyUsersTotal>;

/// Everything support needs about one user.
pub struct UserRiskAnalysis(pub UserAnalysis);

#[Object]
impl UserRiskAnalysis {
    /// The user.
    async fn user(&self) -> User {
        self.0.user.clone().into()
    }
    /// Score in [0, 1], computed now (or as of `asOf`).
    async fn risk_score(&self) -> f64 {
        self.0.assessment.score
    }
    /// Level by the configured thresholds.
    async fn risk_level(&self) -> GqlRiskLevel {
        self.0.assessment.level.into()
    }
    /// Failed / all payments.
    async fn failure_rate(&self) -> f64 {
        self.0.assessment.failure_rate
    }
    /// Every payment (up to `asOf`).
    async fn total_payments(&self) -> u32 {
        self.0.assessment.total_payments
    }
    /// Failed or declined payments.
    async fn failed_payments(&self) -> u32 {
        self.0.assessment.failed_payments
    }
    /// Payments with status SUCCESS (pending and refunded are neither).
    async fn successful_payments(&self) -> u32 {
        self.0.assessment.succeeded_payments
    }
    /// Each input of the score: raw value, weight, contribution (empty with
    /// fewer than 2 payments, when the score is 0).
    async fn factors(&self) -> Vec<RiskFactor> {
        self.0.assessment.factors.iter().map(Into::into).collect()
    }
    /// Patterns detected.
    async fn patterns(&self) -> Vec<GqlRiskPattern> {
        patterns_of(&self.0.assessment.patterns)
    }
    /// The explanation in the legacy wording, as on the REST route.
    async fn messages(&self) -> &[String] {
        &self.0.assessment.messages
    }
    /// What support should do at this level.
    async fn recommendations(&self) -> Vec<&'static str> {
        self.0.assessment.recommendations.to_vec()
    }
    /// The instant this analysis describes (now, or `asOf`).
    async fn as_of(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// When this score next changes by time alone (the account's age), if ever.
    async fn next_change_at(&self) -> Option<DateTime<Utc>> {
        self.0.assessment.next_change
    }
    /// Plan history, oldest first.
    async fn subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<Subscription>> {
        let db = &ctx.data::<Reads>()?.0;
        Ok(queries::analysis_subscriptions(db, &self.0)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    /// The newest payments, newest first (`first`: 1 to 100).
    async fn recent_payments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(RECENT_PAYMENTS as i32)")] first: Option<i32>,
    ) -> Result<Vec<Payment>> {
        let first = page_size(first.or(Some(RECENT_PAYMENTS as i32))).gql()?;
        let db = &ctx.data::<Reads>()?.0;
        Ok(queries::analysis_payments(db, &self.0, first)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    /// Alerts raised on the user, newest first.
    async fn alerts(&self, ctx: &Context<'_>) -> Result<Vec<Alert>> {
        let db = &ctx.data::<Reads>()?.0;
        Ok(queries::analysis_alerts(db, &self.0)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Queries about risk.
#[derive(Default)]
pub struct RiskQuery;

#[Object]
impl RiskQuery {
    /// Active users at or above `minScore`, highest score first (ties by user
    /// id), as a cursor connection. Filters combine: `level`, a detected
    /// `pattern`, the current plan's `subscriptionType`, and `search`, a
    /// case-insensitive substring of the name or email (at most 200
    /// characters; blank filters nothing). Pages hold at most
    /// 100 users; pass `pageInfo.endCursor` as `after` for the next page.
    /// Pages never skip or repeat a user while the data is unchanged.
    #[graphql(guard = "Need(Permission::Read)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per filter of the SPEC §4 contract"
    )]
    async fn risky_users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(MinScore::DEFAULT.get())")] min_score: Option<f64>,
        level: Option<GqlRiskLevel>,
        pattern: Option<GqlRiskPattern>,
        search: Option<String>,
        subscription_type: Option<String>,
        #[graphql(default_with = "Some(DEFAULT_PAGE as i32)")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<RiskyUserConnection> {
        let first = page_size(first).gql()?;
        let after = after
            .map(|a| {
                RiskCursor::decode_cursor(&a)
                    .map(|c| c.0)
                    .map_err(|reason| AppError::bad_input("after", reason))
            })
            .transpose()
            .gql()?;
        let filter = RiskyFilter {
            min_score: min_score
                .map_or(Ok(MinScore::DEFAULT), |s| MinScore::parse(s, "minScore"))
                .gql()?,
            level: level.map(Into::into),
            pattern: pattern.map(Into::into),
            search: domain::filter_text(search.as_deref(), "search", domain::MAX_SEARCH).gql()?,
            subscription_type: domain::filter_text(
                subscription_type.as_deref(),
                "subscriptionType",
                50,
            )
            .gql()?,
            require_plan: false,
        };
        let db = &ctx.data::<Reads>()?.0;
        let page = queries::risky_users(db, &filter, first, after)
            .await
            .gql()?;
        let total_count = if ctx.look_ahead().field("totalCount").exists() {
            let cache = ctx.data::<Arc<StatsCache>>()?;
            i64::try_from(cache.total(db, &filter).await.gql()?).unwrap_or(i64::MAX)
        } else {
            -1
        };
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next_page,
            RiskyUsersTotal { total_count },
        );
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|row| Edge::new(RiskCursor(row.cursor()), row.into())),
        );
        Ok(connection)
    }

    /// Everything about one user: score, factors, patterns, the legacy
    /// messages, recommendations, plans, payments and alerts. With `asOf`,
    /// the user as they stood then (only the payments up to then, the
    /// account's age then). Null for an unknown user.
    #[graphql(guard = "Need(Permission::Read)")]
    async fn user_risk_analysis(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<UserRiskAnalysis>> {
        let user_id = parse_id(&user_id, "userId").gql()?;
        let db = &ctx.data::<Reads>()?.0;
        let config = ctx.data::<ScoringConfig>()?;
        let now = ctx.data::<SharedClock>()?.now();
        let analysis = queries::user_analysis(db, config, user_id, as_of, now)
            .await
            .gql()?;
        Ok(analysis.map(UserRiskAnalysis))
    }
}

/// Queries about the whole system.
#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Users, levels, payments, failure rates, a score histogram, and the
    /// daily failure rate over the last `trendDays` days (1 to 366, UTC).
    /// Served from a snapshot at most a few seconds old (see `computedAt`).
    #[graphql(guard = "Need(Permission::Read)")]
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_TREND_DAYS as i32)")] trend_days: Option<i32>,
    ) -> Result<SystemStats> {
        let primary = ctx.data::<DatabaseConnection>()?;
        let reads = &ctx.data::<Reads>()?.0;
        let cache = ctx.data::<Arc<StatsCache>>()?;
        let stats = cache
            .get(
                primary,
                reads,
                trend_days.map_or(DEFAULT_TREND_DAYS, i64::from),
            )
            .await
            .gql()?;
        Ok(stats.as_ref().into())
    }
}

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    RiskQuery,
    StatsQuery,
    AccessQuery,
    AlertingQuery,
    DigestQuery,
);
