//! The mutation roots: ingestion (users, plans, payments) and alerts. Each
//! validates its input (BAD_USER_INPUT, NOT_FOUND), writes and rescores in one
//! transaction, and changes nothing on error.

use async_graphql::{Context, ID, MergedObject, Object, Result};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::types::{
    AlertResult, PaymentInput, PaymentResult, Subscription, SubscriptionInput, User, UserInput,
    parse_id,
};
use crate::domain::Cents;
use crate::error::AppError;
use crate::risk::ScoringConfig;
use crate::service::payment_writer::PaymentWriter;
use crate::service::{alerts, ingest};

fn amount(value: f64, field: &str) -> Result<Cents, AppError> {
    Cents::from_units(value).map_err(|e| AppError::bad_input(field, e.to_string()))
}

/// Recording users, plans and payments.
#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Creates a user, or updates the one with the same `externalId` (else
    /// the same email), and scores them.
    async fn upsert_user(&self, ctx: &Context<'_>, input: UserInput) -> Result<User> {
        let db = ctx.data::<DatabaseConnection>()?;
        let config = ctx.data::<ScoringConfig>()?;
        let upsert = ingest::UserUpsert {
            external_id: input.external_id,
            name: input.name,
            email: input.email,
            created_at: input.created_at,
            is_active: input.is_active,
        };
        Ok(ingest::upsert_user(db, config, upsert, Utc::now())
            .await
            .gql()?
            .into())
    }

    /// Records a version of a user's plan and rescores the user.
    async fn record_subscription(
        &self,
        ctx: &Context<'_>,
        input: SubscriptionInput,
    ) -> Result<Subscription> {
        let db = ctx.data::<DatabaseConnection>()?;
        let config = ctx.data::<ScoringConfig>()?;
        let new = ingest::NewSubscription {
            user_id: parse_id(&input.user_id, "userId").gql()?,
            subscription_type: input.subscription_type,
            status: input.status,
            monthly_amount: amount(input.monthly_amount, "monthlyAmount").gql()?,
            currency: input.currency,
            effective_from: input.effective_from,
            effective_until: input.effective_until,
        };
        Ok(ingest::record_subscription(db, config, new, Utc::now())
            .await
            .gql()?
            .into())
    }

    /// Records a payment and returns the user's new score. Idempotent by
    /// `externalId`: recording the same one again returns the first payment
    /// with `duplicate: true` and records nothing.
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        input: PaymentInput,
    ) -> Result<PaymentResult> {
        let writer = ctx.data::<PaymentWriter>()?;
        let new = ingest::NewPayment {
            user_id: parse_id(&input.user_id, "userId").gql()?,
            subscription_id: input
                .subscription_id
                .as_ref()
                .map(|id| parse_id(id, "subscriptionId"))
                .transpose()
                .gql()?,
            external_id: input.external_id,
            amount: amount(input.amount, "amount").gql()?,
            currency: input.currency,
            status: input.status.into(),
            payment_date: input.payment_date,
            payment_method: input.payment_method,
            failure_reason: input.failure_reason,
        };
        let recorded = writer.record(new).await.gql()?;
        Ok(PaymentResult {
            risk_score: recorded.assessment.score,
            risk_level: recorded.assessment.level.into(),
            duplicate: recorded.duplicate,
            payment: recorded.payment.into(),
        })
    }
}

/// Raising alerts.
#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Records an alert on the user with their current score and level, and
    /// delivers it. The same `idempotencyKey` never creates a second alert:
    /// the first is returned with `deduplicated: true`.
    async fn send_alert(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        note: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<AlertResult> {
        let db = ctx.data::<DatabaseConnection>()?;
        let config = ctx.data::<ScoringConfig>()?;
        let user_id = parse_id(&user_id, "userId").gql()?;
        let sent = alerts::send_alert(db, config, user_id, note, idempotency_key, Utc::now())
            .await
            .gql()?;
        Ok(AlertResult {
            deduplicated: sent.deduplicated,
            alert: sent.alert.into(),
        })
    }
}

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(IngestMutation, AlertMutation);
