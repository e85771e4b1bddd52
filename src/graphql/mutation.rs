//! The mutation roots: ingestion (users, plans, payments) and alerts. Each
//! validates its input (BAD_USER_INPUT, NOT_FOUND), writes and rescores in one
//! transaction, and changes nothing on error.

use async_graphql::{Context, ID, MergedObject, Object, Result};
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::alerting::AlertingMutation;
use super::guard::Need;
use super::types::{
    AlertResult, PaymentInput, PaymentResult, Subscription, SubscriptionInput, User, UserInput,
    new_alert, new_payment,
};
use crate::clock::SharedClock;
use crate::domain::{Caller, Permission};
use crate::service::ingest::{NewSubscription, UserUpsert};
use crate::service::payment_writer::PaymentWriter;
use crate::service::{Rules, alerts, ingest};

/// Recording users, plans and payments.
#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Creates a user, or updates the one with the same `externalId` (else
    /// the same email), and scores them.
    #[graphql(guard = "Need(Permission::Ingest)")]
    async fn upsert_user(&self, ctx: &Context<'_>, input: UserInput) -> Result<User> {
        let upsert = UserUpsert::try_from(input).gql()?;
        let db = ctx.data::<DatabaseConnection>()?;
        let rules = ctx.data::<Rules>()?;
        let now = ctx.data::<SharedClock>()?.now();
        let caller = ctx.data::<Caller>()?;
        Ok(ingest::upsert_user(db, rules, upsert, caller, now)
            .await
            .gql()?
            .into())
    }

    /// Records a version of a user's plan and rescores the user.
    #[graphql(guard = "Need(Permission::Ingest)")]
    async fn record_subscription(
        &self,
        ctx: &Context<'_>,
        input: SubscriptionInput,
    ) -> Result<Subscription> {
        let new = NewSubscription::try_from(input).gql()?;
        let db = ctx.data::<DatabaseConnection>()?;
        let rules = ctx.data::<Rules>()?;
        let now = ctx.data::<SharedClock>()?.now();
        let caller = ctx.data::<Caller>()?;
        Ok(ingest::record_subscription(db, rules, new, caller, now)
            .await
            .gql()?
            .into())
    }

    /// Records a payment and returns the user's new score. Idempotent by
    /// `externalId`: recording the same one again returns the first payment
    /// with `duplicate: true` and records nothing.
    #[graphql(guard = "Need(Permission::Ingest)")]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        input: PaymentInput,
    ) -> Result<PaymentResult> {
        let new = new_payment(input, ctx.data::<Caller>()?.clone()).gql()?;
        let writer = ctx.data::<PaymentWriter>()?;
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
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn send_alert(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        note: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<AlertResult> {
        let input = new_alert(&user_id, note.as_deref(), idempotency_key.as_deref()).gql()?;
        let db = ctx.data::<DatabaseConnection>()?;
        let rules = ctx.data::<Rules>()?;
        let now = ctx.data::<SharedClock>()?.now();
        let caller = ctx.data::<Caller>()?;
        let sent = alerts::send_alert(db, rules, input, caller, now)
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
pub struct Mutation(IngestMutation, AlertMutation, AlertingMutation);
