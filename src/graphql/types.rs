//! GraphQL output and input types (SPEC §4). They convert from service
//! results with `From`; nothing here is derived on the database entities, so
//! a column change never silently changes the public contract.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{alerts, subscription_payments, user_subscriptions, users};
use sea_orm::ActiveEnum;

use crate::domain::{
    self, Caller, Cents, CurrencyCode, Email, IdempotencyKey, PaymentStatus as DomainStatus,
};
use crate::error::{AppError, AppResult};
use crate::risk::{self, FactorName, RiskLevel};
use crate::service::alerts::NewAlert;
use crate::service::ingest::{NewPayment, NewSubscription, UserUpsert};
use crate::service::queries::{self, DEFAULT_PAGE, MAX_PAGE};

/// How risky a user is, by the configured thresholds.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "RiskLevel", remote = "risk::RiskLevel")]
pub enum GqlRiskLevel {
    /// Below the medium threshold (0.2).
    Low,
    /// From 0.2 to the high threshold.
    Medium,
    /// From the high threshold (default 0.4) to the critical one.
    High,
    /// At or above the critical threshold (default 0.7).
    Critical,
}

impl From<entity::sea_orm_active_enums::RiskLevel> for GqlRiskLevel {
    fn from(level: entity::sea_orm_active_enums::RiskLevel) -> Self {
        risk::RiskLevel::from(level).into()
    }
}

/// A payment's status. FAILED and DECLINED count as failures; PENDING and
/// REFUNDED count as neither a success nor a failure.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "PaymentStatus", remote = "DomainStatus")]
pub enum GqlPaymentStatus {
    /// Paid.
    Success,
    /// Failed.
    Failed,
    /// Declined by the bank or provider.
    Declined,
    /// Not settled yet.
    Pending,
    /// Paid, then refunded.
    Refunded,
}

/// A named risk pattern detected in a user's history.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "RiskPattern", remote = "risk::RiskPattern")]
pub enum GqlRiskPattern {
    /// More than 40% of the last 3 payments failed.
    RecentFailures,
    /// The oldest payment succeeded, then at least 2 of the next 3 failed.
    PayOnceThenDecline,
    /// Early payments succeeded, the newest ones failed.
    EarlySuccessRecentFailures,
    /// The newest amount is under 70% of the earlier ones.
    Downgrade,
    /// The newest amount is over 150% of the earlier ones.
    Upgrade,
    /// The newest amount is 3.00 or less.
    LowCostPlan,
    /// The account is less than 30 days old.
    NewAccount,
    /// The two newest payments both failed.
    ConsecutiveFailures,
}

/// The patterns as GraphQL values.
pub fn patterns_of(patterns: &[risk::RiskPattern]) -> Vec<GqlRiskPattern> {
    patterns.iter().copied().map(Into::into).collect()
}

/// One input of the score.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "FactorName")]
pub enum RiskFactorName {
    /// Failure rate on the last 3 payments.
    RecentFailures,
    /// Plan amount, downgrade or upgrade.
    Amount,
    /// Failure rate on every payment.
    OverallFailures,
    /// "Pays once, then declines" patterns.
    Pattern,
    /// The account's age.
    AccountAge,
}

/// One input of the score with its share: `contribution = weight × value`.
#[derive(SimpleObject, Clone, Debug)]
pub struct RiskFactor {
    /// Which input.
    pub name: RiskFactorName,
    /// Its raw value in [0, 1], before weighting.
    pub value: f64,
    /// Its configured weight.
    pub weight: f64,
    /// weight × value: what it adds to the score.
    pub contribution: f64,
    /// A sentence explaining the value.
    pub detail: String,
}

impl From<&risk::Factor> for RiskFactor {
    fn from(f: &risk::Factor) -> Self {
        Self {
            name: f.name.into(),
            value: f.value,
            weight: f.weight,
            contribution: f.contribution,
            detail: f.detail.clone(),
        }
    }
}

/// A subscriber.
#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    /// The user's id.
    pub id: ID,
    /// The billing system's id.
    pub external_id: Option<String>,
    /// Name.
    pub name: String,
    /// Email (stored lower-case).
    pub email: String,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
    /// Inactive users are kept but leave the risky list and statistics.
    pub is_active: bool,
}

impl From<users::Model> for User {
    fn from(u: users::Model) -> Self {
        Self {
            id: ID(u.id.to_string()),
            external_id: u.external_id,
            name: u.name,
            email: u.email,
            created_at: u.created_at,
            is_active: u.is_active,
        }
    }
}

/// One version of a user's plan.
#[derive(SimpleObject, Clone, Debug)]
pub struct Subscription {
    /// The version's id.
    pub id: ID,
    /// basic, premium, pro, enterprise, …
    pub subscription_type: String,
    /// active, cancelled or suspended.
    pub status: String,
    /// Monthly price in currency units (12.99).
    pub monthly_amount: f64,
    /// ISO 4217 code.
    pub currency: String,
    /// First instant it applies.
    pub effective_from: DateTime<Utc>,
    /// Last instant it applies, if it ended.
    pub effective_until: Option<DateTime<Utc>>,
}

impl From<user_subscriptions::Model> for Subscription {
    fn from(s: user_subscriptions::Model) -> Self {
        Self {
            id: ID(s.id.to_string()),
            subscription_type: s.subscription_type,
            status: s.status.to_value(),
            monthly_amount: Cents::new(s.monthly_amount_cents).units(),
            currency: s.currency,
            effective_from: s.effective_from,
            effective_until: s.effective_until,
        }
    }
}

/// One payment attempt.
#[derive(SimpleObject, Clone, Debug)]
pub struct Payment {
    /// The payment's id.
    pub id: ID,
    /// The billing system's id.
    pub external_id: Option<String>,
    /// The plan version paid for.
    pub subscription_id: Option<ID>,
    /// Amount in currency units (12.99).
    pub amount: f64,
    /// ISO 4217 code.
    pub currency: String,
    /// Outcome.
    pub status: GqlPaymentStatus,
    /// When it was attempted.
    pub payment_date: DateTime<Utc>,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

impl From<subscription_payments::Model> for Payment {
    fn from(p: subscription_payments::Model) -> Self {
        Self {
            id: ID(p.id.to_string()),
            external_id: p.external_id,
            subscription_id: p.subscription_id.map(|id| ID(id.to_string())),
            amount: Cents::new(p.amount_cents).units(),
            currency: p.currency,
            status: p.status.into(),
            payment_date: p.payment_date,
            payment_method: p.payment_method,
            failure_reason: p.failure_reason,
        }
    }
}

/// An alert raised on a user: a case worked from OPEN to RESOLVED or
/// DISMISSED (SPEC §10), kept as an audit trail.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Alert {
    /// The alert's id.
    pub id: ID,
    /// The user's score when it was raised.
    pub risk_score: f64,
    /// The user's level when it was raised.
    pub risk_level: GqlRiskLevel,
    /// Free text from whoever raised it.
    pub note: Option<String>,
    /// The key it was raised with, if any.
    pub idempotency_key: Option<String>,
    /// Where it goes: always `outbox` (see `deliveries`).
    #[graphql(deprecation = "see deliveries: one per channel")]
    pub channel: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// Raised by a person or by the service.
    pub kind: super::alerting::GqlAlertKind,
    /// Where the case stands.
    pub status: super::alerting::GqlAlertStatus,
    /// Who works the case.
    pub assignee: Option<String>,
    /// The version a transition must name (bumped by each transition).
    pub version: i32,
    /// How a resolved case ended.
    pub resolution: Option<super::alerting::GqlResolution>,
    /// When it was resolved or dismissed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who raised it (`system` for automatic alerts).
    pub created_by: Option<String>,
    #[graphql(skip)]
    pub(crate) alert_id: i64,
    #[graphql(skip)]
    pub(crate) user_id: i64,
}

impl From<alerts::Model> for Alert {
    fn from(a: alerts::Model) -> Self {
        Self {
            id: ID(a.id.to_string()),
            risk_score: a.risk_score,
            risk_level: a.risk_level.into(),
            note: a.note,
            idempotency_key: a.idempotency_key,
            channel: "outbox".to_owned(),
            created_at: a.created_at,
            kind: a.kind.into(),
            status: a.status.into(),
            assignee: a.assignee,
            version: a.version,
            resolution: a.resolution.map(Into::into),
            closed_at: a.closed_at,
            created_by: a.created_by,
            alert_id: a.id,
            user_id: a.user_id,
        }
    }
}

/// The outcome of `sendAlert`.
#[derive(SimpleObject, Clone, Debug)]
pub struct AlertResult {
    /// The alert (the earlier one when deduplicated).
    pub alert: Alert,
    /// The idempotency key was already used: no new alert was recorded.
    pub deduplicated: bool,
}

/// The outcome of `recordPayment`.
#[derive(SimpleObject, Clone, Debug)]
pub struct PaymentResult {
    /// The payment (the earlier one for a duplicate external id).
    pub payment: Payment,
    /// The external id was already recorded: nothing new was written.
    pub duplicate: bool,
    /// The user's score after the payment.
    pub risk_score: f64,
    /// The user's level after the payment.
    pub risk_level: GqlRiskLevel,
}

/// A user of the risky list with their stored score.
#[derive(SimpleObject, Clone, Debug)]
pub struct RiskyUser {
    /// The user.
    pub user: User,
    /// Score in [0, 1].
    pub risk_score: f64,
    /// Level by the configured thresholds.
    pub risk_level: GqlRiskLevel,
    /// Failed / all payments.
    pub failure_rate: f64,
    /// Every payment.
    pub total_payments: i32,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// Patterns detected.
    pub patterns: Vec<GqlRiskPattern>,
    /// The current plan's type.
    pub subscription_type: Option<String>,
    /// The current plan's monthly price in currency units.
    pub monthly_amount: Option<f64>,
}

impl From<queries::RiskyUser> for RiskyUser {
    fn from(row: queries::RiskyUser) -> Self {
        let patterns = patterns_of(&row.patterns());
        let level = row.level().into();
        let s = row.score;
        Self {
            user: row.user.into(),
            risk_score: s.score,
            risk_level: level,
            failure_rate: s.failure_rate,
            total_payments: s.total_payments,
            failed_payments: s.failed_payments,
            patterns,
            subscription_type: s.subscription_type,
            monthly_amount: s.monthly_amount_cents.map(|c| Cents::new(c).units()),
        }
    }
}

/// Users at one level.
#[derive(SimpleObject, Clone, Debug)]
pub struct LevelCount {
    /// The level.
    pub level: GqlRiskLevel,
    /// Active users at it.
    pub count: i64,
}

/// Users on one plan type.
#[derive(SimpleObject, Clone, Debug)]
pub struct PlanCount {
    /// The current plan's type; null for users without a plan.
    pub subscription_type: Option<String>,
    /// Users counted.
    pub count: i64,
}

/// Active users whose score is in [from, to) (the last bucket includes 1).
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreBucket {
    /// Lower bound, included.
    pub from: f64,
    /// Upper bound, excluded (included for the last bucket).
    pub to: f64,
    /// Active users in the bucket.
    pub count: i64,
}

/// Payments and failures of one UTC day.
#[derive(SimpleObject, Clone, Debug)]
pub struct DailyFailures {
    /// The day, YYYY-MM-DD (UTC).
    pub day: String,
    /// Payments that day.
    pub payments: i64,
    /// Failed or declined payments that day.
    pub failed: i64,
    /// failed / payments (0 on a day without payments).
    pub failure_rate: f64,
}

/// Statistics of the whole system.
#[derive(SimpleObject, Clone, Debug)]
pub struct SystemStats {
    /// Every user.
    pub total_users: i64,
    /// Active users (levels, histogram, average and high-risk count are over them).
    pub active_users: i64,
    /// Active users at or above the high threshold, critical included: all of them.
    pub high_risk_users: i64,
    /// Every payment.
    pub total_payments: i64,
    /// Failed or declined payments.
    pub failed_payments: i64,
    /// failedPayments / totalPayments.
    pub overall_failure_rate: f64,
    /// Average score of active users.
    pub avg_risk_score: f64,
    /// Active users per level.
    pub levels: Vec<LevelCount>,
    /// Active users per tenth of score.
    pub histogram: Vec<ScoreBucket>,
    /// One entry per day of the trend window, oldest first.
    pub failure_trend: Vec<DailyFailures>,
    /// Active high-risk users (critical included) per current plan type,
    /// most first.
    pub high_risk_by_plan: Vec<PlanCount>,
    /// Cases still being worked (`OPEN` or `ACKNOWLEDGED`) per level at
    /// raising.
    pub open_cases: Vec<LevelCount>,
    /// When these figures were computed: they are served from a snapshot at
    /// most a few seconds old.
    pub computed_at: DateTime<Utc>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn level_counts(levels: &[(RiskLevel, u64)]) -> Vec<LevelCount> {
    levels
        .iter()
        .map(|(level, n)| LevelCount {
            level: (*level).into(),
            count: count(*n),
        })
        .collect()
}

impl From<&queries::SystemStats> for SystemStats {
    fn from(s: &queries::SystemStats) -> Self {
        Self {
            total_users: count(s.total_users),
            active_users: count(s.active_users),
            high_risk_users: count(s.high_risk_users),
            total_payments: count(s.total_payments),
            failed_payments: count(s.failed_payments),
            overall_failure_rate: s.overall_failure_rate,
            avg_risk_score: s.avg_risk_score,
            levels: level_counts(&s.levels),
            histogram: s
                .histogram
                .iter()
                .enumerate()
                .map(|(i, n)| ScoreBucket {
                    from: i as f64 / 10.0,
                    to: (i + 1) as f64 / 10.0,
                    count: count(*n),
                })
                .collect(),
            failure_trend: s
                .failure_trend
                .iter()
                .map(|d| DailyFailures {
                    day: d.day.format("%Y-%m-%d").to_string(),
                    payments: count(d.payments),
                    failed: count(d.failed),
                    failure_rate: d.failure_rate(),
                })
                .collect(),
            high_risk_by_plan: s
                .high_risk_by_plan
                .iter()
                .map(|(plan, n)| PlanCount {
                    subscription_type: plan.clone(),
                    count: count(*n),
                })
                .collect(),
            open_cases: level_counts(&s.open_cases),
            computed_at: s.computed_at,
        }
    }
}

/// A user to create or update: matched by `externalId` when given, else by
/// `email`.
#[derive(InputObject, Clone, Debug)]
pub struct UserInput {
    /// The billing system's id.
    pub external_id: Option<String>,
    /// Name.
    pub name: String,
    /// Email; unique, case-insensitive.
    pub email: String,
    /// Account opening (default: now, for a new user).
    pub created_at: Option<DateTime<Utc>>,
    /// Active flag (default: true, for a new user).
    pub is_active: Option<bool>,
}

/// A plan version to record.
#[derive(InputObject, Clone, Debug)]
pub struct SubscriptionInput {
    /// The subscriber.
    pub user_id: ID,
    /// basic, premium, pro, enterprise, …
    pub subscription_type: String,
    /// active, cancelled or suspended.
    pub status: String,
    /// Monthly price in currency units, at most two decimals (12.99).
    pub monthly_amount: f64,
    /// ISO 4217 code (default EUR).
    pub currency: Option<String>,
    /// First instant it applies.
    pub effective_from: DateTime<Utc>,
    /// Last instant it applies.
    pub effective_until: Option<DateTime<Utc>>,
}

/// A payment to record.
#[derive(InputObject, Clone, Debug)]
pub struct PaymentInput {
    /// The payer.
    pub user_id: ID,
    /// The plan version paid for (must be the user's).
    pub subscription_id: Option<ID>,
    /// The billing system's id: recording it again returns the first payment.
    pub external_id: Option<String>,
    /// Amount in currency units, at most two decimals (12.99).
    pub amount: f64,
    /// ISO 4217 code (default EUR).
    pub currency: Option<String>,
    /// Outcome.
    pub status: GqlPaymentStatus,
    /// When it was attempted.
    pub payment_date: DateTime<Utc>,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

impl TryFrom<UserInput> for UserUpsert {
    type Error = AppError;

    fn try_from(input: UserInput) -> AppResult<Self> {
        Ok(Self {
            name: domain::text(&input.name, "name", 200)?,
            email: Email::parse(&input.email)?,
            external_id: domain::optional_text(input.external_id.as_deref(), "externalId", 255)?,
            created_at: input.created_at,
            is_active: input.is_active,
        })
    }
}

impl TryFrom<SubscriptionInput> for NewSubscription {
    type Error = AppError;

    fn try_from(input: SubscriptionInput) -> AppResult<Self> {
        Ok(Self {
            user_id: parse_id(&input.user_id, "userId")?,
            monthly_amount: Cents::parse(input.monthly_amount, "monthlyAmount")?,
            subscription_type: domain::text(&input.subscription_type, "subscriptionType", 50)?,
            status: domain::plan_status(&domain::text(&input.status, "status", 20)?)?,
            currency: CurrencyCode::parse_or_euro(input.currency.as_deref())?,
            effective_from: input.effective_from,
            effective_until: input.effective_until,
        })
    }
}

/// A payment from `caller`, parsed.
pub fn new_payment(input: PaymentInput, caller: Caller) -> AppResult<NewPayment> {
    Ok(NewPayment {
        user_id: parse_id(&input.user_id, "userId")?,
        subscription_id: input
            .subscription_id
            .as_ref()
            .map(|id| parse_id(id, "subscriptionId"))
            .transpose()?,
        amount: Cents::parse(input.amount, "amount")?,
        external_id: domain::optional_text(input.external_id.as_deref(), "externalId", 255)?,
        currency: CurrencyCode::parse_or_euro(input.currency.as_deref())?,
        status: input.status.into(),
        payment_date: input.payment_date,
        payment_method: domain::text(&input.payment_method, "paymentMethod", 50)?,
        failure_reason: domain::optional_text(
            input.failure_reason.as_deref(),
            "failureReason",
            1000,
        )?,
        caller,
    })
}

/// The arguments of `sendAlert`, parsed.
pub fn new_alert(
    user_id: &ID,
    note: Option<&str>,
    idempotency_key: Option<&str>,
) -> AppResult<NewAlert> {
    Ok(NewAlert {
        user_id: parse_id(user_id, "userId")?,
        note: domain::note(note)?,
        idempotency_key: idempotency_key.map(IdempotencyKey::parse).transpose()?,
    })
}

/// A `first` argument within the page cap (the default when absent).
pub fn page_size(first: Option<i32>) -> AppResult<u64> {
    let Some(first) = first else {
        return Ok(DEFAULT_PAGE);
    };
    u64::try_from(first)
        .ok()
        .filter(|n| *n <= MAX_PAGE)
        .ok_or_else(|| {
            AppError::bad_input(
                "first",
                format!("must be between 0 and {MAX_PAGE} (the page cap)"),
            )
        })
}

/// Parses an `ID` argument into a database id.
pub fn parse_id(id: &ID, field: &str) -> Result<i64, AppError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AppError::bad_input(field, format!("{:?} is not a valid id", id.as_str())))
}
