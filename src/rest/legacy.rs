//! The legacy REST payloads (SPEC §5), field for field as the Python API
//! wrote them: names pinned with serde, timestamps as naive ISO 8601 in UTC,
//! money as a decimal number of euros. They convert from service results.

use chrono::{DateTime, Timelike, Utc};
use entity::{subscription_payments, user_subscriptions};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::queries::{RiskyUser, SystemStats, UserAnalysis};
use sea_orm::ActiveEnum;

use crate::domain::Cents;

/// A timestamp as the legacy API wrote it: ISO 8601, UTC, no offset,
/// microseconds only when not zero (Python's `datetime.isoformat()`).
pub fn legacy_time(at: DateTime<Utc>) -> String {
    let naive = at.naive_utc();
    let micros = naive.nanosecond() / 1_000 % 1_000_000;
    if micros == 0 {
        naive.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", naive.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// `GET /`: the health JSON.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: &'static str,
    /// Always `Risk Monitor API is running`.
    pub message: &'static str,
    /// The service's version.
    pub version: &'static str,
}

/// One row of `GET /api/risky-users`.
#[derive(Serialize, ToSchema)]
pub struct RiskyUserSummary {
    /// User id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Score in [0, 1].
    pub risk_score: f64,
    /// Failed / all payments.
    pub failure_rate: f64,
    /// Every payment.
    pub total_payments: i32,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// The current plan's type.
    pub subscription_type: Option<String>,
    /// The current plan's monthly price in euros.
    pub monthly_amount: Option<f64>,
    /// Account opening.
    #[schema(example = "2026-09-15T12:57:29.979103")]
    pub created_at: String,
}

impl From<RiskyUser> for RiskyUserSummary {
    fn from(row: RiskyUser) -> Self {
        Self {
            id: row.user.id,
            name: row.user.name,
            email: row.user.email,
            risk_score: row.score.score,
            failure_rate: row.score.failure_rate,
            total_payments: row.score.total_payments,
            failed_payments: row.score.failed_payments,
            subscription_type: row.score.subscription_type,
            monthly_amount: row
                .score
                .monthly_amount_cents
                .map(|c| Cents::new(c).units()),
            created_at: legacy_time(row.user.created_at),
        }
    }
}

/// A plan version in `subscriptions_history`.
#[derive(Serialize, ToSchema)]
pub struct LegacySubscription {
    /// basic, premium, …
    pub subscription_type: String,
    /// Monthly price in euros.
    pub monthly_amount: f64,
    /// active, cancelled, suspended.
    pub status: String,
    /// Version id.
    pub id: i64,
    /// User id.
    pub user_id: i64,
    /// Recorded at.
    pub created_at: String,
    /// Last changed at.
    pub updated_at: String,
    /// First instant it applies.
    pub effective_from: String,
    /// Last instant it applies.
    pub effective_until: Option<String>,
}

impl From<user_subscriptions::Model> for LegacySubscription {
    fn from(s: user_subscriptions::Model) -> Self {
        Self {
            subscription_type: s.subscription_type,
            monthly_amount: Cents::new(s.monthly_amount_cents).units(),
            status: s.status.to_value(),
            id: s.id,
            user_id: s.user_id,
            created_at: legacy_time(s.created_at),
            updated_at: legacy_time(s.updated_at),
            effective_from: legacy_time(s.effective_from),
            effective_until: s.effective_until.map(legacy_time),
        }
    }
}

/// A payment in `payment_history`.
#[derive(Serialize, ToSchema)]
pub struct LegacyPayment {
    /// Amount in euros.
    pub amount: f64,
    /// ISO 4217 code.
    pub currency: String,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Payment id.
    pub id: i64,
    /// Plan version paid for.
    pub subscription_id: Option<i64>,
    /// User id.
    pub user_id: i64,
    /// success, failed, declined, pending, refunded.
    pub status: String,
    /// When it was attempted.
    pub payment_date: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

impl From<subscription_payments::Model> for LegacyPayment {
    fn from(p: subscription_payments::Model) -> Self {
        Self {
            amount: Cents::new(p.amount_cents).units(),
            currency: p.currency,
            payment_method: p.payment_method,
            id: p.id,
            subscription_id: p.subscription_id,
            user_id: p.user_id,
            status: p.status.to_value(),
            payment_date: legacy_time(p.payment_date),
            failure_reason: p.failure_reason,
        }
    }
}

/// `GET /api/user/{user_id}/risk-analysis`.
#[derive(Serialize, ToSchema)]
pub struct RiskAnalysis {
    /// User id.
    pub user_id: i64,
    /// Name.
    pub user_name: String,
    /// Email.
    pub user_email: String,
    /// Score in [0, 1].
    pub risk_score: f64,
    /// low, medium, high, critical.
    pub risk_level: &'static str,
    /// Failed / all payments.
    pub failure_rate: f64,
    /// Every payment.
    pub total_payments: u32,
    /// Failed or declined payments.
    pub failed_payments: u32,
    /// Legacy meaning: every payment minus the failed ones.
    pub successful_payments: u32,
    /// Every plan version, oldest first.
    pub subscriptions_history: Vec<LegacySubscription>,
    /// The 10 newest payments, newest first.
    pub payment_history: Vec<LegacyPayment>,
    /// The explanation, in the legacy wording.
    pub risk_factors: Vec<String>,
    /// What to do at this level.
    pub recommendations: Vec<&'static str>,
}

impl RiskAnalysis {
    /// The payload for an analysis and its lists.
    pub fn new(
        analysis: UserAnalysis,
        subscriptions: Vec<user_subscriptions::Model>,
        payments: Vec<subscription_payments::Model>,
    ) -> Self {
        let a = analysis.assessment;
        Self {
            user_id: analysis.user.id,
            user_name: analysis.user.name,
            user_email: analysis.user.email,
            risk_score: a.score,
            risk_level: a.level.as_str(),
            failure_rate: a.failure_rate,
            total_payments: a.total_payments,
            failed_payments: a.failed_payments,
            successful_payments: a.total_payments - a.failed_payments,
            subscriptions_history: subscriptions.into_iter().map(Into::into).collect(),
            payment_history: payments.into_iter().map(Into::into).collect(),
            risk_factors: a.messages,
            recommendations: a.recommendations.to_vec(),
        }
    }
}

/// `GET /api/stats`.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// Every user.
    pub total_users: u64,
    /// Active users at or above the high threshold: all of them (the legacy capped it at 100).
    pub high_risk_users: u64,
    /// Every payment.
    pub total_payments: u64,
    /// Failed or declined payments.
    pub failed_payments: u64,
    /// failed / total payments.
    pub overall_failure_rate: f64,
    /// Average score of active users.
    pub avg_risk_score: f64,
}

impl From<&SystemStats> for Stats {
    fn from(s: &SystemStats) -> Self {
        Self {
            total_users: s.total_users,
            high_risk_users: s.high_risk_users,
            total_payments: s.total_payments,
            failed_payments: s.failed_payments,
            overall_failure_rate: s.overall_failure_rate,
            avg_risk_score: s.avg_risk_score,
        }
    }
}

/// `POST /api/alert/{user_id}`.
#[derive(Serialize, ToSchema)]
pub struct AlertSent {
    /// Always `success`.
    pub status: &'static str,
    /// `Alert sent for user <id>`.
    pub message: String,
    /// The user's level when alerted.
    pub risk_level: String,
    /// The user's score when alerted.
    pub risk_score: f64,
}

/// An error with a message, as FastAPI's `HTTPException` wrote it.
#[derive(Serialize, ToSchema)]
pub struct Detail {
    /// What went wrong, e.g. `User 42 not found`.
    pub detail: String,
}

/// The refusals of a route about one user: unknown (404) or a malformed id (422).
#[derive(utoipa::IntoResponses)]
pub enum UserRouteErrors {
    /// No such user.
    #[response(status = 404, description = "No such user")]
    NotFound(Detail),
    /// A malformed id.
    #[response(status = 422, description = "A malformed id")]
    Invalid(ValidationError),
}

/// One problem with a request parameter, as FastAPI's validation wrote it.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct ValidationItem {
    /// Where: `["path", "user_id"]` or `["query", "limit"]`.
    pub loc: Vec<String>,
    /// Why, in words.
    pub msg: String,
    /// A machine-readable kind: `int_parsing`, `float_parsing`, `value_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value given.
    pub input: String,
}

/// 422: the request's parameters are malformed.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    /// Every problem found.
    pub detail: Vec<ValidationItem>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_naive_iso_with_microseconds_only_when_not_zero() {
        let whole = Utc
            .with_ymd_and_hms(2026, 9, 15, 12, 57, 29)
            .single()
            .expect("date");
        assert_eq!(legacy_time(whole), "2026-09-15T12:57:29");
        let fraction = whole + chrono::Duration::microseconds(979_103);
        assert_eq!(legacy_time(fraction), "2026-09-15T12:57:29.979103");
        let tiny = whole + chrono::Duration::microseconds(5);
        assert_eq!(legacy_time(tiny), "2026-09-15T12:57:29.000005");
    }
}
