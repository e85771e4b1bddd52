//! Raising alerts (SPEC §4 `sendAlert`, §5 `POST /api/alert/{id}`): each is
//! recorded with the user's score and level at that moment, and a client's
//! idempotency key never makes a second alert. Delivery is a structured log
//! event (channel `log`), the one channel this deployment has.

use chrono::{DateTime, Utc};
use entity::alerts;
use sea_orm::{ActiveValue::Set, DatabaseConnection};

use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::{RiskLevel, ScoringConfig};
use crate::service::scoring;
use crate::store;

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
        RiskLevel::from_name(&self.alert.risk_level).unwrap_or(RiskLevel::Low)
    }
}

/// Records and delivers an alert on `user_id`.
pub async fn send_alert(
    db: &DatabaseConnection,
    config: &ScoringConfig,
    user_id: i64,
    note: Option<String>,
    idempotency_key: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<AlertSent> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::bad_input(
            "note",
            "must be at most 2000 characters",
        ));
    }
    let key = idempotency_key.map(|k| k.trim().to_owned());
    if let Some(key) = &key
        && (key.is_empty() || key.chars().count() > 200)
    {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "must be 1 to 200 characters",
        ));
    }
    if let Some(key) = &key
        && let Some(existing) = deduplicate(db, key, user_id).await?
    {
        return Ok(existing);
    }
    store::users::find(db, user_id)
        .await?
        .ok_or_else(|| not_found(user_id))?;
    // The score at this moment: the materialized one, or computed if missing.
    let (score, level) = match store::risk_scores::find(db, user_id).await? {
        Some(row) => (row.score, row.level),
        None => {
            let a = scoring::assess_now(db, config, user_id, now)
                .await?
                .ok_or_else(|| not_found(user_id))?;
            (a.score, a.level.as_str().to_owned())
        }
    };
    let inserted = store::alerts::insert(
        db,
        alerts::ActiveModel {
            user_id: Set(user_id),
            risk_score: Set(score),
            risk_level: Set(level),
            note: Set(note),
            channel: Set("log".to_owned()),
            delivery_status: Set("delivered".to_owned()),
            idempotency_key: Set(key.clone()),
            created_by: Set(None),
            created_at: Set(now),
            ..Default::default()
        },
    )
    .await;
    let alert = match inserted {
        Ok(alert) => alert,
        Err(error) if is_unique_violation(&error) => {
            // The same key, raised concurrently: the first one wins.
            if let Some(key) = &key
                && let Some(existing) = deduplicate(db, key, user_id).await?
            {
                return Ok(existing);
            }
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    tracing::warn!(
        alert.id = alert.id,
        user.id = user_id,
        risk.score = alert.risk_score,
        risk.level = %alert.risk_level,
        note = alert.note.as_deref().unwrap_or(""),
        "risk alert raised"
    );
    Ok(AlertSent {
        alert,
        deduplicated: false,
    })
}

fn not_found(user_id: i64) -> AppError {
    AppError::NotFound(format!("User {user_id} not found"))
}

async fn deduplicate(
    db: &DatabaseConnection,
    key: &str,
    user_id: i64,
) -> AppResult<Option<AlertSent>> {
    match store::alerts::by_idempotency_key(db, key).await? {
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
