//! Raising alerts (SPEC §4 `sendAlert`, §5 `POST /api/alert/{id}`): each is
//! recorded with the user's score and level at that moment, and a client's
//! idempotency key never makes a second alert. Delivery is a structured log
//! event (channel `log`), the one channel this deployment has.

use chrono::{DateTime, Utc};
use entity::alerts;
use entity::sea_orm_active_enums::{AlertChannel, DeliveryStatus};
use sea_orm::{DatabaseConnection, TransactionTrait};

use crate::domain::{Caller, IdempotencyKey};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::{RiskLevel, ScoringConfig};
use crate::service::audit::{self, Action};
use crate::service::scoring::{self, When};
use crate::store;
use crate::store::alerts::AlertFields;
use crate::store::users::ScoringUser;

/// An alert to raise, parsed.
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// The user alerted on.
    pub user_id: i64,
    /// Free text from whoever raises it.
    pub note: Option<String>,
    /// The client's key: the same key never makes a second alert.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// What raising an alert did.
#[derive(Clone, Debug)]
pub struct AlertSent {
    /// The recorded alert (the earlier one for a repeated key).
    pub alert: alerts::Model,
    /// The idempotency key was already used: nothing new was recorded.
    pub deduplicated: bool,
}

impl AlertSent {
    /// The alert's level.
    pub fn level(&self) -> RiskLevel {
        RiskLevel::from(self.alert.risk_level)
    }
}

/// Records and delivers an alert, with its audit entry (a repeated key
/// records a `duplicate` entry and nothing else).
pub async fn send_alert(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    input: NewAlert,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<AlertSent> {
    let NewAlert {
        user_id,
        note,
        idempotency_key: key,
    } = input;
    if let Some(key) = &key
        && let Some(existing) = deduplicate(db, key, user_id).await?
    {
        return audited_duplicate(db, caller, existing, now).await;
    }
    let user = store::users::find(db, user_id)
        .await?
        .ok_or_else(|| AppError::user_not_found(user_id))?;
    // The score at this moment: the materialized one, or computed if missing.
    let (risk_score, risk_level) = match store::risk_scores::find(db, user_id).await? {
        Some(row) => (row.score, RiskLevel::from(row.level)),
        None => {
            let user = ScoringUser::from(&user);
            let a = scoring::assess_stored(db, config, &user, When::Now(now)).await?;
            (a.score, a.level)
        }
    };
    let fields = AlertFields {
        user_id,
        risk_score,
        risk_level,
        note,
        channel: AlertChannel::Log,
        delivery_status: DeliveryStatus::Delivered,
        idempotency_key: key.as_ref().map(|k| k.as_str().to_owned()),
        created_by: None,
        created_at: now,
    };
    let txn = db.begin().await?;
    let alert = match store::alerts::insert(&txn, fields).await {
        Ok(alert) => alert,
        Err(error) if is_unique_violation(&error) => {
            // The same key, raised concurrently: the first one wins.
            txn.rollback().await?;
            if let Some(key) = &key
                && let Some(existing) = deduplicate(db, key, user_id).await?
            {
                return audited_duplicate(db, caller, existing, now).await;
            }
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    let action = Action {
        detail: Some(format!("alert {}", alert.id)),
        ..Action::ok("sendAlert", Some(("user", user_id.to_string())))
    };
    audit::record(&txn, caller, action, now).await?;
    txn.commit().await?;
    tracing::warn!(
        alert.id = alert.id,
        user.id = user_id,
        risk.score = alert.risk_score,
        risk.level = %RiskLevel::from(alert.risk_level),
        note = alert.note.as_deref().unwrap_or(""),
        "risk alert raised"
    );
    Ok(AlertSent {
        alert,
        deduplicated: false,
    })
}

/// Records that `caller` repeated the key of `existing`.
async fn audited_duplicate(
    db: &DatabaseConnection,
    caller: &Caller,
    existing: AlertSent,
    now: DateTime<Utc>,
) -> AppResult<AlertSent> {
    let object = Some(("user", existing.alert.user_id.to_string()));
    let action = Action::ok("sendAlert", object).with_outcome("duplicate");
    audit::record(db, caller, action, now).await?;
    Ok(existing)
}

async fn deduplicate(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    user_id: i64,
) -> AppResult<Option<AlertSent>> {
    match store::alerts::by_idempotency_key(db, key.as_str()).await? {
        Some(alert) if alert.user_id == user_id => Ok(Some(AlertSent {
            alert,
            deduplicated: true,
        })),
        Some(_) => Err(AppError::bad_input(
            "idempotencyKey",
            "was already used for an alert on another user",
        )),
        None => Ok(None),
    }
}
