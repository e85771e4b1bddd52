//! Recording users, plan versions and payments (SPEC §4 mutations). Each
//! write locks the user, writes, rescores the user (SPEC §3.4) and commits:
//! all of it or none of it. Inputs are validated before anything is written.

use chrono::{DateTime, SubsecRound, Utc};
use entity::{subscription_payments, user_subscriptions, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QuerySelect, TryInsertResult,
};

use crate::db;
use crate::domain::{Cents, PaymentStatus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::{Assessment, PaymentFact, ScoringConfig};
use crate::service::scoring;
use crate::store::risk_scores;
use crate::store::users as user_store;
use crate::store::{payments, subscriptions};

/// A payment to record, as the client sent it (money already in cents).
#[derive(Clone, Debug)]
pub struct NewPayment {
    /// The payer.
    pub user_id: i64,
    /// The plan version paid for; must belong to the user.
    pub subscription_id: Option<i64>,
    /// The billing system's id: recording it twice records it once.
    pub external_id: Option<String>,
    /// Amount.
    pub amount: Cents,
    /// ISO 4217 code; EUR when absent.
    pub currency: Option<String>,
    /// Outcome.
    pub status: PaymentStatus,
    /// When it was attempted.
    pub payment_date: DateTime<Utc>,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

/// What recording a payment did.
#[derive(Clone, Debug)]
pub struct PaymentRecorded {
    /// The stored payment (the earlier one for a duplicate).
    pub payment: subscription_payments::Model,
    /// The external id was already recorded: nothing new was written.
    pub duplicate: bool,
    /// The user's score after the payment.
    pub assessment: Assessment,
}

/// A plan version to record.
#[derive(Clone, Debug)]
pub struct NewSubscription {
    /// The subscriber.
    pub user_id: i64,
    /// basic, premium, pro, enterprise, …
    pub subscription_type: String,
    /// active, cancelled or suspended.
    pub status: String,
    /// Monthly price.
    pub monthly_amount: Cents,
    /// ISO 4217 code; EUR when absent.
    pub currency: Option<String>,
    /// First instant it applies.
    pub effective_from: DateTime<Utc>,
    /// Last instant it applies.
    pub effective_until: Option<DateTime<Utc>>,
}

/// A user to create or update: matched by external id, else by email.
#[derive(Clone, Debug)]
pub struct UserUpsert {
    /// The billing system's id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Contact email.
    pub email: String,
    /// Account opening; now for a new user when absent, unchanged otherwise.
    pub created_at: Option<DateTime<Utc>>,
    /// Active flag; true for a new user when absent, unchanged otherwise.
    pub is_active: Option<bool>,
}

/// The currency spelled as stored: three ASCII letters, upper case.
fn currency(value: Option<&str>, field: &str) -> AppResult<String> {
    let value = value.unwrap_or("EUR").trim();
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{value:?} is not a three-letter ISO 4217 code"),
        ))
    }
}

/// A required short text: trimmed, not empty, at most `max` characters.
fn text(value: &str, field: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn optional_text(value: Option<&str>, field: &str, max: usize) -> AppResult<Option<String>> {
    value.map(|v| text(v, field, max)).transpose()
}

/// A plausible email: one `@`, something on each side, a dot in the domain;
/// stored lower-case so uniqueness ignores case.
fn email(value: &str) -> AppResult<String> {
    let value = text(value, "email", 254)?.to_lowercase();
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            "email",
            format!("{value:?} is not an email address"),
        ))
    }
}

fn not_found(user_id: i64) -> AppError {
    AppError::NotFound(format!("User {user_id} not found"))
}

/// Records a payment and rescores its user in the same transaction. With an
/// external id already recorded, returns the earlier payment and records
/// nothing (SPEC §2: ingestion is idempotent).
pub async fn record_payment(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    input: NewPayment,
    now: DateTime<Utc>,
) -> AppResult<PaymentRecorded> {
    record_payments(db, config, vec![input], now)
        .await
        .pop()
        .expect("one result per payment")
}

/// A payment whose fields passed validation, as it will be stored.
#[derive(Clone, Debug)]
struct ValidPayment {
    user_id: i64,
    subscription_id: Option<i64>,
    external_id: Option<String>,
    amount_cents: i64,
    currency: String,
    status: &'static str,
    payment_date: DateTime<Utc>,
    payment_method: String,
    failure_reason: Option<String>,
}

impl ValidPayment {
    fn row(&self) -> subscription_payments::ActiveModel {
        subscription_payments::ActiveModel {
            external_id: Set(self.external_id.clone()),
            subscription_id: Set(self.subscription_id),
            user_id: Set(self.user_id),
            amount_cents: Set(self.amount_cents),
            currency: Set(self.currency.clone()),
            status: Set(self.status.to_owned()),
            payment_date: Set(self.payment_date),
            payment_method: Set(self.payment_method.clone()),
            failure_reason: Set(self.failure_reason.clone()),
            ..Default::default()
        }
    }

    /// Whether `stored` is this payment: how the rows `RETURNING` gave back
    /// are told apart without relying on their order, which PostgreSQL does
    /// not promise (identical payments are interchangeable).
    fn is_stored_as(&self, stored: &subscription_payments::Model) -> bool {
        stored.external_id == self.external_id
            && stored.subscription_id == self.subscription_id
            && stored.user_id == self.user_id
            && stored.amount_cents == self.amount_cents
            && stored.currency == self.currency
            && stored.status == self.status
            && stored.payment_date == self.payment_date
            && stored.payment_method == self.payment_method
            && stored.failure_reason == self.failure_reason
    }
}

fn validate(input: NewPayment) -> AppResult<ValidPayment> {
    Ok(ValidPayment {
        user_id: input.user_id,
        subscription_id: input.subscription_id,
        external_id: optional_text(input.external_id.as_deref(), "externalId", 255)?,
        amount_cents: input.amount.get(),
        currency: currency(input.currency.as_deref(), "currency")?,
        status: input.status.as_str(),
        // As stored: both databases keep microseconds.
        payment_date: input.payment_date.trunc_subsecs(6),
        payment_method: text(&input.payment_method, "paymentMethod", 50)?,
        failure_reason: optional_text(input.failure_reason.as_deref(), "failureReason", 1000)?,
    })
}

/// Records several payments in one transaction (SPEC §3.4: each user locked,
/// written and rescored together), and returns one result per input, in
/// order: as if each had been recorded alone, one after the other. One
/// refused payment (unknown user, another user's plan or external id, bad
/// field) refuses only itself. Should the transaction fail as a whole, each
/// payment is retried alone, so that one cannot sink the others.
pub async fn record_payments(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    inputs: Vec<NewPayment>,
    now: DateTime<Utc>,
) -> Vec<AppResult<PaymentRecorded>> {
    let mut results: Vec<Option<AppResult<PaymentRecorded>>> =
        std::iter::repeat_with(|| None).take(inputs.len()).collect();
    let mut pending = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        match validate(input) {
            Ok(valid) => pending.push((index, valid)),
            Err(error) => results[index] = Some(Err(error)),
        }
    }
    while !pending.is_empty() {
        // The same external id twice in one round would insert nothing for
        // the second: a round ends before a repeat, which starts the next
        // round and sees the first. Rounds keep the order of arrival.
        let mut seen = std::collections::HashSet::new();
        let cut = pending
            .iter()
            .position(|(_, p)| {
                p.external_id
                    .as_ref()
                    .is_some_and(|id| !seen.insert(id.clone()))
            })
            .unwrap_or(pending.len());
        let later = pending.split_off(cut);
        let round = std::mem::replace(&mut pending, later);
        match record_round(db, config, &round, now).await {
            Ok(outcomes) => {
                for ((index, _), outcome) in round.iter().zip(outcomes) {
                    results[*index] = Some(outcome);
                }
            }
            Err(error) if round.len() == 1 => results[round[0].0] = Some(Err(error.into())),
            Err(_) => {
                for item in &round {
                    let outcome =
                        match record_round(db, config, std::slice::from_ref(item), now).await {
                            Ok(mut outcomes) => outcomes.pop().expect("one outcome"),
                            Err(error) => Err(error.into()),
                        };
                    results[item.0] = Some(outcome);
                }
            }
        }
    }
    results
        .into_iter()
        .map(|result| result.expect("every payment has a result"))
        .collect()
}

/// What the transaction does with one payment.
enum Plan {
    Refused(AppError),
    Duplicate(subscription_payments::Model),
    Insert,
}

/// One transaction over `items` (no external id twice): refusals come back
/// as per-item errors; a database failure rolls the whole round back.
async fn record_round(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    items: &[(usize, ValidPayment)],
    now: DateTime<Utc>,
) -> Result<Vec<AppResult<PaymentRecorded>>, DbErr> {
    use std::collections::HashMap;

    let txn = db::begin_write(db).await?;
    let mut user_ids: Vec<i64> = items.iter().map(|(_, p)| p.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let users: HashMap<i64, user_store::ScoringUser> = user_store::lock_many(&txn, &user_ids)
        .await?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let external_ids: Vec<&str> = items
        .iter()
        .filter_map(|(_, p)| p.external_id.as_deref())
        .collect();
    let mut recorded = recorded_external_ids(&txn, &external_ids).await?;
    let subscription_ids: Vec<i64> = items
        .iter()
        .filter_map(|(_, p)| p.subscription_id)
        .collect();
    let owners: HashMap<i64, i64> = if subscription_ids.is_empty() {
        HashMap::new()
    } else {
        user_subscriptions::Entity::find()
            .select_only()
            .columns([
                user_subscriptions::Column::Id,
                user_subscriptions::Column::UserId,
            ])
            .filter(user_subscriptions::Column::Id.is_in(subscription_ids))
            .into_tuple::<(i64, i64)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect()
    };

    let plan = |p: &ValidPayment| {
        if !users.contains_key(&p.user_id) {
            return Plan::Refused(not_found(p.user_id));
        }
        if let Some(existing) = p.external_id.as_ref().and_then(|id| recorded.get(id)) {
            return match duplicate_or_refusal(existing, p) {
                Ok(payment) => Plan::Duplicate(payment),
                Err(error) => Plan::Refused(error),
            };
        }
        if let Some(subscription_id) = p.subscription_id
            && owners.get(&subscription_id) != Some(&p.user_id)
        {
            return Plan::Refused(AppError::bad_input(
                "subscriptionId",
                format!(
                    "subscription {subscription_id} is not a plan of user {}",
                    p.user_id
                ),
            ));
        }
        Plan::Insert
    };
    let plans: Vec<Plan> = items.iter().map(|(_, p)| plan(p)).collect();

    // The histories as they stand before this round (the users are locked).
    let scored: Vec<i64> = users.keys().copied().collect();
    let mut histories = payments::facts_of(&txn, &scored).await?;
    let current_plans = subscriptions::current_plans_of(&txn, &scored).await?;

    let rows: Vec<subscription_payments::ActiveModel> = items
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| matches!(plan, Plan::Insert))
        .map(|((_, p), _)| p.row())
        .collect();
    let mut inserted = if rows.is_empty() {
        Vec::new()
    } else {
        // A concurrent request may have recorded one of these external ids
        // since the check above: that row is skipped here and looked up below.
        match subscription_payments::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([subscription_payments::Column::ExternalId])
            .exec_with_returning_many(&txn)
            .await?
        {
            TryInsertResult::Inserted(models) => models,
            TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
        }
    };

    // Each payment is answered from the history as it stands after it.
    let assess = |user_id: i64, histories: &HashMap<i64, Vec<PaymentFact>>| {
        let history = histories.get(&user_id).map_or(&[][..], Vec::as_slice);
        scoring::assess_user(&users[&user_id], history, config, now)
    };
    let mut outcomes = Vec::with_capacity(items.len());
    let mut changed = std::collections::BTreeSet::new();
    for ((_, p), plan) in items.iter().zip(plans) {
        let earlier = match plan {
            Plan::Insert => match inserted.iter().position(|m| p.is_stored_as(m)) {
                Some(found) => {
                    let payment = inserted.swap_remove(found);
                    histories
                        .entry(p.user_id)
                        .or_default()
                        .push(payments::fact_of(&payment));
                    changed.insert(p.user_id);
                    outcomes.push(Ok(PaymentRecorded {
                        assessment: assess(p.user_id, &histories),
                        payment,
                        duplicate: false,
                    }));
                    continue;
                }
                None => {
                    // Lost the race on its external id to another request.
                    let external_id = p.external_id.as_deref().unwrap_or_default();
                    recorded.extend(recorded_external_ids(&txn, &[external_id]).await?);
                    match recorded.get(external_id) {
                        Some(existing) => duplicate_or_refusal(existing, p),
                        None => return Err(DbErr::RecordNotInserted),
                    }
                }
            },
            Plan::Duplicate(payment) => Ok(payment),
            Plan::Refused(error) => Err(error),
        };
        outcomes.push(earlier.map(|payment| PaymentRecorded {
            assessment: assess(p.user_id, &histories),
            payment,
            duplicate: true,
        }));
    }

    let changed: Vec<user_store::ScoringUser> = changed.into_iter().map(|id| users[&id]).collect();
    let rows = scoring::score_rows(&changed, histories, current_plans, config, now);
    risk_scores::upsert_many(&txn, rows).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// The payments already recorded under `external_ids`, by external id.
async fn recorded_external_ids<C: ConnectionTrait>(
    conn: &C,
    external_ids: &[&str],
) -> Result<std::collections::HashMap<String, subscription_payments::Model>, DbErr> {
    if external_ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(subscription_payments::Entity::find()
        .filter(subscription_payments::Column::ExternalId.is_in(external_ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|model| Some((model.external_id.clone()?, model)))
        .collect())
}

/// The earlier payment under `p`'s external id when it is the same user's
/// (a duplicate), a refusal otherwise.
fn duplicate_or_refusal(
    existing: &subscription_payments::Model,
    p: &ValidPayment,
) -> AppResult<subscription_payments::Model> {
    if existing.user_id == p.user_id {
        Ok(existing.clone())
    } else {
        Err(AppError::bad_input(
            "externalId",
            format!(
                "{:?} is already recorded for another user",
                p.external_id.as_deref().unwrap_or_default()
            ),
        ))
    }
}

/// Records a plan version and rescores its user in the same transaction.
pub async fn record_subscription(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    input: NewSubscription,
    now: DateTime<Utc>,
) -> AppResult<user_subscriptions::Model> {
    let subscription_type = text(&input.subscription_type, "subscriptionType", 50)?.to_lowercase();
    let status = text(&input.status, "status", 20)?.to_lowercase();
    if !["active", "cancelled", "suspended"].contains(&status.as_str()) {
        return Err(AppError::bad_input(
            "status",
            format!("{status:?} is not one of active, cancelled, suspended"),
        ));
    }
    let currency = currency(input.currency.as_deref(), "currency")?;
    if input
        .effective_until
        .is_some_and(|until| until < input.effective_from)
    {
        return Err(AppError::bad_input(
            "effectiveUntil",
            "must not be before effectiveFrom",
        ));
    }

    let txn = db::begin_write(db).await?;
    let user = user_store::lock(&txn, input.user_id)
        .await?
        .ok_or_else(|| not_found(input.user_id))?;
    let subscription = user_subscriptions::ActiveModel {
        user_id: Set(input.user_id),
        subscription_type: Set(subscription_type),
        status: Set(status),
        monthly_amount_cents: Set(input.monthly_amount.get()),
        currency: Set(currency),
        created_at: Set(now),
        updated_at: Set(now),
        effective_from: Set(input.effective_from),
        effective_until: Set(input.effective_until),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    scoring::rescore_user(&txn, config, &user, now).await?;
    txn.commit().await?;
    Ok(subscription)
}

/// Creates or updates a user (matched by external id, else by email) and
/// rescores them in the same transaction.
pub async fn upsert_user(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    input: UserUpsert,
    now: DateTime<Utc>,
) -> AppResult<users::Model> {
    let name = text(&input.name, "name", 200)?;
    let email = email(&input.email)?;
    let external_id = optional_text(input.external_id.as_deref(), "externalId", 255)?;

    let txn = db::begin_write(db).await?;
    let existing = match &external_id {
        Some(external_id) => {
            users::Entity::find()
                .filter(users::Column::ExternalId.eq(external_id.as_str()))
                .one(&txn)
                .await?
        }
        None => {
            users::Entity::find()
                .filter(users::Column::Email.eq(email.as_str()))
                .one(&txn)
                .await?
        }
    };
    let written = match existing {
        Some(user) => {
            let id = user.id;
            user_store::lock(&txn, id).await?;
            let mut model: users::ActiveModel = user.into();
            model.name = Set(name);
            model.email = Set(email);
            if let Some(created_at) = input.created_at {
                model.created_at = Set(created_at);
            }
            if let Some(is_active) = input.is_active {
                model.is_active = Set(is_active);
            }
            model.update(&txn).await
        }
        None => {
            users::ActiveModel {
                external_id: Set(external_id),
                name: Set(name),
                email: Set(email),
                created_at: Set(input.created_at.unwrap_or(now)),
                is_active: Set(input.is_active.unwrap_or(true)),
                ..Default::default()
            }
            .insert(&txn)
            .await
        }
    };
    let user = written.map_err(|error| {
        if is_unique_violation(&error) {
            AppError::bad_input("email", "is already the email of another user")
        } else {
            error.into()
        }
    })?;
    scoring::rescore_user(&txn, config, &user, now).await?;
    txn.commit().await?;
    Ok(user)
}
