//! Alerts as cases, channels and deliveries (SPEC §10): the `alerts`
//! queue, `alert`, `channels`, `deliveries`, and the mutations of each
//! transition. Resolvers are thin: parse, call one `service` function,
//! convert. A case's notes, deliveries and user are batched per request by
//! [`CaseLoader`], so a page of cases costs a few queries, not one per case.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    ComplexObject, Context, Enum, ErrorExtensions, ID, InputObject, Object, Result, SimpleObject,
};
use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums as stored;
use entity::{alert_notes, channels, deliveries, delivery_attempts};
use sea_orm::DatabaseConnection;

use super::GqlResultExt;
use super::guard::Need;
use super::types::{Alert, GqlRiskLevel, User, page_size, parse_id};
use crate::clock::SharedClock;
use crate::domain::{self, Caller, Permission};
use crate::error::AppError;
use crate::service::Rules;
use crate::service::cases::{self, CaseCursor, CaseFilter, Transition};
use crate::service::channels::{self as channel_service, ChannelChanges, NewChannel};

/// Who raised an alert.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "AlertKind", remote = "stored::AlertKind")]
pub enum GqlAlertKind {
    /// A person (`sendAlert`, the legacy route).
    Manual,
    /// The service, when a user rose to `AUTO_ALERT_LEVEL`.
    Automatic,
}

/// Where a case stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "AlertStatus", remote = "stored::AlertStatus")]
pub enum GqlAlertStatus {
    /// Raised; nobody on it yet.
    Open,
    /// Somebody is on it.
    Acknowledged,
    /// Worked to an outcome.
    Resolved,
    /// Closed without action.
    Dismissed,
}

/// How a resolved case ended.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "Resolution", remote = "stored::Resolution")]
pub enum GqlResolution {
    /// The subscriber was reached.
    Contacted,
    /// The failed payments were recovered.
    PaymentRecovered,
    /// The score was wrong about them.
    FalsePositive,
    /// A moderation task was posted to the channels that want SANCTION.
    Sanctioned,
    /// Anything else (say what in the note).
    Other,
}

/// How a channel is spoken to.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "ChannelKind", remote = "stored::ChannelKind")]
pub enum GqlChannelKind {
    /// A signed JSON POST (`Risk-Monitor-Signature`).
    Webhook,
    /// A Slack incoming webhook (Block Kit).
    Slack,
}

/// How far a delivery got.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "DeliveryStatus", remote = "stored::DeliveryStatus")]
pub enum GqlDeliveryStatus {
    /// Waiting for its next try.
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Given up on (past `DELIVERY_MAX_AGE_HOURS`, or the channel is
    /// disabled); `redeliver` sends it again.
    Failed,
}

/// What happened.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "EventType", remote = "stored::EventType")]
pub enum GqlEventType {
    /// An alert was raised.
    AlertRaised,
    /// A case changed.
    AlertChanged,
    /// A case was resolved with a sanction: a moderation task.
    Sanction,
    /// The daily digest.
    Digest,
}

/// A note on a case.
#[derive(SimpleObject, Clone, Debug)]
pub struct AlertNote {
    /// The note's id.
    pub id: ID,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub author: String,
    /// What they wrote.
    pub text: String,
}

impl From<alert_notes::Model> for AlertNote {
    fn from(n: alert_notes::Model) -> Self {
        Self {
            id: ID(n.id.to_string()),
            at: n.at,
            author: n.author,
            text: n.text,
        }
    }
}

/// Where events are delivered. The secret is never returned after creation.
#[derive(SimpleObject, Clone, Debug)]
pub struct Channel {
    /// The channel's id.
    pub id: ID,
    /// Its unique name.
    pub name: String,
    /// Webhook or Slack.
    pub kind: GqlChannelKind,
    /// Where requests go, without credentials (a Slack URL's path and any
    /// query are hidden).
    pub url: String,
    /// The events it gets.
    pub events: Vec<GqlEventType>,
    /// Alerts below this level are not sent to it.
    pub min_level: GqlRiskLevel,
    /// Disabled channels get nothing.
    pub enabled: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<channels::Model> for Channel {
    fn from(c: channels::Model) -> Self {
        Self {
            id: ID(c.id.to_string()),
            url: channel_service::shown_url(&c),
            events: channel_service::events_of(&c)
                .into_iter()
                .map(Into::into)
                .collect(),
            name: c.name,
            kind: c.kind.into(),
            min_level: c.min_level.into(),
            enabled: c.enabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One try of a delivery.
#[derive(SimpleObject, Clone, Debug)]
pub struct DeliveryAttempt {
    /// When the request went out.
    pub at: DateTime<Utc>,
    /// The answer's HTTP status; none without an answer.
    pub status_code: Option<i32>,
    /// From sending to the answer or the failure, in milliseconds.
    pub latency_ms: i32,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<delivery_attempts::Model> for DeliveryAttempt {
    fn from(a: delivery_attempts::Model) -> Self {
        Self {
            at: a.at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

/// One event for one channel.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Delivery {
    /// The delivery's id.
    pub id: ID,
    /// The event's id (`Risk-Monitor-Event-Id`), the same on every channel
    /// and every try.
    pub event_id: String,
    /// What happened.
    pub event: GqlEventType,
    /// How far it got.
    pub status: GqlDeliveryStatus,
    /// Tries so far.
    pub attempts: i32,
    /// The last answer's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it is next tried (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When a 2xx came back.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Alerts folded into this one (a storm summary), else 0.
    pub summarized_alerts: i32,
    #[graphql(skip)]
    channel_id: i64,
    #[graphql(skip)]
    delivery_id: i64,
}

impl From<deliveries::Model> for Delivery {
    fn from(d: deliveries::Model) -> Self {
        Self {
            id: ID(d.id.to_string()),
            event_id: d.event_id,
            event: d.event_type.into(),
            status: d.status.into(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            summarized_alerts: d.batch_count,
            channel_id: d.channel_id,
            delivery_id: d.id,
        }
    }
}

#[ComplexObject]
impl Delivery {
    /// Where it goes.
    async fn channel(&self, ctx: &Context<'_>) -> Result<Channel> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        loader
            .load_one(ChannelOf(self.channel_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .map(Into::into)
            .ok_or_else(|| AppError::bug("a delivery's channel is missing").extend())
    }

    /// Every try, oldest first: when, the HTTP status, the latency, the error.
    async fn attempt_log(&self, ctx: &Context<'_>) -> Result<Vec<DeliveryAttempt>> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        Ok(loader
            .load_one(AttemptsOf(self.delivery_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[ComplexObject]
impl Alert {
    /// The case's thread of notes, oldest first.
    async fn notes(&self, ctx: &Context<'_>) -> Result<Vec<AlertNote>> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        Ok(loader
            .load_one(NotesOf(self.alert_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One delivery per channel that wanted it, oldest first.
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Vec<Delivery>> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        Ok(loader
            .load_one(DeliveriesOf(self.alert_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The deliveries summed up: `failed` if one failed, else `pending`
    /// if one waits, else `delivered` (also when no channel wanted it).
    #[graphql(deprecation = "see deliveries: one per channel")]
    async fn delivery_status(&self, ctx: &Context<'_>) -> Result<&'static str> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        let deliveries = loader
            .load_one(DeliveriesOf(self.alert_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .unwrap_or_default();
        let any = |status| deliveries.iter().any(|d| d.status == status);
        Ok(if any(stored::DeliveryStatus::Failed) {
            "failed"
        } else if any(stored::DeliveryStatus::Pending) {
            "pending"
        } else {
            "delivered"
        })
    }

    /// The user alerted on.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let loader = ctx.data::<DataLoader<CaseLoader>>()?;
        Ok(loader
            .load_one(UserOf(self.user_id))
            .await
            .map_err(|e| e.replicate().extend())?
            .map(Into::into))
    }
}

/// Batches what a page of cases needs, one query per kind of thing.
pub struct CaseLoader(pub DatabaseConnection);

/// A case's notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotesOf(pub i64);
/// A case's deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveriesOf(pub i64);
/// A delivery's tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptsOf(pub i64);
/// A user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserOf(pub i64);
/// A channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelOf(pub i64);

fn rekey<K: Copy + Eq + std::hash::Hash, V>(
    map: HashMap<i64, V>,
    key: impl Fn(i64) -> K,
) -> HashMap<K, V> {
    map.into_iter().map(|(id, v)| (key(id), v)).collect()
}

impl Loader<NotesOf> for CaseLoader {
    type Value = Vec<alert_notes::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[NotesOf]) -> Result<HashMap<NotesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(rekey(cases::notes(&self.0, &ids).await?, NotesOf))
    }
}

impl Loader<DeliveriesOf> for CaseLoader {
    type Value = Vec<deliveries::Model>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[DeliveriesOf],
    ) -> Result<HashMap<DeliveriesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(rekey(cases::deliveries(&self.0, &ids).await?, DeliveriesOf))
    }
}

impl Loader<AttemptsOf> for CaseLoader {
    type Value = Vec<delivery_attempts::Model>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[AttemptsOf],
    ) -> Result<HashMap<AttemptsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(rekey(cases::attempts(&self.0, &ids).await?, AttemptsOf))
    }
}

impl Loader<UserOf> for CaseLoader {
    type Value = entity::users::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[UserOf]) -> Result<HashMap<UserOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(rekey(cases::users(&self.0, &ids).await?, UserOf))
    }
}

impl Loader<ChannelOf> for CaseLoader {
    type Value = channels::Model;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        _keys: &[ChannelOf],
    ) -> Result<HashMap<ChannelOf, Self::Value>, Self::Error> {
        // Channels are few: all of them in one query.
        Ok(channel_service::list(&self.0)
            .await?
            .into_iter()
            .map(|c| (ChannelOf(c.id), c))
            .collect())
    }
}

/// An opaque position in the case queue.
pub struct QueueCursor(pub CaseCursor);

impl CursorType for QueueCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        CaseCursor::decode(s)
            .map(Self)
            .ok_or_else(|| format!("{s:?} is not a cursor of this list"))
    }

    fn encode_cursor(&self) -> String {
        self.0.encode()
    }
}

/// Fields of the queue besides its edges.
#[derive(SimpleObject)]
pub struct AlertsTotal {
    /// Cases in the whole filtered queue.
    pub total_count: i64,
}

/// The case queue connection.
pub type AlertConnection = Connection<QueueCursor, Alert, AlertsTotal>;

/// Reading cases, channels and deliveries.
#[derive(Default)]
pub struct AlertingQuery;

#[Object]
impl AlertingQuery {
    /// The case queue: the most severe level first, then the oldest case.
    /// Filters combine; pages hold at most 100.
    #[graphql(guard = "Need(Permission::Read)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per filter of the SPEC §10 contract"
    )]
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        status: Option<GqlAlertStatus>,
        level: Option<GqlRiskLevel>,
        kind: Option<GqlAlertKind>,
        assignee: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<AlertConnection> {
        let first = page_size(first).gql()?;
        let after = after
            .map(|a| {
                QueueCursor::decode_cursor(&a)
                    .map(|c| c.0)
                    .map_err(|reason| AppError::bad_input("after", reason))
            })
            .transpose()
            .gql()?;
        let filter = CaseFilter {
            status: status.map(Into::into),
            level: level.map(Into::into),
            kind: kind.map(Into::into),
            assignee: domain::filter_text(assignee.as_deref(), "assignee", 200).gql()?,
            unresolved: false,
        };
        let db = ctx.data::<DatabaseConnection>()?;
        let page = cases::page(db, &filter, after, first).await.gql()?;
        let total_count = if ctx.look_ahead().field("totalCount").exists() {
            i64::try_from(cases::count(db, &filter).await.gql()?).unwrap_or(i64::MAX)
        } else {
            -1
        };
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next_page,
            AlertsTotal { total_count },
        );
        connection.edges.extend(page.rows.into_iter().map(|row| {
            let cursor = QueueCursor(CaseCursor::after(&row));
            Edge::new(cursor, Alert::from(row))
        }));
        Ok(connection)
    }

    /// One case; null if there is none with this id.
    #[graphql(guard = "Need(Permission::Read)")]
    async fn alert(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Alert>> {
        let id = parse_id(&id, "id").gql()?;
        let db = ctx.data::<DatabaseConnection>()?;
        Ok(cases::find(db, id).await.gql()?.map(Into::into))
    }

    /// Every delivery channel (admin).
    #[graphql(guard = "Need(Permission::Admin)")]
    async fn channels(&self, ctx: &Context<'_>) -> Result<Vec<Channel>> {
        let db = ctx.data::<DatabaseConnection>()?;
        Ok(channel_service::list(db)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The newest deliveries, optionally only those with `status` (failed
    /// ones can be sent again with `redeliver`).
    #[graphql(guard = "Need(Permission::Read)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<GqlDeliveryStatus>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> Result<Vec<Delivery>> {
        let first = page_size(first).gql()?;
        let db = ctx.data::<DatabaseConnection>()?;
        Ok(cases::recent_deliveries(db, status.map(Into::into), first)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// A channel to register.
#[derive(InputObject)]
pub struct ChannelInput {
    /// A unique name.
    pub name: String,
    /// Webhook or Slack.
    pub kind: GqlChannelKind,
    /// An http or https URL.
    pub url: String,
    /// The events it wants (at least one).
    pub events: Vec<GqlEventType>,
    /// Alerts below this level are not sent to it.
    #[graphql(default_with = "Some(GqlRiskLevel::High)")]
    pub min_level: Option<GqlRiskLevel>,
    /// A signing secret of your own (16 to 100 visible ASCII characters);
    /// one is made when absent.
    pub secret: Option<String>,
}

/// Changes to a channel; absent fields stay as they are.
#[derive(InputObject)]
pub struct ChannelUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new URL.
    pub url: Option<String>,
    /// A new list of events.
    pub events: Option<Vec<GqlEventType>>,
    /// A new lowest level.
    pub min_level: Option<GqlRiskLevel>,
    /// Turn it on or off.
    pub enabled: Option<bool>,
    /// A new signing secret (rotation).
    pub secret: Option<String>,
}

fn events_of(events: Vec<GqlEventType>) -> crate::error::AppResult<Vec<stored::EventType>> {
    channel_service::events_list(events.into_iter().map(Into::into).collect())
}

impl TryFrom<ChannelInput> for NewChannel {
    type Error = AppError;

    fn try_from(input: ChannelInput) -> Result<Self, AppError> {
        Ok(Self {
            name: channel_service::name(&input.name)?,
            kind: input.kind.into(),
            url: channel_service::url(&input.url)?,
            events: events_of(input.events)?,
            min_level: crate::risk::RiskLevel::from(input.min_level.unwrap_or(GqlRiskLevel::High))
                .into(),
            secret: input
                .secret
                .as_deref()
                .map(channel_service::secret)
                .transpose()?,
        })
    }
}

impl TryFrom<ChannelUpdate> for ChannelChanges {
    type Error = AppError;

    fn try_from(input: ChannelUpdate) -> Result<Self, AppError> {
        Ok(Self {
            name: input
                .name
                .as_deref()
                .map(channel_service::name)
                .transpose()?,
            url: input.url.as_deref().map(channel_service::url).transpose()?,
            events: input.events.map(events_of).transpose()?,
            min_level: input
                .min_level
                .map(|l| crate::risk::RiskLevel::from(l).into()),
            enabled: input.enabled,
            secret: input
                .secret
                .as_deref()
                .map(channel_service::secret)
                .transpose()?,
        })
    }
}

/// A channel just registered, with its secret: shown this once.
#[derive(SimpleObject)]
pub struct ChannelCreated {
    /// The channel.
    pub channel: Channel,
    /// Its signing secret (`Risk-Monitor-Signature`); store it now.
    pub secret: String,
}

/// Managing channels and working cases.
#[derive(Default)]
pub struct AlertingMutation;

fn who<'a>(ctx: &'a Context<'_>) -> Result<(&'a DatabaseConnection, &'a Caller, DateTime<Utc>)> {
    Ok((
        ctx.data::<DatabaseConnection>()?,
        ctx.data::<Caller>()?,
        ctx.data::<SharedClock>()?.now(),
    ))
}

async fn transition(ctx: &Context<'_>, id: &ID, version: i32, change: Transition) -> Result<Alert> {
    let id = parse_id(id, "id").gql()?;
    let (db, caller, now) = who(ctx)?;
    let rules = ctx.data::<Rules>()?;
    Ok(
        cases::transition(db, rules, id, version, change, caller, now)
            .await
            .gql()?
            .into(),
    )
}

#[Object]
impl AlertingMutation {
    /// Registers a delivery channel (admin); answers its secret, once.
    #[graphql(guard = "Need(Permission::Admin)")]
    async fn create_channel(
        &self,
        ctx: &Context<'_>,
        input: ChannelInput,
    ) -> Result<ChannelCreated> {
        let input = NewChannel::try_from(input).gql()?;
        let (db, caller, now) = who(ctx)?;
        let created = channel_service::create(db, input, caller, now)
            .await
            .gql()?;
        Ok(ChannelCreated {
            channel: created.channel.into(),
            secret: created.secret,
        })
    }

    /// Changes a channel (admin): name, URL, events, level, on/off, secret.
    #[graphql(guard = "Need(Permission::Admin)")]
    async fn update_channel(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ChannelUpdate,
    ) -> Result<Channel> {
        let id = parse_id(&id, "id").gql()?;
        let changes = ChannelChanges::try_from(input).gql()?;
        let (db, caller, now) = who(ctx)?;
        Ok(channel_service::update(db, id, changes, caller, now)
            .await
            .gql()?
            .into())
    }

    /// Sends a test event to a channel now (admin); answers the delivery.
    #[graphql(guard = "Need(Permission::Admin)")]
    async fn test_channel(&self, ctx: &Context<'_>, id: ID) -> Result<Delivery> {
        let id = parse_id(&id, "id").gql()?;
        let (db, caller, now) = who(ctx)?;
        Ok(channel_service::test(db, id, caller, now)
            .await
            .gql()?
            .into())
    }

    /// OPEN → ACKNOWLEDGED.
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn acknowledge_alert(&self, ctx: &Context<'_>, id: ID, version: i32) -> Result<Alert> {
        transition(ctx, &id, version, Transition::Acknowledge).await
    }

    /// Sets (or, with null, clears) the assignee of an open case.
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn assign_alert(
        &self,
        ctx: &Context<'_>,
        id: ID,
        assignee: Option<String>,
        version: i32,
    ) -> Result<Alert> {
        let assignee = domain::filter_text(assignee.as_deref(), "assignee", 200).gql()?;
        transition(ctx, &id, version, Transition::Assign(assignee)).await
    }

    /// Adds a note to a case's thread (any status; no version needed).
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn comment_alert(&self, ctx: &Context<'_>, id: ID, text: String) -> Result<Alert> {
        let id = parse_id(&id, "id").gql()?;
        let text = domain::text(&text, "text", 2000).gql()?;
        let (db, caller, now) = who(ctx)?;
        let rules = ctx.data::<Rules>()?;
        Ok(cases::comment(db, rules, id, text, caller, now)
            .await
            .gql()?
            .into())
    }

    /// OPEN | ACKNOWLEDGED → RESOLVED. SANCTIONED also posts a moderation
    /// task to the channels that want SANCTION.
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn resolve_alert(
        &self,
        ctx: &Context<'_>,
        id: ID,
        resolution: GqlResolution,
        note: Option<String>,
        version: i32,
    ) -> Result<Alert> {
        let note = domain::note(note.as_deref()).gql()?;
        transition(
            ctx,
            &id,
            version,
            Transition::Resolve(resolution.into(), note),
        )
        .await
    }

    /// OPEN | ACKNOWLEDGED → DISMISSED.
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn dismiss_alert(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
        version: i32,
    ) -> Result<Alert> {
        let note = domain::note(note.as_deref()).gql()?;
        transition(ctx, &id, version, Transition::Dismiss(note)).await
    }

    /// Queues a delivered or failed delivery again (same event id and body).
    #[graphql(guard = "Need(Permission::Alert)")]
    async fn redeliver(&self, ctx: &Context<'_>, delivery_id: ID) -> Result<Delivery> {
        let id = parse_id(&delivery_id, "deliveryId").gql()?;
        let (db, caller, now) = who(ctx)?;
        Ok(channel_service::redeliver(db, id, caller, now)
            .await
            .gql()?
            .into())
    }
}
