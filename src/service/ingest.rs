//! Recording users, plan versions and payments (SPEC §4 mutations). Each
//! write locks the user, writes, rescores the user (SPEC §3.4) and commits:
//! all of it or none of it. Inputs are validated before anything is written.

use chrono::{DateTime, Utc};
use entity::{subscription_payments, user_subscriptions, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};

use crate::db;
use crate::domain::{Cents, PaymentStatus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::{Assessment, ScoringConfig};
use crate::service::scoring;
use crate::store::users as user_store;

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
    let external_id = optional_text(input.external_id.as_deref(), "externalId", 255)?;
    let currency = currency(input.currency.as_deref(), "currency")?;
    let payment_method = text(&input.payment_method, "paymentMethod", 50)?;
    let failure_reason = optional_text(input.failure_reason.as_deref(), "failureReason", 1000)?;

    if let Some(external_id) = &external_id
        && let Some(existing) = duplicate_of(db, config, external_id, input.user_id, now).await?
    {
        return Ok(existing);
    }

    let txn = db::begin_write(db).await?;
    let user = user_store::lock(&txn, input.user_id)
        .await?
        .ok_or_else(|| not_found(input.user_id))?;
    if let Some(subscription_id) = input.subscription_id {
        let owner = user_subscriptions::Entity::find_by_id(subscription_id)
            .one(&txn)
            .await?
            .map(|s| s.user_id);
        if owner != Some(input.user_id) {
            return Err(AppError::bad_input(
                "subscriptionId",
                format!(
                    "subscription {subscription_id} is not a plan of user {}",
                    input.user_id
                ),
            ));
        }
    }
    let inserted = subscription_payments::ActiveModel {
        external_id: Set(external_id.clone()),
        subscription_id: Set(input.subscription_id),
        user_id: Set(input.user_id),
        amount_cents: Set(input.amount.get()),
        currency: Set(currency),
        status: Set(input.status.as_str().to_owned()),
        payment_date: Set(input.payment_date),
        payment_method: Set(payment_method),
        failure_reason: Set(failure_reason),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let payment = match inserted {
        Ok(payment) => payment,
        Err(error) if is_unique_violation(&error) => {
            // Another request recorded the same external id meanwhile.
            drop(txn);
            if let Some(external_id) = &external_id
                && let Some(existing) =
                    duplicate_of(db, config, external_id, input.user_id, now).await?
            {
                return Ok(existing);
            }
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    let assessment = scoring::rescore_user(&txn, config, &user, now).await?;
    txn.commit().await?;
    Ok(PaymentRecorded {
        payment,
        duplicate: false,
        assessment,
    })
}

/// The payment already recorded under `external_id`, with its user's score.
async fn duplicate_of(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    external_id: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<PaymentRecorded>> {
    let Some(payment) = subscription_payments::Entity::find()
        .filter(subscription_payments::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if payment.user_id != user_id {
        return Err(AppError::bad_input(
            "externalId",
            format!("{external_id:?} is already recorded for another user"),
        ));
    }
    let assessment = scoring::assess_now(db, config, user_id, now)
        .await?
        .ok_or_else(|| not_found(user_id))?;
    Ok(Some(PaymentRecorded {
        payment,
        duplicate: true,
        assessment,
    }))
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
