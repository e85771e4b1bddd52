//! The outbox (SPEC §10): what each event says to each kind of channel,
//! and queuing it in the caller's transaction, so that an event is stored
//! with its deliveries or not at all. [`crate::service::deliverer`] sends
//! what is queued here.
//!
//! One event has one id on every channel and every try (receivers
//! deduplicate by it, as with Stripe's). Webhooks get `{"id", "type",
//! "createdAt", "data"}`; Slack gets `{"text", "blocks"}` (Block Kit).

use chrono::{DateTime, SecondsFormat, Utc};
use entity::sea_orm_active_enums::{AlertKind, AlertStatus, ChannelKind, EventType, Resolution};
use entity::{alerts, channels};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};

use crate::config::AlertSettings;
use crate::risk::{Factor, RiskLevel};
use crate::service::events::{self, LiveEvent};
use crate::store;
use crate::store::deliveries::NewDelivery;

/// The GraphQL spelling of an event type, sent in `Risk-Monitor-Event-Type`.
pub fn event_name(event: EventType) -> &'static str {
    match event {
        EventType::AlertRaised => "ALERT_RAISED",
        EventType::AlertChanged => "ALERT_CHANGED",
        EventType::Sanction => "SANCTION",
        EventType::Digest => "DIGEST",
    }
}

/// The GraphQL spelling of a case's status (messages and errors name it).
pub fn status_name(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Open => "OPEN",
        AlertStatus::Acknowledged => "ACKNOWLEDGED",
        AlertStatus::Resolved => "RESOLVED",
        AlertStatus::Dismissed => "DISMISSED",
    }
}

/// The GraphQL spelling of a resolution.
pub fn resolution_name(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Contacted => "CONTACTED",
        Resolution::PaymentRecovered => "PAYMENT_RECOVERED",
        Resolution::FalsePositive => "FALSE_POSITIVE",
        Resolution::Sanctioned => "SANCTIONED",
        Resolution::Other => "OTHER",
    }
}

/// The GraphQL spelling of an alert's kind.
pub fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Manual => "MANUAL",
        AlertKind::Automatic => "AUTOMATIC",
    }
}

/// A fresh event id.
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The person an alert is about, as messages show them.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    /// The user's id.
    pub user_id: i64,
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
}

/// An alert with what its messages show: who, and the three factors that
/// weigh most.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertMessage {
    /// The alert as stored.
    pub alert: alerts::Model,
    /// Who it is about.
    pub subject: Subject,
    /// The factors by contribution, largest first, at most three.
    pub top_factors: Vec<Factor>,
}

/// The three factors that weigh most, largest first.
pub fn top_factors(factors: &[Factor]) -> Vec<Factor> {
    let mut sorted = factors.to_vec();
    sorted.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    sorted.truncate(3);
    sorted
}

fn level_name(level: RiskLevel) -> String {
    level.as_str().to_ascii_uppercase()
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Where a person sees user `id` in the console.
pub fn user_link(settings: &AlertSettings, user_id: i64) -> String {
    format!("{}/console/users/{user_id}", settings.public_url)
}

/// Where a person sees the case queue.
pub fn cases_link(settings: &AlertSettings) -> String {
    format!("{}/console/cases", settings.public_url)
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn alert_json(alert: &alerts::Model) -> Value {
    let level = RiskLevel::from(alert.risk_level);
    json!({
        "id": alert.id.to_string(),
        "kind": kind_name(alert.kind),
        "status": status_name(alert.status),
        "riskScore": alert.risk_score,
        "riskLevel": level_name(level),
        "note": alert.note,
        "createdAt": time(alert.created_at),
    })
}

fn factors_json(factors: &[Factor]) -> Value {
    Value::Array(
        factors
            .iter()
            .map(|f| {
                json!({
                    "name": f.name.as_str().to_ascii_uppercase(),
                    "contribution": f.contribution,
                    "detail": f.detail,
                })
            })
            .collect(),
    )
}

/// The `data` of an alert event.
fn alert_data(message: &AlertMessage, settings: &AlertSettings) -> Value {
    let level = RiskLevel::from(message.alert.risk_level);
    json!({
        "alert": alert_json(&message.alert),
        "user": {
            "id": message.subject.user_id.to_string(),
            "name": message.subject.name,
            "email": message.subject.email,
        },
        "riskScore": message.alert.risk_score,
        "riskLevel": level_name(level),
        "factors": factors_json(&message.top_factors),
        "url": user_link(settings, message.subject.user_id),
    })
}

/// A webhook body.
fn envelope(event_id: &str, event: EventType, at: DateTime<Utc>, data: Value) -> String {
    json!({
        "id": event_id,
        "type": event_name(event),
        "createdAt": time(at),
        "data": data,
    })
    .to_string()
}

/// The Slack message of an alert event: name, score, level, the top three
/// factors with their contributions, a link to the user.
fn slack_alert(message: &AlertMessage, event: EventType, settings: &AlertSettings) -> String {
    let level = RiskLevel::from(message.alert.risk_level);
    let name = slack_escape(&message.subject.name);
    let headline = match event {
        EventType::AlertChanged => format!(
            "Case {} on {name}: {}",
            message.alert.id,
            status_name(message.alert.status).to_lowercase()
        ),
        _ => format!(
            "{} risk: {name} (score {:.2})",
            level_name(level),
            message.alert.risk_score
        ),
    };
    let factors = message
        .top_factors
        .iter()
        .map(|f| {
            format!(
                "• *{}* +{:.2}: {}",
                f.name.as_str().replace('_', " "),
                f.contribution,
                slack_escape(&f.detail)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let link = user_link(settings, message.subject.user_id);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": headline}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*User*\n{name} ({})", slack_escape(&message.subject.email))},
            {"type": "mrkdwn", "text": format!("*Score*\n{:.2}", message.alert.risk_score)},
            {"type": "mrkdwn", "text": format!("*Level*\n{}", level_name(level))},
            {"type": "mrkdwn", "text": format!("*Case*\n#{}", message.alert.id)},
        ]}),
    ];
    if !factors.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Top factors*\n{factors}")}}));
    }
    if let Some(note) = &message.alert.note {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(note)}]}));
    }
    blocks.push(json!({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open the user"}, "url": link}
    ]}));
    json!({ "text": format!("{headline} {link}"), "blocks": blocks }).to_string()
}

/// The body `channel` gets for an alert event.
pub fn alert_body(
    channel: &channels::Model,
    event_id: &str,
    event: EventType,
    message: &AlertMessage,
    settings: &AlertSettings,
    at: DateTime<Utc>,
) -> String {
    match channel.kind {
        ChannelKind::Webhook => envelope(event_id, event, at, alert_data(message, settings)),
        ChannelKind::Slack => slack_alert(message, event, settings),
    }
}

/// A sanction's moderation task: the user's summary, the case's notes, who
/// decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Sanction {
    /// The case and its user.
    pub message: AlertMessage,
    /// The user's current score row, if scored.
    pub failure_rate: Option<f64>,
    /// Failed and total payments.
    pub payments: Option<(i32, i32)>,
    /// The case's thread: (author, text, at).
    pub notes: Vec<(String, String, DateTime<Utc>)>,
    /// Who decided.
    pub decided_by: String,
}

/// The body `channel` gets for a sanction.
pub fn sanction_body(
    channel: &channels::Model,
    event_id: &str,
    sanction: &Sanction,
    settings: &AlertSettings,
    at: DateTime<Utc>,
) -> String {
    let notes: Vec<Value> = sanction
        .notes
        .iter()
        .map(|(author, text, at)| json!({"author": author, "text": text, "at": time(*at)}))
        .collect();
    match channel.kind {
        ChannelKind::Webhook => {
            let mut data = alert_data(&sanction.message, settings);
            data["task"] = json!("moderation");
            data["notes"] = Value::Array(notes);
            data["decidedBy"] = json!(sanction.decided_by);
            data["failureRate"] = json!(sanction.failure_rate);
            data["failedPayments"] = json!(sanction.payments.map(|p| p.0));
            data["totalPayments"] = json!(sanction.payments.map(|p| p.1));
            envelope(event_id, EventType::Sanction, at, data)
        }
        ChannelKind::Slack => {
            let subject = &sanction.message.subject;
            let thread = sanction
                .notes
                .iter()
                .map(|(author, text, _)| {
                    format!("> *{}*: {}", slack_escape(author), slack_escape(text))
                })
                .collect::<Vec<_>>()
                .join("\n");
            let headline = format!(
                "Moderation task: sanction {} (case #{})",
                slack_escape(&subject.name),
                sanction.message.alert.id
            );
            let summary = format!(
                "*User* {} ({}), score {:.2}, {}{}\n*Decided by* {}",
                slack_escape(&subject.name),
                slack_escape(&subject.email),
                sanction.message.alert.risk_score,
                level_name(RiskLevel::from(sanction.message.alert.risk_level)),
                sanction
                    .payments
                    .map(|(failed, total)| format!(", {failed} of {total} payments failed"))
                    .unwrap_or_default(),
                slack_escape(&sanction.decided_by),
            );
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": headline}}),
                json!({"type": "section", "text": {"type": "mrkdwn", "text": summary}}),
            ];
            if !thread.is_empty() {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": thread}}));
            }
            blocks.push(json!({"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open the user"},
                 "url": user_link(settings, subject.user_id)}
            ]}));
            json!({"text": headline, "blocks": blocks}).to_string()
        }
    }
}

/// The body of a storm summary: `count` alerts folded into one message.
pub fn summary_body(
    channel: &channels::Model,
    event_id: &str,
    count: i32,
    settings: &AlertSettings,
    at: DateTime<Utc>,
) -> String {
    let link = cases_link(settings);
    match channel.kind {
        ChannelKind::Webhook => envelope(
            event_id,
            EventType::AlertRaised,
            at,
            json!({"summary": true, "count": count, "url": link}),
        ),
        ChannelKind::Slack => {
            let text = format!(
                "{count} more alerts were raised in the last minute; they are in the case queue."
            );
            json!({"text": format!("{text} {link}"), "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{text}*")}},
                {"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open the case queue"}, "url": link}
                ]}
            ]})
            .to_string()
        }
    }
}

/// The body of a digest.
pub fn digest_body(
    channel: &channels::Model,
    event_id: &str,
    day: &str,
    markdown: &str,
    at: DateTime<Utc>,
) -> String {
    match channel.kind {
        ChannelKind::Webhook => envelope(
            event_id,
            EventType::Digest,
            at,
            json!({"date": day, "markdown": markdown}),
        ),
        ChannelKind::Slack => {
            let blocks: Vec<Value> = slack_chunks(markdown)
                .into_iter()
                .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))
                .collect();
            json!({ "text": format!("Risk Monitor digest for {day}"), "blocks": blocks })
                .to_string()
        }
    }
}

/// Slack's limits: 3000 characters a text block, 50 blocks a message.
const SLACK_TEXT: usize = 2_900;
const SLACK_BLOCKS: usize = 45;

/// `text` cut at line ends into pieces Slack accepts; a text longer than
/// the message allows ends with a line saying so.
fn slack_chunks(text: &str) -> Vec<String> {
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        let line: String = line.chars().take(SLACK_TEXT).collect();
        let current = chunks.last_mut().map_or(0, |c| c.chars().count());
        if current + line.chars().count() + 1 > SLACK_TEXT {
            if chunks.len() == SLACK_BLOCKS {
                chunks.push("_…cut: the whole digest is in the digest query._".to_owned());
                return chunks;
            }
            chunks.push(String::new());
        }
        if let Some(chunk) = chunks.last_mut() {
            chunk.push_str(&line);
            chunk.push('\n');
        }
    }
    chunks
}

/// The body of a channel's test event.
pub fn test_body(
    channel: &channels::Model,
    event_id: &str,
    event: EventType,
    at: DateTime<Utc>,
) -> String {
    let text = format!(
        "Test event from Risk Monitor to channel {:?}.",
        channel.name
    );
    match channel.kind {
        ChannelKind::Webhook => {
            envelope(event_id, event, at, json!({"test": true, "message": text}))
        }
        ChannelKind::Slack => json!({"text": text}).to_string(),
    }
}

/// Deliveries waiting to be sent or retried.
pub async fn pending(db: &sea_orm::DatabaseConnection) -> crate::error::AppResult<u64> {
    Ok(store::deliveries::pending_count(db).await?)
}

/// Queues `messages` (alerts just written in the caller's transaction) for
/// every enabled channel that wants `event` at their level, and announces
/// them. Past `STORM_THRESHOLD_PER_MINUTE` one-by-one deliveries to a
/// channel in the last minute, the rest of that minute's alerts go into
/// one summary for it.
pub async fn queue_alerts<C: ConnectionTrait>(
    conn: &C,
    event: EventType,
    messages: &[AlertMessage],
    settings: &AlertSettings,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if messages.is_empty() {
        return Ok(());
    }
    let event_ids: Vec<String> = messages.iter().map(|_| new_event_id()).collect();
    let mut queued = false;
    for channel in store::channels::wanting(conn, event).await? {
        let min_level = RiskLevel::from(channel.min_level);
        let wanted: Vec<usize> = (0..messages.len())
            .filter(|&i| RiskLevel::from(messages[i].alert.risk_level) >= min_level)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        // Channels are locked in id order: no two writers deadlock here.
        store::channels::lock(conn, channel.id).await?;
        let minute_ago = now - chrono::Duration::minutes(1);
        let sent = store::deliveries::recent_count(conn, channel.id, event, minute_ago).await?;
        let room = u64::from(settings.storm_per_minute).saturating_sub(sent);
        let room = usize::try_from(room)
            .unwrap_or(usize::MAX)
            .min(wanted.len());
        let (one_by_one, folded) = wanted.split_at(room);
        let deliveries = one_by_one
            .iter()
            .map(|&i| NewDelivery {
                channel_id: channel.id,
                alert_id: Some(messages[i].alert.id),
                event_id: event_ids[i].clone(),
                event_type: event,
                payload: alert_body(&channel, &event_ids[i], event, &messages[i], settings, now),
                created_at: now,
            })
            .collect();
        store::deliveries::queue(conn, deliveries).await?;
        if !folded.is_empty() {
            let minute = now.timestamp().div_euclid(60);
            let send_at = DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now);
            let key = format!("storm:{}:{minute}", channel.id);
            let count = i32::try_from(folded.len()).unwrap_or(i32::MAX);
            store::deliveries::add_to_summary(
                conn,
                channel.id,
                &key,
                count,
                new_event_id(),
                send_at,
                now,
            )
            .await?;
        }
        queued = true;
    }
    let mut live: Vec<LiveEvent> = match event {
        EventType::AlertRaised => messages
            .iter()
            .map(|m| LiveEvent::AlertRaised {
                alert_id: m.alert.id,
                level: RiskLevel::from(m.alert.risk_level),
            })
            .collect(),
        _ => messages
            .iter()
            .map(|m| LiveEvent::AlertChanged {
                alert_id: m.alert.id,
            })
            .collect(),
    };
    if queued {
        live.push(LiveEvent::DeliveriesQueued);
    }
    events::emit(conn, &live).await
}

/// Queues one body per channel wanting `event`, built by `body`, under a
/// per-channel `batch_key` when given (a second queuing with the same key
/// does nothing); returns how many were queued.
pub async fn queue_to_channels<C: ConnectionTrait>(
    conn: &C,
    event: EventType,
    alert_id: Option<i64>,
    batch_key: Option<&str>,
    now: DateTime<Utc>,
    body: impl Fn(&channels::Model, &str) -> String,
) -> Result<usize, DbErr> {
    let event_id = new_event_id();
    let mut queued = 0;
    for channel in store::channels::wanting(conn, event).await? {
        let delivery = NewDelivery {
            channel_id: channel.id,
            alert_id,
            event_id: event_id.clone(),
            event_type: event,
            payload: body(&channel, &event_id),
            created_at: now,
        };
        match batch_key {
            Some(key) => {
                let key = format!("{key}:{}", channel.id);
                if store::deliveries::insert_keyed(conn, delivery, &key).await? {
                    queued += 1;
                }
            }
            None => {
                store::deliveries::queue(conn, vec![delivery]).await?;
                queued += 1;
            }
        }
    }
    if queued > 0 {
        events::emit(conn, &[LiveEvent::DeliveriesQueued]).await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_digest_is_cut_into_blocks_slack_accepts() {
        let long: String = (0..20_000)
            .map(|n| format!("| user {n} | 0.91 |\n"))
            .collect();
        let chunks = slack_chunks(&long);
        assert_eq!(chunks.len(), SLACK_BLOCKS + 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= 3_000));
        assert!(chunks[0].starts_with("| user 0 |"));
        assert_eq!(slack_chunks("# Digest\nshort").len(), 1);
    }
}
