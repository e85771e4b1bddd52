//! Raising alerts (SPEC §4 `sendAlert`, §5 `POST /api/alert/{id}`, §10
//! automatic alerts). Each alert is recorded with the user's score and level
//! at that moment, and queued for every channel that wants it in the same
//! transaction (see [`outbox`]). A client's idempotency key never makes a
//! second alert.

use chrono::{DateTime, Utc};
use entity::alerts;
use entity::sea_orm_active_enums::{AlertKind, EventType};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::db;
use crate::domain::{Caller, IdempotencyKey};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::RiskLevel;
use crate::service::Rules;
use crate::service::audit::{self, Action};
use crate::service::outbox::{self, AlertMessage, Subject};
use crate::service::scoring::{self, LevelChange, When};
use crate::store;
use crate::store::alerts::AlertFields;
use crate::store::users::ScoringUser;

/// The name automatic alerts are raised by.
pub const SYSTEM: &str = "system";

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

/// Records an alert and queues its deliveries, with its audit entry, in one
/// transaction (a repeated key records a `duplicate` entry and nothing else).
pub async fn send_alert(
    db: &DatabaseConnection,
    rules: &Rules,
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
    let txn = db::begin_write(db).await?;
    let user = store::users::lock(&txn, user_id)
        .await?
        .ok_or_else(|| AppError::user_not_found(user_id))?;
    let scoring_user = ScoringUser::from(&user);
    let assessment =
        scoring::assess_stored(&txn, &rules.scoring, &scoring_user, When::Now(now)).await?;
    // The score at this moment: the materialized one, or the fresh one if missing.
    let (risk_score, risk_level) = match store::risk_scores::find(&txn, user_id).await? {
        Some(row) => (row.score, RiskLevel::from(row.level)),
        None => (assessment.score, assessment.level),
    };
    let fields = AlertFields {
        user_id,
        risk_score,
        risk_level,
        note,
        idempotency_key: key.as_ref().map(|k| k.as_str().to_owned()),
        created_by: Some(caller.actor.audit_name()),
        created_at: now,
        kind: AlertKind::Manual,
    };
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
    let message = AlertMessage {
        alert: alert.clone(),
        subject: Subject {
            user_id,
            name: user.name,
            email: user.email,
        },
        top_factors: outbox::top_factors(&assessment.factors),
    };
    outbox::queue_alerts(&txn, EventType::AlertRaised, &[message], &rules.alerts, now).await?;
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

/// Raises an automatic alert, in the caller's transaction, for each of
/// `changes` that rose to `AUTO_ALERT_LEVEL` or above, unless the user has
/// a case still open or one closed within `AUTO_ALERT_COOLDOWN_HOURS`; and
/// queues their deliveries (the storm guard folds a flood into a summary).
pub(crate) async fn raise_automatic<C: ConnectionTrait>(
    conn: &C,
    rules: &Rules,
    changes: Vec<LevelChange>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(threshold) = rules.alerts.auto_level else {
        return Ok(());
    };
    let rising: Vec<LevelChange> = changes
        .into_iter()
        .filter(|c| c.from < threshold && c.scored.assessment.level >= threshold)
        .collect();
    if rising.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rising.iter().map(|c| c.user_id).collect();
    let cooldown = chrono::Duration::from_std(rules.alerts.cooldown).unwrap_or_default();
    let blocked = store::alerts::recently_alerted(conn, &ids, now - cooldown).await?;
    let rising: Vec<LevelChange> = rising
        .into_iter()
        .filter(|c| !blocked.contains(&c.user_id))
        .collect();
    if rising.is_empty() {
        return Ok(());
    }
    let fields = rising
        .iter()
        .map(|c| AlertFields {
            user_id: c.user_id,
            risk_score: c.scored.assessment.score,
            risk_level: c.scored.assessment.level,
            note: Some(format!(
                "Level rose from {} to {}",
                c.from, c.scored.assessment.level
            )),
            idempotency_key: None,
            created_by: Some(SYSTEM.to_owned()),
            created_at: now,
            kind: AlertKind::Automatic,
        })
        .collect();
    let raised = store::alerts::insert_all(conn, fields).await?;
    let ids: Vec<i64> = raised.iter().map(|a| a.user_id).collect();
    let contacts = store::users::contacts(conn, &ids).await?;
    let messages: Vec<AlertMessage> = raised
        .into_iter()
        .zip(&rising)
        .map(|(alert, change)| {
            let (name, email) = contacts.get(&alert.user_id).cloned().unwrap_or_default();
            AlertMessage {
                subject: Subject {
                    user_id: alert.user_id,
                    name,
                    email,
                },
                top_factors: outbox::top_factors(&change.scored.assessment.factors),
                alert,
            }
        })
        .collect();
    tracing::warn!(alerts = messages.len(), "automatic alerts raised");
    outbox::queue_alerts(conn, EventType::AlertRaised, &messages, &rules.alerts, now).await
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
