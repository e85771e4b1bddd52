//! Cases (SPEC §10): every alert is worked from `OPEN` through
//! `ACKNOWLEDGED` to `RESOLVED` or `DISMISSED`, with an assignee and a
//! thread of notes. A transition names the version it was decided on: a
//! stale one is a `CONFLICT`, so two agents never overwrite each other
//! silently. Each transition is audited, announced (`alertChanged`) and
//! queued for the channels that want `ALERT_CHANGED`; a resolution of
//! `SANCTIONED` also queues a moderation task (`SANCTION`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::{AlertStatus, DeliveryStatus, EventType, Resolution};
use entity::{alert_notes, alerts, deliveries, delivery_attempts, users};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db;
use crate::domain::Caller;
use crate::error::{AppError, AppResult};
use crate::service::Rules;
use crate::service::audit::{self, Action};
use crate::service::outbox::{self, AlertMessage, Sanction, Subject, resolution_name, status_name};
use crate::store;
use crate::store::alerts::CaseUpdate;

/// What to do to a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// `OPEN → ACKNOWLEDGED`.
    Acknowledge,
    /// Set or clear the assignee of an open or acknowledged case.
    Assign(Option<String>),
    /// `OPEN | ACKNOWLEDGED → RESOLVED`, with why.
    Resolve(Resolution, Option<String>),
    /// `OPEN | ACKNOWLEDGED → DISMISSED`, with why.
    Dismiss(Option<String>),
}

impl Transition {
    /// The mutation's name, for the audit trail.
    fn action(&self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledgeAlert",
            Self::Assign(_) => "assignAlert",
            Self::Resolve(..) => "resolveAlert",
            Self::Dismiss(_) => "dismissAlert",
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledged",
            Self::Assign(_) => "assigned",
            Self::Resolve(..) => "resolved",
            Self::Dismiss(_) => "dismissed",
        }
    }

    /// The case after this transition, or `None` when it is illegal from
    /// `current`.
    fn apply(&self, current: &alerts::Model, now: DateTime<Utc>) -> Option<CaseUpdate> {
        let open = matches!(
            current.status,
            AlertStatus::Open | AlertStatus::Acknowledged
        );
        let keep = CaseUpdate {
            status: current.status,
            assignee: current.assignee.clone(),
            resolution: current.resolution,
            closed_at: current.closed_at,
        };
        match self {
            Self::Acknowledge => (current.status == AlertStatus::Open).then_some(CaseUpdate {
                status: AlertStatus::Acknowledged,
                ..keep
            }),
            Self::Assign(assignee) => open.then_some(CaseUpdate {
                assignee: assignee.clone(),
                ..keep
            }),
            Self::Resolve(resolution, _) => open.then_some(CaseUpdate {
                status: AlertStatus::Resolved,
                resolution: Some(*resolution),
                closed_at: Some(now),
                ..keep
            }),
            Self::Dismiss(_) => open.then_some(CaseUpdate {
                status: AlertStatus::Dismissed,
                closed_at: Some(now),
                ..keep
            }),
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Self::Resolve(_, note) | Self::Dismiss(note) => note.as_deref(),
            _ => None,
        }
    }
}

fn alert_not_found(id: i64) -> AppError {
    AppError::NotFound(format!("Alert {id} not found"))
}

/// Applies `transition` to alert `id` as of `version`, in one transaction
/// with its note, its audit entry and its deliveries.
pub async fn transition(
    db: &DatabaseConnection,
    rules: &Rules,
    id: i64,
    version: i32,
    transition: Transition,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<alerts::Model> {
    let txn = db::begin_write(db).await?;
    let current = store::alerts::lock(&txn, id)
        .await?
        .ok_or_else(|| alert_not_found(id))?;
    if current.version != version {
        return Err(AppError::Conflict(format!(
            "alert {id} changed since version {version}: it is at version {} ({}); read it again",
            current.version,
            status_name(current.status)
        )));
    }
    let update = transition.apply(&current, now).ok_or_else(|| {
        AppError::bad_input(
            "id",
            format!(
                "alert {id} is {}: it cannot be {}",
                status_name(current.status),
                transition.verb()
            ),
        )
    })?;
    let updated = store::alerts::update_case(&txn, id, version, update)
        .await?
        .ok_or_else(|| {
            AppError::Conflict(format!("alert {id} changed meanwhile; read it again"))
        })?;
    let author = caller.actor.audit_name();
    if let Some(note) = transition.note() {
        store::alerts::add_note(&txn, id, &author, note, now).await?;
    }
    let mut detail = format!(
        "{} → {}",
        status_name(current.status),
        status_name(updated.status)
    );
    match &transition {
        Transition::Assign(assignee) => {
            detail = format!("assignee: {}", assignee.as_deref().unwrap_or("none"));
        }
        Transition::Resolve(resolution, _) => {
            detail.push_str(&format!(" ({})", resolution_name(*resolution)));
        }
        _ => {}
    }
    if let Some(note) = transition.note() {
        detail.push_str(": ");
        detail.push_str(note);
    }
    let action = Action {
        detail: Some(detail),
        ..Action::ok(transition.action(), Some(("alert", id.to_string())))
    };
    audit::record(&txn, caller, action, now).await?;
    let message = message_of(&txn, &updated).await?;
    if let Transition::Resolve(Resolution::Sanctioned, _) = transition {
        queue_sanction(&txn, rules, &message, &author, now).await?;
    }
    outbox::queue_alerts(
        &txn,
        EventType::AlertChanged,
        &[message],
        &rules.alerts,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Adds a note to alert `id`'s thread (any status; the version is not
/// bumped, so a note never makes another agent's transition a conflict).
pub async fn comment(
    db: &DatabaseConnection,
    rules: &Rules,
    id: i64,
    text: String,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<alerts::Model> {
    let txn = db::begin_write(db).await?;
    let alert = store::alerts::lock(&txn, id)
        .await?
        .ok_or_else(|| alert_not_found(id))?;
    store::alerts::add_note(&txn, id, &caller.actor.audit_name(), &text, now).await?;
    let action = Action::ok("commentAlert", Some(("alert", id.to_string())));
    audit::record(&txn, caller, action, now).await?;
    let message = message_of(&txn, &alert).await?;
    outbox::queue_alerts(
        &txn,
        EventType::AlertChanged,
        &[message],
        &rules.alerts,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(alert)
}

/// The alert with who it is about, as messages show it.
async fn message_of<C: ConnectionTrait>(
    conn: &C,
    alert: &alerts::Model,
) -> AppResult<AlertMessage> {
    let contacts = store::users::contacts(conn, &[alert.user_id]).await?;
    let (name, email) = contacts.get(&alert.user_id).cloned().unwrap_or_default();
    Ok(AlertMessage {
        alert: alert.clone(),
        subject: Subject {
            user_id: alert.user_id,
            name,
            email,
        },
        top_factors: Vec::new(),
    })
}

/// Queues the moderation task of a sanctioned case for the channels that
/// want `SANCTION`.
async fn queue_sanction<C: ConnectionTrait>(
    conn: &C,
    rules: &Rules,
    message: &AlertMessage,
    decided_by: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let notes = store::alerts::notes_of(conn, &[message.alert.id])
        .await?
        .remove(&message.alert.id)
        .unwrap_or_default()
        .into_iter()
        .map(|n| (n.author, n.text, n.at))
        .collect();
    let score = store::risk_scores::find(conn, message.alert.user_id).await?;
    let sanction = Sanction {
        message: message.clone(),
        failure_rate: score.as_ref().map(|s| s.failure_rate),
        payments: score
            .as_ref()
            .map(|s| (s.failed_payments, s.total_payments)),
        notes,
        decided_by: decided_by.to_owned(),
    };
    let queued = outbox::queue_to_channels(
        conn,
        EventType::Sanction,
        Some(message.alert.id),
        None,
        now,
        |channel, event_id| outbox::sanction_body(channel, event_id, &sanction, &rules.alerts, now),
    )
    .await?;
    if queued == 0 {
        tracing::warn!(
            alert.id = message.alert.id,
            "a case was sanctioned but no channel wants SANCTION events: nobody was told"
        );
    }
    Ok(())
}

pub use crate::store::alerts::{CaseCursor, CaseFilter};

/// Alert `id`, if any.
pub async fn find(db: &DatabaseConnection, id: i64) -> AppResult<Option<alerts::Model>> {
    Ok(store::alerts::find(db, id).await?)
}

/// A page of the case queue.
#[derive(Clone, Debug)]
pub struct CasePage {
    /// The cases, the most severe first, then the oldest.
    pub rows: Vec<alerts::Model>,
    /// More follow.
    pub has_next_page: bool,
}

/// Up to `first` cases under `filter` after `after`.
pub async fn page(
    db: &DatabaseConnection,
    filter: &CaseFilter,
    after: Option<CaseCursor>,
    first: u64,
) -> AppResult<CasePage> {
    let mut rows = store::alerts::page(db, filter, after, first + 1).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(CasePage {
        rows,
        has_next_page,
    })
}

/// How many cases `filter` matches.
pub async fn count(db: &DatabaseConnection, filter: &CaseFilter) -> AppResult<u64> {
    Ok(store::alerts::count(db, filter).await?)
}

/// The notes of each of `alert_ids`, oldest first.
pub async fn notes(
    db: &DatabaseConnection,
    alert_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<alert_notes::Model>>> {
    Ok(store::alerts::notes_of(db, alert_ids).await?)
}

/// The deliveries of each of `alert_ids`, oldest first.
pub async fn deliveries(
    db: &DatabaseConnection,
    alert_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<deliveries::Model>>> {
    Ok(store::deliveries::of_alerts(db, alert_ids).await?)
}

/// The tries of each of `delivery_ids`, oldest first.
pub async fn attempts(
    db: &DatabaseConnection,
    delivery_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<delivery_attempts::Model>>> {
    Ok(store::deliveries::attempts_of(db, delivery_ids).await?)
}

/// Up to `limit` deliveries with `status` (all when `None`), newest first.
pub async fn recent_deliveries(
    db: &DatabaseConnection,
    status: Option<DeliveryStatus>,
    limit: u64,
) -> AppResult<Vec<deliveries::Model>> {
    Ok(store::deliveries::page(db, status, None, limit).await?)
}

/// The users `ids`, by id.
pub async fn users(db: &DatabaseConnection, ids: &[i64]) -> AppResult<HashMap<i64, users::Model>> {
    Ok(store::users::find_many(db, ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect())
}
