//! What the model needs of a history (SPEC §3.1), whatever its length: the
//! counts, the 5 newest payments and the 4 oldest.
//!
//! Every term reads only these: the recent failure rate the 3 newest, the
//! amount and its change the newest and the 3rd to 5th newest, the failure
//! patterns the 4 oldest and the 2 newest, the overall rate the counts. A
//! [`Summary`] takes a new payment in constant time ([`Summary::add`]), so a
//! write rescores a user with 10,000 payments as cheaply as one with 10,
//! and a payment dated before the others (backdated) lands where it belongs.

use super::facts::{Outcome, PaymentFact};
use super::observation::newest_first_order;

/// A history's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every payment.
    pub total: u32,
    /// Failed ones.
    pub failed: u32,
    /// Successful ones.
    pub succeeded: u32,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        // Counts saturate instead of wrapping; no user has 4 billion payments.
        self.total = self.total.saturating_add(1);
        match outcome {
            Outcome::Failed => self.failed = self.failed.saturating_add(1),
            Outcome::Success => self.succeeded = self.succeeded.saturating_add(1),
            Outcome::Neutral => {}
        }
    }
}

/// A history reduced to what the model reads of it. Equal summaries give
/// equal assessments; [`Summary::of`] a history equals the [`Summary::add`]
/// of its payments one by one, in any order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    counts: Counts,
    /// The newest payments, newest first (in the model's order, ties
    /// included), at most [`Summary::NEWEST`].
    newest: Vec<PaymentFact>,
    /// The oldest payments, oldest first, at most [`Summary::OLDEST`].
    oldest: Vec<PaymentFact>,
}

impl Summary {
    /// How many of the newest payments the model reads.
    pub const NEWEST: usize = 5;
    /// How many of the oldest payments the model reads.
    pub const OLDEST: usize = 4;

    /// The summary of `payments` (in any order).
    #[must_use]
    pub fn of(payments: &[PaymentFact]) -> Self {
        let mut newest_first: Vec<&PaymentFact> = payments.iter().collect();
        newest_first.sort_by(|a, b| newest_first_order(a, b));
        let mut counts = Counts::default();
        for payment in &newest_first {
            counts.add(payment.outcome);
        }
        Self {
            counts,
            newest: newest_first
                .iter()
                .take(Self::NEWEST)
                .map(|p| **p)
                .collect(),
            oldest: newest_first
                .iter()
                .rev()
                .take(Self::OLDEST)
                .map(|p| **p)
                .collect(),
        }
    }

    /// A stored summary: the history's `counts`, its newest payments (at
    /// most [`Summary::NEWEST`]) and its oldest (at most
    /// [`Summary::OLDEST`]), each in any order. `None` when they cannot be
    /// one history's: a list longer than its bound or shorter than the
    /// counts require, or more failed and succeeded payments than payments.
    #[must_use]
    pub fn from_parts(
        counts: Counts,
        mut newest: Vec<PaymentFact>,
        mut oldest: Vec<PaymentFact>,
    ) -> Option<Self> {
        let total = usize::try_from(counts.total).unwrap_or(usize::MAX);
        let consistent = newest.len() == total.min(Self::NEWEST)
            && oldest.len() == total.min(Self::OLDEST)
            && u64::from(counts.failed) + u64::from(counts.succeeded) <= u64::from(counts.total);
        if !consistent {
            return None;
        }
        newest.sort_by(newest_first_order);
        oldest.sort_by(|a, b| newest_first_order(b, a));
        Some(Self {
            counts,
            newest,
            oldest,
        })
    }

    /// Takes in one more payment, dated anywhere in the history.
    pub fn add(&mut self, payment: PaymentFact) {
        self.counts.add(payment.outcome);
        let at = self
            .newest
            .iter()
            .position(|kept| newest_first_order(&payment, kept).is_lt())
            .unwrap_or(self.newest.len());
        if at < Self::NEWEST {
            self.newest.insert(at, payment);
            self.newest.truncate(Self::NEWEST);
        }
        let at = self
            .oldest
            .iter()
            .position(|kept| newest_first_order(&payment, kept).is_gt())
            .unwrap_or(self.oldest.len());
        if at < Self::OLDEST {
            self.oldest.insert(at, payment);
            self.oldest.truncate(Self::OLDEST);
        }
    }

    /// The history's counts.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The newest payments, newest first.
    #[must_use]
    pub fn newest(&self) -> &[PaymentFact] {
        &self.newest
    }

    /// The oldest payments, oldest first.
    #[must_use]
    pub fn oldest(&self) -> &[PaymentFact] {
        &self.oldest
    }
}
