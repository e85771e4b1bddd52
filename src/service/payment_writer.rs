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
//! On PostgreSQL the next batch starts as soon as the one being written is
//! committing: while the database flushes one batch's commit, it already
//! writes the next, and the payments that arrived meanwhile make batches of
//! about the same size. A second batch is written beside the first only
//! when [`BESIDE`] payments wait: starting one whenever a slot is free
//! would split a load into one large batch and one of a payment or two,
//! each paying a transaction's fixed cost of round trips, statement
//! triggers and a commit. Should the batch being written stall, on a
//! user's lock held elsewhere, another starts beside it after [`STALL`], so
//! that one busy user cannot stop every other user's payments.
//!
//! The batches run in spawned tasks, so a client that hangs up cannot cancel
//! a transaction that carries other clients' payments.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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

/// Payments waiting that start a second batch beside one being written.
pub const BESIDE: usize = 16;

/// How long a queued payment waits for the batch being written to reach
/// its commit before another batch starts beside it.
pub const STALL: Duration = Duration::from_millis(50);

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
    /// Batches in flight at once: three on PostgreSQL (two written while a
    /// third commits), one on SQLite (a single writer anyway, which would
    /// otherwise wait on its busy timeout).
    max_in_flight: usize,
    queue: Mutex<Queue>,
    metrics: WriterMetrics,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    /// Batch tasks running.
    in_flight: usize,
    /// Of those, the ones writing a batch that has not reached its commit.
    writing: usize,
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
        let max_in_flight = if db::is_postgres(&db) { 3 } else { 1 };
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
        let (reply, mut answer) = oneshot::channel();
        let started = {
            let mut queue = self.inner.lock()?;
            queue.waiting.push_back(Job { input, reply });
            self.inner.metrics.queue_length.set(queue_length(&queue));
            self.inner.start_if_due(&mut queue)
        };
        if !started {
            // The batch being written starts the next as it commits; should
            // it stall first, a second one starts beside it.
            tokio::select! {
                result = &mut answer => return answered(result),
                () = tokio::time::sleep(STALL) => {
                    let mut queue = self.inner.lock()?;
                    if !queue.waiting.is_empty() && queue.in_flight < self.inner.max_in_flight {
                        self.inner.start(&mut queue);
                    }
                }
            }
        }
        answered(answer.await)
    }
}

/// The writer's answer to a payment, or INTERNAL if it dropped the payment.
fn answered(
    result: Result<AppResult<PaymentRecorded>, oneshot::error::RecvError>,
) -> AppResult<PaymentRecorded> {
    result.map_err(|_| {
        AppError::Internal(anyhow::anyhow!(
            "the payment writer stopped before answering"
        ))
    })?
}

impl Inner {
    fn lock(&self) -> AppResult<MutexGuard<'_, Queue>> {
        self.queue
            .lock()
            .map_err(|_| AppError::bug("the payment queue's lock was poisoned"))
    }

    /// Starts a batch if payments wait, a slot is free and another batch
    /// may be written (see [`Queue::may_write`]); tells whether it did.
    fn start_if_due(self: &Arc<Self>, queue: &mut Queue) -> bool {
        let due =
            !queue.waiting.is_empty() && queue.in_flight < self.max_in_flight && queue.may_write();
        if due {
            self.start(queue);
        }
        due
    }

    /// Starts a batch task, counted as writing.
    fn start(self: &Arc<Self>, queue: &mut Queue) {
        queue.in_flight += 1;
        queue.writing += 1;
        tokio::spawn(write_batches(self.clone()));
    }
}

impl Queue {
    /// Whether another batch may be written now: none is, or one is and
    /// [`BESIDE`] payments wait.
    fn may_write(&self) -> bool {
        self.writing == 0 || (self.writing == 1 && self.waiting.len() >= BESIDE)
    }
}

/// An in-flight slot, given back under the queue's lock when the queue is
/// found empty. Should a batch panic, the slot is given back on unwinding
/// and the payments still waiting get a task of their own.
struct Slot {
    inner: Arc<Inner>,
    /// This slot's batch is being written (counted in `Queue::writing`).
    writing: AtomicBool,
    released: bool,
}

impl Slot {
    /// This slot's batch no longer counts as written: it is committing, or
    /// done.
    fn stop_writing(&self, queue: &mut Queue) {
        if self.writing.swap(false, Ordering::Relaxed) {
            queue.writing -= 1;
        }
    }

    /// Gives the slot back.
    fn release(&mut self, queue: &mut Queue) {
        self.stop_writing(queue);
        queue.in_flight -= 1;
        self.released = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(mut queue) = self.inner.queue.lock() else {
            return;
        };
        self.stop_writing(&mut queue);
        queue.in_flight -= 1;
        self.inner.start_if_due(&mut queue);
    }
}

/// Writes the waiting payments, a batch at a time, until none wait or
/// another batch is being written.
async fn write_batches(inner: Arc<Inner>) {
    let mut slot = Slot {
        inner,
        writing: AtomicBool::new(true),
        released: false,
    };
    let inner = slot.inner.clone();
    loop {
        let jobs: Vec<Job> = {
            let Ok(mut queue) = inner.queue.lock() else {
                // Poisoned: the waiting payments' senders drop with the
                // queue, and each client is answered INTERNAL.
                tracing::error!("the payment queue's lock was poisoned");
                slot.released = true;
                return;
            };
            // Under the lock: a payment queued after this sees the slot
            // free and starts a batch of its own. A batch being written
            // elsewhere starts the next as it commits.
            let written_elsewhere = !slot.writing.load(Ordering::Relaxed) && !queue.may_write();
            if queue.waiting.is_empty() || written_elsewhere {
                slot.release(&mut queue);
                return;
            }
            if !slot.writing.swap(true, Ordering::Relaxed) {
                queue.writing += 1;
            }
            let count = queue.waiting.len().min(MAX_BATCH);
            let jobs = queue.waiting.drain(..count).collect();
            inner.metrics.queue_length.set(queue_length(&queue));
            inner.metrics.batch_sizes.observe(count as f64);
            jobs
        };
        let (inputs, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|job| (job.input, job.reply)).unzip();
        let committing = || {
            if let Ok(mut queue) = inner.queue.lock() {
                slot.stop_writing(&mut queue);
                inner.start_if_due(&mut queue);
            }
        };
        let results = ingest::record_payments_telling(
            &inner.db,
            &inner.rules,
            inputs,
            inner.clock.now(),
            &committing,
        )
        .await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The client may have gone: its payment is recorded all the same.
            let _ = reply.send(result);
        }
        // A batch that failed before its commit stops writing here.
        if let Ok(mut queue) = inner.queue.lock() {
            slot.stop_writing(&mut queue);
        }
    }
}

/// The queue's length as a gauge value.
fn queue_length(queue: &Queue) -> i64 {
    i64::try_from(queue.waiting.len()).unwrap_or(i64::MAX)
}
