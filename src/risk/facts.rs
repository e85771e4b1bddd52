//! What the model reads (SPEC §3.1): the facts of one user and of their payments,
//! already taken out of storage and classified by the caller. Nothing here knows
//! about tables, statuses spelled as strings, or currencies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a payment counts for the model (SPEC §2, §3.1).
///
/// The caller classifies its stored status: `failed` and `declined` are
/// [`Outcome::Failed`], `success` is [`Outcome::Success`], and every other status
/// (pending, refunded, …) is [`Outcome::Neutral`]: it counts in the totals and
/// takes a place among the newest payments, but is neither a success nor a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The payment went through (status `success`).
    Success,
    /// The payment failed or was declined.
    Failed,
    /// Any other status (pending, refunded, …): neither a success nor a failure.
    Neutral,
}

/// One payment as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaymentFact {
    /// When the payment was made (the legacy `payment_date`).
    pub paid_at: DateTime<Utc>,
    /// The amount in currency units (12.99 for 12.99 €), finite. The service stores
    /// cents and converts; the thresholds of SPEC §3.1 are in these units.
    pub amount: f64,
    /// How the payment counts.
    pub outcome: Outcome,
}

/// The facts about the user that the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFacts {
    /// When the account was created: the account's age is measured from here.
    pub created_at: DateTime<Utc>,
}
