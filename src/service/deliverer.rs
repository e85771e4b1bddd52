//! The deliverer (SPEC §10): drains the outbox beside the server, in every
//! process. Each pass claims a batch of due deliveries with a lease
//! ([`store::deliveries::claim`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! two processes never take the same one), sends them concurrently, and
//! records every try. A failed try is retried with exponential backoff and
//! jitter until `DELIVERY_MAX_AGE_HOURS`, then the delivery is failed. A
//! process killed mid-send leaves a lease that expires: another pass sends
//! it again (at least once; receivers deduplicate by the event id).
//!
//! Webhook requests carry `Risk-Monitor-Event-Id`, `Risk-Monitor-Event-Type`
//! and `Risk-Monitor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, with the channel's secret.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::ChannelKind;
use entity::{channels, deliveries};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use sea_orm::{DatabaseConnection, DbErr};
use sha2::Sha256;

use crate::clock::SharedClock;
use crate::config::AlertSettings;
use crate::db;
use crate::service::events::{Hub, LiveEvent};
use crate::service::outbox;
use crate::store;
use crate::store::deliveries::{AfterAttempt, Attempt};

/// Deliveries claimed per pass.
const BATCH: u64 = 200;
/// Requests in flight at once.
const CONCURRENCY: usize = 64;
/// How often the outbox is looked at when nobody says it changed (retries
/// come due by time alone).
const POLL: Duration = Duration::from_millis(250);
/// A claim outlives the try's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// The longest error text kept from an answer.
const MAX_ERROR: usize = 300;

/// The signature header's value for `body` sent at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The wait before try `attempts + 1`: `retry_base` doubled per try so
/// far, at most `retry_cap`, then a random half of it taken off (jitter,
/// so a receiver that comes back is not hit by every retry at once).
pub fn backoff(settings: &AlertSettings, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(40);
    let full = settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(settings.retry_cap);
    let jitter: f64 = rand::random::<f64>() * 0.5;
    full.mul_f64(1.0 - jitter)
}

/// The deliverer's instruments (registered in [`crate::metrics`]).
#[derive(Clone, Debug)]
pub struct DeliveryMetrics {
    /// Tries by outcome: `delivered`, `retry` or `failed`.
    pub tries: Family<OutcomeLabels, Counter>,
    /// Each try's time, from sending to the answer or the failure.
    pub latency: Histogram,
}

/// The label of a try's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `delivered`, `retry` or `failed`.
    pub outcome: &'static str,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        Self {
            tries: Family::default(),
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
        }
    }
}

/// Sends what the outbox holds.
#[derive(Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    client: reqwest::Client,
    settings: Arc<AlertSettings>,
    clock: SharedClock,
    metrics: DeliveryMetrics,
}

impl Deliverer {
    /// A deliverer for `db`'s outbox, reading the instant from `clock`.
    pub fn new(
        db: DatabaseConnection,
        settings: Arc<AlertSettings>,
        clock: SharedClock,
        metrics: DeliveryMetrics,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("RiskMonitor-Webhook/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.delivery_timeout)
            .build()?;
        Ok(Self {
            db,
            client,
            settings,
            clock,
            metrics,
        })
    }

    /// Runs forever: a pass whenever `hub` says deliveries were queued, and
    /// every [`POLL`] for retries that came due.
    pub async fn run(self, hub: Hub) {
        let mut events = hub.subscribe();
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(%error, "deliverer: a pass failed; retrying shortly");
            }
            let wake = async {
                loop {
                    match events.recv().await {
                        Ok(LiveEvent::DeliveriesQueued)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            };
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = wake => {}
            }
        }
    }

    /// Sends every delivery due now, batch after batch; returns how many
    /// tries were made.
    pub async fn deliver_due(&self) -> Result<usize, DbErr> {
        let mut tried = 0;
        loop {
            let now = self.clock.now();
            let lease = now
                + chrono::Duration::from_std(self.settings.delivery_timeout + LEASE_MARGIN)
                    .unwrap_or_default();
            let claimed = store::deliveries::claim(&self.db, now, lease, BATCH).await?;
            if claimed.is_empty() {
                return Ok(tried);
            }
            tried += claimed.len();
            // Channels are few: all of them, in one query per pass.
            let channels: HashMap<i64, channels::Model> = store::channels::all(&self.db)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let channels = &channels;
            let outcomes: Vec<(i64, Attempt, AfterAttempt)> = futures::stream::iter(claimed)
                .map(|delivery| async move {
                    let channel = channels.get(&delivery.channel_id);
                    self.try_once(delivery, channel).await
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let txn = db::begin_write(&self.db).await?;
            for (id, attempt, next) in outcomes {
                let outcome = match next {
                    AfterAttempt::Delivered(_) => "delivered",
                    AfterAttempt::RetryAt(_) => "retry",
                    AfterAttempt::Failed => "failed",
                };
                self.metrics
                    .tries
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc();
                self.metrics
                    .latency
                    .observe(f64::from(attempt.latency_ms) / 1_000.0);
                store::deliveries::record_attempt(&txn, id, attempt, next).await?;
            }
            txn.commit().await?;
        }
    }

    /// One try of `delivery` to `channel`; what to record.
    async fn try_once(
        &self,
        delivery: deliveries::Model,
        channel: Option<&channels::Model>,
    ) -> (i64, Attempt, AfterAttempt) {
        let at = self.clock.now();
        let started = Instant::now();
        let result = match channel {
            None => Err((None, "the channel no longer exists".to_owned())),
            Some(channel) if !channel.enabled => Err((None, "the channel is disabled".to_owned())),
            Some(channel) => match self.body(&delivery, channel, at).await {
                Ok(body) => self.send(&delivery, channel, body, at).await,
                Err(error) => Err((None, format!("cannot write the summary's body: {error}"))),
            },
        };
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let gone = channel.is_none_or(|c| !c.enabled);
        match result {
            Ok(status) => (
                delivery.id,
                Attempt {
                    at,
                    status_code: Some(status),
                    latency_ms,
                    error: None,
                },
                AfterAttempt::Delivered(self.clock.now()),
            ),
            Err((status_code, error)) => {
                let next = if gone {
                    AfterAttempt::Failed
                } else {
                    self.after_failure(&delivery, at)
                };
                (
                    delivery.id,
                    Attempt {
                        at,
                        status_code,
                        latency_ms,
                        error: Some(error),
                    },
                    next,
                )
            }
        }
    }

    /// The delivery's body; a storm summary's is written now, with its count.
    async fn body(
        &self,
        delivery: &deliveries::Model,
        channel: &channels::Model,
        at: DateTime<Utc>,
    ) -> Result<String, DbErr> {
        if let Some(payload) = &delivery.payload {
            return Ok(payload.clone());
        }
        let body = outbox::summary_body(
            channel,
            &delivery.event_id,
            delivery.batch_count,
            &self.settings,
            at,
        );
        store::deliveries::set_payload(&self.db, delivery.id, &body).await?;
        Ok(body)
    }

    /// Posts `body`; the answer's status on a 2xx, else what went wrong.
    async fn send(
        &self,
        delivery: &deliveries::Model,
        channel: &channels::Model,
        body: String,
        at: DateTime<Utc>,
    ) -> Result<i32, (Option<i32>, String)> {
        let mut request = self
            .client
            .post(&channel.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if channel.kind == ChannelKind::Webhook {
            let timestamp = at.timestamp();
            request = request
                .header("Risk-Monitor-Event-Id", &delivery.event_id)
                .header(
                    "Risk-Monitor-Event-Type",
                    outbox::event_name(delivery.event_type),
                )
                .header(
                    "Risk-Monitor-Signature",
                    signature(&channel.secret, timestamp, &body),
                );
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = i32::from(response.status().as_u16());
                if response.status().is_success() {
                    Ok(status)
                } else {
                    // The receiver's answer stays in the log: the API shows
                    // the status alone, so that a channel pointed at an
                    // internal address cannot be used to read it.
                    let text = response.text().await.unwrap_or_default();
                    let text: String = text.chars().take(MAX_ERROR).collect();
                    tracing::info!(
                        delivery.id = delivery.id,
                        http.status = status,
                        body = %text,
                        "a delivery was refused"
                    );
                    Err((Some(status), format!("HTTP {status}")))
                }
            }
            Err(error) if error.is_timeout() => Err((
                None,
                format!(
                    "no answer within {:.1}s",
                    self.settings.delivery_timeout.as_secs_f64()
                ),
            )),
            Err(error) => Err((None, error_chain(&error))),
        }
    }

    /// A later try, or failed once the delivery is past its age.
    fn after_failure(&self, delivery: &deliveries::Model, at: DateTime<Utc>) -> AfterAttempt {
        let wait = backoff(&self.settings, delivery.attempts + 1);
        let next = at + chrono::Duration::from_std(wait).unwrap_or_default();
        let give_up = delivery.created_at
            + chrono::Duration::from_std(self.settings.delivery_max_age).unwrap_or_default();
        if next > give_up {
            AfterAttempt::Failed
        } else {
            AfterAttempt::RetryAt(next)
        }
    }
}

/// An error with its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let signed = signature("whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            signed,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let settings = AlertSettings::default();
        for attempts in 1..30 {
            let full = Duration::from_secs(1)
                .saturating_mul(2u32.saturating_pow((attempts - 1) as u32))
                .min(Duration::from_secs(3_600));
            let wait = backoff(&settings, attempts);
            assert!(
                wait <= full && wait >= full / 2,
                "{attempts}: {wait:?} vs {full:?}"
            );
        }
    }
}
