//! Delivery channels (SPEC §10), managed by admins: a generic webhook
//! (signed JSON) or a Slack incoming webhook. A channel's URL must be http
//! or https; its secret is made here (or given), shown once, and never
//! returned again: the API shows a channel's URL without its credentials.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::{
    ChannelKind, DeliveryStatus, EventType, RiskLevel as StoredLevel,
};
use entity::{channels, deliveries};
use sea_orm::DatabaseConnection;

use crate::db;
use crate::domain::{self, Caller};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::service::audit::{self, Action};
use crate::service::events::{self, LiveEvent};
use crate::service::outbox;
use crate::store;
use crate::store::channels::ChannelFields;
use crate::store::deliveries::NewDelivery;

/// Longest channel URL accepted.
const MAX_URL: usize = 2_000;

/// A channel to register, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewChannel {
    /// Unique name.
    pub name: String,
    /// Webhook or Slack.
    pub kind: ChannelKind,
    /// Where requests go.
    pub url: String,
    /// The events it wants.
    pub events: Vec<EventType>,
    /// The lowest level it wants.
    pub min_level: StoredLevel,
    /// A secret chosen by the admin; one is made when absent.
    pub secret: Option<String>,
}

/// Changes to a channel; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new URL.
    pub url: Option<String>,
    /// A new list of events.
    pub events: Option<Vec<EventType>>,
    /// A new lowest level.
    pub min_level: Option<StoredLevel>,
    /// On or off.
    pub enabled: Option<bool>,
    /// A new secret (rotation).
    pub secret: Option<String>,
}

/// A channel just registered, with its secret (shown this once).
#[derive(Clone, Debug)]
pub struct ChannelCreated {
    /// The channel.
    pub channel: channels::Model,
    /// Its signing secret.
    pub secret: String,
}

/// A channel's name: a short text.
pub fn name(value: &str) -> AppResult<String> {
    domain::text(value, "name", 100)
}

/// A channel's URL: absolute http or https, with a host, no blanks.
pub fn url(value: &str) -> AppResult<String> {
    let value = value.trim();
    if value.len() > MAX_URL {
        return Err(AppError::bad_input(
            "url",
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let parsed = url::Url::parse(value)
        .map_err(|e| AppError::bad_input("url", format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::bad_input(
            "url",
            format!("must be http or https, not {}", parsed.scheme()),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(AppError::bad_input("url", "must name a host"));
    }
    Ok(parsed.to_string())
}

/// A chosen secret: 16 to 100 visible ASCII characters.
pub fn secret(value: &str) -> AppResult<String> {
    let valid = (16..=100).contains(&value.len()) && value.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(AppError::bad_input(
            "secret",
            "must be 16 to 100 visible ASCII characters",
        ));
    }
    Ok(value.to_owned())
}

/// A channel's events: at least one, each once.
pub fn events_list(events: Vec<EventType>) -> AppResult<Vec<EventType>> {
    let mut unique = Vec::with_capacity(events.len());
    for event in events {
        if !unique.contains(&event) {
            unique.push(event);
        }
    }
    if unique.is_empty() {
        return Err(AppError::bad_input(
            "events",
            "must name at least one event type",
        ));
    }
    Ok(unique)
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(bytes))
}

/// The URL as the API shows it: no user or password, no query, and a
/// Slack webhook's path (its credential) hidden.
pub fn shown_url(channel: &channels::Model) -> String {
    let Ok(mut parsed) = url::Url::parse(&channel.url) else {
        return "(invalid)".to_owned();
    };
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    if parsed.query().is_some() {
        parsed.set_query(Some("…"));
    }
    if channel.kind == ChannelKind::Slack {
        parsed.set_path("/…");
    }
    parsed.to_string()
}

/// The events `channel` wants.
pub fn events_of(channel: &channels::Model) -> Vec<EventType> {
    store::channels::events_of(channel)
}

fn channel_not_found(id: i64) -> AppError {
    AppError::NotFound(format!("Channel {id} not found"))
}

fn name_taken(name: &str) -> AppError {
    AppError::bad_input("name", format!("a channel named {name:?} already exists"))
}

/// Registers a channel (enabled), audited; returns it with its secret.
pub async fn create(
    db: &DatabaseConnection,
    input: NewChannel,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<ChannelCreated> {
    let secret = input.secret.unwrap_or_else(new_secret);
    let fields = ChannelFields {
        name: input.name.clone(),
        kind: input.kind,
        url: input.url,
        secret: secret.clone(),
        events: input.events,
        min_level: input.min_level,
        enabled: true,
    };
    let txn = db::begin_write(db).await?;
    let channel = match store::channels::insert(&txn, fields, now).await {
        Ok(channel) => channel,
        Err(error) if is_unique_violation(&error) => return Err(name_taken(&input.name)),
        Err(error) => return Err(error.into()),
    };
    let action = Action {
        detail: Some(format!("{} {}", channel.name, shown_url(&channel))),
        ..Action::ok("createChannel", Some(("channel", channel.id.to_string())))
    };
    audit::record(&txn, caller, action, now).await?;
    txn.commit().await?;
    Ok(ChannelCreated { channel, secret })
}

/// Every channel.
pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<channels::Model>> {
    Ok(store::channels::all(db).await?)
}

/// Channel `id`.
pub async fn find(db: &DatabaseConnection, id: i64) -> AppResult<channels::Model> {
    store::channels::find(db, id)
        .await?
        .ok_or_else(|| channel_not_found(id))
}

/// Applies `changes` to channel `id`, audited.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: ChannelChanges,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<channels::Model> {
    let txn = db::begin_write(db).await?;
    let current = store::channels::find(&txn, id)
        .await?
        .ok_or_else(|| channel_not_found(id))?;
    let mut said = Vec::new();
    for (field, changed) in [
        ("name", changes.name.is_some()),
        ("url", changes.url.is_some()),
        ("events", changes.events.is_some()),
        ("minLevel", changes.min_level.is_some()),
        ("enabled", changes.enabled.is_some()),
        ("secret", changes.secret.is_some()),
    ] {
        if changed {
            said.push(field);
        }
    }
    let name = changes.name.unwrap_or(current.name.clone());
    let fields = ChannelFields {
        name: name.clone(),
        kind: current.kind,
        url: changes.url.unwrap_or(current.url.clone()),
        secret: changes.secret.unwrap_or(current.secret.clone()),
        events: changes
            .events
            .unwrap_or_else(|| store::channels::events_of(&current)),
        min_level: changes.min_level.unwrap_or(current.min_level),
        enabled: changes.enabled.unwrap_or(current.enabled),
    };
    let channel = match store::channels::update(&txn, id, fields, now).await {
        Ok(channel) => channel,
        Err(error) if is_unique_violation(&error) => return Err(name_taken(&name)),
        Err(error) => return Err(error.into()),
    };
    let action = Action {
        detail: Some(format!("changed: {}", said.join(", "))),
        ..Action::ok("updateChannel", Some(("channel", id.to_string())))
    };
    audit::record(&txn, caller, action, now).await?;
    txn.commit().await?;
    Ok(channel)
}

/// Queues a test event to channel `id` (enabled or not), audited.
pub async fn test(
    db: &DatabaseConnection,
    id: i64,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<deliveries::Model> {
    let txn = db::begin_write(db).await?;
    let channel = store::channels::find(&txn, id)
        .await?
        .ok_or_else(|| channel_not_found(id))?;
    let event = store::channels::events_of(&channel)
        .first()
        .copied()
        .unwrap_or(EventType::AlertRaised);
    let event_id = outbox::new_event_id();
    let delivery = NewDelivery {
        channel_id: id,
        alert_id: None,
        event_id: event_id.clone(),
        event_type: event,
        payload: outbox::test_body(&channel, &event_id, event, now),
        created_at: now,
    };
    let key = format!("test:{event_id}");
    store::deliveries::insert_keyed(&txn, delivery, &key).await?;
    events::emit(&txn, &[LiveEvent::DeliveriesQueued]).await?;
    audit::record(
        &txn,
        caller,
        Action::ok("testChannel", Some(("channel", id.to_string()))),
        now,
    )
    .await?;
    let delivery = store::deliveries::by_key(&txn, &key)
        .await?
        .ok_or_else(|| AppError::bug("a test delivery vanished in its transaction"))?;
    txn.commit().await?;
    Ok(delivery)
}

/// Sends delivered or failed delivery `id` again, from its first try's
/// body (same event id), audited.
pub async fn redeliver(
    db: &DatabaseConnection,
    id: i64,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<deliveries::Model> {
    let txn = db::begin_write(db).await?;
    let current = store::deliveries::find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Delivery {id} not found")))?;
    if current.status == DeliveryStatus::Pending {
        return Err(AppError::bad_input(
            "deliveryId",
            format!("delivery {id} is PENDING: it is already queued"),
        ));
    }
    let delivery = store::deliveries::requeue(&txn, id, now)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Delivery {id} not found")))?;
    events::emit(&txn, &[LiveEvent::DeliveriesQueued]).await?;
    audit::record(
        &txn,
        caller,
        Action::ok("redeliver", Some(("delivery", id.to_string()))),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(delivery)
}
