//! Read use cases: the risky list, one user's analysis, the statistics
//! (SPEC §4 queries and §5 routes). Lists and statistics read the
//! materialized scores (SPEC §3.4); an analysis scores the user on demand.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{alerts, risk_scores, subscription_payments, user_subscriptions, users};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::{ListCursor, RiskyFilter};
use crate::error::{AppError, AppResult};
use crate::risk::{Assessment, RiskLevel, RiskPattern, ScoringConfig};
use crate::service::scoring::{self, When};
use crate::store::users::ScoringUser;
use crate::store::{self, payments};

/// The largest page a list returns (SPEC §4 page cap).
pub const MAX_PAGE: u64 = 100;

/// A list's page size when the client names none (SPEC §4 `first`).
pub const DEFAULT_PAGE: u64 = 20;

/// How many of a user's newest payments an analysis shows by default (SPEC
/// §4 `recentPayments`, §5 `payment_history`).
pub const RECENT_PAYMENTS: u64 = 10;

/// The trend's length when the client names none (SPEC §4 `trendDays`).
pub const DEFAULT_TREND_DAYS: i64 = 30;

/// A row of the risky list: the user and their stored score.
#[derive(Clone, Debug)]
pub struct RiskyUser {
    /// The user.
    pub user: users::Model,
    /// Their materialized score.
    pub score: risk_scores::Model,
}

impl RiskyUser {
    /// The stored level.
    pub fn level(&self) -> RiskLevel {
        RiskLevel::from(self.score.level)
    }

    /// The stored patterns.
    pub fn patterns(&self) -> Vec<RiskPattern> {
        RiskPattern::from_mask(self.score.patterns)
    }

    /// Where the next page starts.
    pub fn cursor(&self) -> ListCursor {
        ListCursor {
            score: self.score.score,
            user_id: self.user.id,
        }
    }
}

/// One page of the risky list.
#[derive(Clone, Debug)]
pub struct RiskyPage {
    /// The rows, highest score first.
    pub rows: Vec<RiskyUser>,
    /// More rows follow.
    pub has_next_page: bool,
}

/// Active users at or above `filter.min_score`, highest first (ties by id),
/// `first` at most, after `after`. (The list's total comes from
/// [`crate::service::stats_cache::StatsCache::total`].)
pub async fn risky_users(
    db: &DatabaseConnection,
    filter: &RiskyFilter,
    first: u64,
    after: Option<ListCursor>,
) -> AppResult<RiskyPage> {
    let mut rows = store::risk_scores::risky_page(db, filter, after, first + 1).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(RiskyPage {
        rows: rows
            .into_iter()
            .map(|(score, user)| RiskyUser { user, score })
            .collect(),
        has_next_page,
    })
}

/// Everything support needs about one user, scored at `at`.
#[derive(Clone, Debug)]
pub struct UserAnalysis {
    /// The user.
    pub user: users::Model,
    /// Score, level, factors, patterns, messages, recommendations.
    pub assessment: Assessment,
    /// The instant of the analysis: now, or the `asOf` asked for.
    pub at: DateTime<Utc>,
    /// Whether this is a past instant (only the data up to then counts).
    pub as_of: bool,
}

/// The analysis of `user_id` now, or as of a past instant; `None` for an
/// unknown user.
pub async fn user_analysis(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    user_id: i64,
    as_of: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<Option<UserAnalysis>> {
    let when = as_of.map_or(When::Now(now), When::AsOf);
    let found = match when {
        When::Now(now) => scoring::user_assessed_now(db, config, user_id, now).await?,
        When::AsOf(_) => match store::users::find(db, user_id).await? {
            Some(user) => {
                let scored = ScoringUser::from(&user);
                Some((
                    user,
                    scoring::assess_stored(db, config, &scored, when).await?,
                ))
            }
            None => None,
        },
    };
    let Some((user, assessment)) = found else {
        return Ok(None);
    };
    Ok(Some(UserAnalysis {
        user,
        assessment,
        at: when.instant(),
        as_of: as_of.is_some(),
    }))
}

/// The analysis's plan history (versions started by its instant), oldest first.
pub async fn analysis_subscriptions(
    db: &DatabaseConnection,
    analysis: &UserAnalysis,
) -> AppResult<Vec<user_subscriptions::Model>> {
    let until = analysis.as_of.then_some(analysis.at);
    Ok(store::subscriptions::history(db, analysis.user.id, until).await?)
}

/// The analysis's `first` newest payments (up to its instant), newest first.
pub async fn analysis_payments(
    db: &DatabaseConnection,
    analysis: &UserAnalysis,
    first: u64,
) -> AppResult<Vec<subscription_payments::Model>> {
    let until = analysis.as_of.then_some(analysis.at);
    Ok(payments::newest(db, analysis.user.id, until, first).await?)
}

/// The alerts raised on the analysis's user (up to its instant), newest first.
pub async fn analysis_alerts(
    db: &DatabaseConnection,
    analysis: &UserAnalysis,
) -> AppResult<Vec<alerts::Model>> {
    let until = analysis.as_of.then_some(analysis.at);
    Ok(store::alerts::of_user(db, analysis.user.id, until).await?)
}

/// One day of the failure trend.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DayFailures {
    /// The UTC day.
    pub day: NaiveDate,
    /// Payments that day.
    pub payments: u64,
    /// Failed or declined that day.
    pub failed: u64,
}

impl DayFailures {
    /// failed / payments, 0 on a day without payments.
    pub fn failure_rate(&self) -> f64 {
        if self.payments == 0 {
            0.0
        } else {
            self.failed as f64 / self.payments as f64
        }
    }
}

/// The system's statistics (serialized to share one snapshot between
/// processes, see [`crate::service::stats_cache`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemStats {
    /// Every user.
    pub total_users: u64,
    /// Active users; the level counts, histogram, average and high-risk
    /// count are over them.
    pub active_users: u64,
    /// Active users at or above the high threshold (critical included).
    pub high_risk_users: u64,
    /// Every payment.
    pub total_payments: u64,
    /// Failed or declined payments.
    pub failed_payments: u64,
    /// failed / total payments.
    pub overall_failure_rate: f64,
    /// Average score of active users.
    pub avg_risk_score: f64,
    /// Active users per level.
    pub levels: [(RiskLevel, u64); 4],
    /// Active users per tenth of score.
    pub histogram: [u64; 10],
    /// One entry per UTC day of the trend, oldest first, empty days included.
    pub failure_trend: Vec<DayFailures>,
    /// Active high-risk users (critical included) per current plan type
    /// (`None`: no plan), most first.
    pub high_risk_by_plan: Vec<(Option<String>, u64)>,
    /// Cases still being worked (open or acknowledged) per level.
    pub open_cases: [(RiskLevel, u64); 4],
    /// When these figures were computed.
    pub computed_at: DateTime<Utc>,
}

/// The longest trend `stats` computes.
pub const MAX_TREND_DAYS: i64 = 366;

impl SystemStats {
    /// The same figures with only the last `days` days of the trend (all of
    /// it when it is shorter): what [`stats`] computes for `days` at the same
    /// instant.
    pub fn with_trend(&self, TrendDays(days): TrendDays) -> Self {
        let keep = usize::try_from(days).unwrap_or(usize::MAX);
        let skip = self.failure_trend.len().saturating_sub(keep);
        Self {
            failure_trend: self.failure_trend[skip..].to_vec(),
            ..self.clone()
        }
    }
}

/// The length of the statistics' daily trend: 1 to [`MAX_TREND_DAYS`] days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrendDays(i64);

impl TrendDays {
    /// Refuses a length out of range.
    pub fn parse(days: i64) -> AppResult<Self> {
        if (1..=MAX_TREND_DAYS).contains(&days) {
            Ok(Self(days))
        } else {
            Err(AppError::bad_input(
                "trendDays",
                format!("must be between 1 and {MAX_TREND_DAYS}"),
            ))
        }
    }
}

/// The statistics, with a daily failure trend over the `trend_days` days
/// ending today (UTC). Runs on the pool or in a transaction (the digest
/// reads them in its own).
pub async fn stats<C: ConnectionTrait>(
    db: &C,
    TrendDays(trend_days): TrendDays,
    now: DateTime<Utc>,
) -> AppResult<SystemStats> {
    let first_day = now.date_naive() - Duration::days(trend_days - 1);
    let store::stats::Figures {
        scores,
        payments,
        days: recorded,
        high_risk_by_plan,
    } = store::stats::figures(db, first_day).await?;
    let [open_low, open_medium, open_high, open_critical] =
        store::stats::open_cases_by_level(db).await?;
    let failure_trend = first_day
        .iter_days()
        .take(trend_days as usize)
        .map(|day| {
            let found = recorded
                .iter()
                .find(|(d, _)| *d == day)
                .map(|(_, a)| *a)
                .unwrap_or_default();
            DayFailures {
                day,
                payments: found.total,
                failed: found.failed,
            }
        })
        .collect();
    let [low, medium, high, critical] = scores.levels;
    Ok(SystemStats {
        total_users: scores.total_users,
        active_users: scores.active_users,
        high_risk_users: high + critical,
        total_payments: payments.total,
        failed_payments: payments.failed,
        overall_failure_rate: ratio(payments.failed, payments.total),
        avg_risk_score: if scores.active_users == 0 {
            0.0
        } else {
            scores.score_sum / scores.active_users as f64
        },
        levels: [
            (RiskLevel::Low, low),
            (RiskLevel::Medium, medium),
            (RiskLevel::High, high),
            (RiskLevel::Critical, critical),
        ],
        histogram: scores.histogram,
        failure_trend,
        high_risk_by_plan,
        open_cases: [
            (RiskLevel::Low, open_low),
            (RiskLevel::Medium, open_medium),
            (RiskLevel::High, open_high),
            (RiskLevel::Critical, open_critical),
        ],
        computed_at: now,
    })
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
