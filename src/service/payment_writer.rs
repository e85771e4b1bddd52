//! Group commit for `recordPayment` (SPEC §3.4).
//!
//! Recording one payment costs a transaction: lock the user, read the
//! history, insert, rewrite the score, commit (and on PostgreSQL, flush the
//! WAL). Under load, most of that is per transaction, not per payment. The
//! writer queues the payments that arrive while earlier ones are being
//! written and records each queue in one transaction through
//! [`ingest::record_payments`], which answers each payment as if it had been
//! recorded alone. At low load a payment finds nothing in flight and is
//! written at once, alone: batching adds no wait.
//!
//! The batches run in spawned tasks, so a client that hangs up cannot cancel
//! a transaction that carries other clients' payments.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;

use crate::clock::SharedClock;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::service::Rules;
use crate::service::ingest::{self, NewPayment, PaymentRecorded};

/// Most payments in one transaction.
pub const MAX_BATCH: usize = 64;

/// What the writer reports for `/metrics` (registered by [`crate::metrics`]).
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    /// Payments per transaction.
    pub batch_sizes: Histogram,
    /// Payments waiting for a batch.
    pub queue_length: Gauge,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            batch_sizes: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            queue_length: Gauge::default(),
        }
    }
}

/// Records payments, batching those that arrive together. Cheap to clone.
#[derive(Clone)]
pub struct PaymentWriter {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    rules: Rules,
    clock: SharedClock,
    /// Batches written at once: two on PostgreSQL (one commits while the
    /// other reads and writes; more split the same load into smaller
    /// batches, each paying a transaction's fixed cost of round trips,
    /// statement triggers and a commit; one would stop every payment
    /// behind a batch waiting on a user's lock), one on SQLite (a single
    /// writer anyway, which would otherwise wait on its busy timeout).
    max_in_flight: usize,
    queue: Mutex<Queue>,
    metrics: WriterMetrics,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    in_flight: usize,
}

struct Job {
    input: NewPayment,
    reply: oneshot::Sender<AppResult<PaymentRecorded>>,
}

impl PaymentWriter {
    /// A writer for `db`, scoring with `rules` at `clock`'s instant,
    /// reporting to `metrics`.
    pub fn new(
        db: DatabaseConnection,
        rules: Rules,
        clock: SharedClock,
        metrics: WriterMetrics,
    ) -> Self {
        let max_in_flight = if db::is_postgres(&db) { 2 } else { 1 };
        Self {
            inner: Arc::new(Inner {
                db,
                rules,
                clock,
                max_in_flight,
                queue: Mutex::new(Queue::default()),
                metrics,
            }),
        }
    }

    /// Records `input` and rescores its user, like [`ingest::record_payment`].
    pub async fn record(&self, input: NewPayment) -> AppResult<PaymentRecorded> {
        let (reply, answer) = oneshot::channel();
        let start_a_batch = {
            let mut queue = self
                .inner
                .queue
                .lock()
                .map_err(|_| AppError::bug("the payment queue's lock was poisoned"))?;
            queue.waiting.push_back(Job { input, reply });
            self.inner.metrics.queue_length.set(queue_length(&queue));
            let start = queue.in_flight < self.inner.max_in_flight;
            if start {
                queue.in_flight += 1;
            }
            start
        };
        if start_a_batch {
            tokio::spawn(write_batches(self.inner.clone()));
        }
        answer.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!(
                "the payment writer stopped before answering"
            ))
        })?
    }
}

/// An in-flight slot, given back under the queue's lock when the queue is
/// found empty. Should a batch panic, the slot is given back on unwinding
/// and the payments still waiting get a task of their own.
struct Slot {
    inner: Arc<Inner>,
    released: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(mut queue) = self.inner.queue.lock() else {
            return;
        };
        if queue.waiting.is_empty() {
            queue.in_flight -= 1;
        } else {
            tokio::spawn(write_batches(self.inner.clone()));
        }
    }
}

/// Writes the waiting payments, a batch at a time, until none wait.
async fn write_batches(inner: Arc<Inner>) {
    let mut slot = Slot {
        inner,
        released: false,
    };
    loop {
        let jobs: Vec<Job> = {
            let Ok(mut queue) = slot.inner.queue.lock() else {
                // Poisoned: the waiting payments' senders drop with the
                // queue, and each client is answered INTERNAL.
                tracing::error!("the payment queue's lock was poisoned");
                slot.released = true;
                return;
            };
            if queue.waiting.is_empty() {
                // Under the lock: a payment queued after this sees the slot
                // free and starts a batch of its own.
                queue.in_flight -= 1;
                slot.released = true;
                return;
            }
            let count = queue.waiting.len().min(MAX_BATCH);
            let jobs = queue.waiting.drain(..count).collect();
            slot.inner.metrics.queue_length.set(queue_length(&queue));
            slot.inner.metrics.batch_sizes.observe(count as f64);
            jobs
        };
        let (inputs, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|job| (job.input, job.reply)).unzip();
        let inner = &slot.inner;
        let results =
            ingest::record_payments(&inner.db, &inner.rules, inputs, inner.clock.now()).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The client may have gone: its payment is recorded all the same.
            let _ = reply.send(result);
        }
    }
}

/// The queue's length as a gauge value.
fn queue_length(queue: &Queue) -> i64 {
    i64::try_from(queue.waiting.len()).unwrap_or(i64::MAX)
}
