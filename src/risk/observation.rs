//! What the model observes in one user's history (SPEC §3.1): the payments ordered
//! newest first, the counts, the newest amount and how it changed, the failure
//! pattern and the account's age. The score ([`super::engine`]) and the legacy
//! words ([`super::legacy`]) are both read from one [`History`], so they cannot
//! disagree, and neither depends on the other.

use std::cmp::Ordering;

use chrono::{DateTime, TimeDelta, Utc};

use super::assessment::RiskPattern;
use super::facts::{Outcome, PaymentFact, UserFacts};
use super::summary::Summary;

/// SPEC §3.1: the account-age brackets, in whole days: under 30 → 0.8, under 90 →
/// 0.5, under 180 → 0.3, otherwise 0.1. Crossing one changes the score by itself.
pub(super) const AGE_BRACKETS: [(i64, f64); 3] = [(30, 0.8), (90, 0.5), (180, 0.3)];
const AGE_FACTOR_OLD: f64 = 0.1;

/// SPEC §3.1 (and the "New account" message): age under this many days.
const NEW_ACCOUNT_DAYS: i64 = 30;

/// SPEC §3.1: how many of the newest payments make up `recent`.
const RECENT_COUNT: usize = 3;

/// The legacy message and pattern: "high failure rate" needs a recent rate above this.
const RECENT_FAILURE_RATE_ALERT: f64 = 0.4;

/// Newest first; ties broken by content (see [`assess`]) so the order is total up to
/// payments that are identical in every field.
pub(super) fn newest_first_order(a: &PaymentFact, b: &PaymentFact) -> Ordering {
    fn tie_rank(outcome: Outcome) -> u8 {
        match outcome {
            Outcome::Failed => 0,
            Outcome::Neutral => 1,
            Outcome::Success => 2,
        }
    }
    b.paid_at
        .cmp(&a.paid_at)
        .then_with(|| tie_rank(a.outcome).cmp(&tie_rank(b.outcome)))
        .then_with(|| a.amount.total_cmp(&b.amount))
}

/// The account's age at an instant, as the legacy measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct AccountAge {
    /// Whole days, rounded down (negative for an account created after the instant),
    /// like Python's `timedelta.days`.
    pub(super) days: i64,
    /// SPEC §3.1 `age_factor`.
    pub(super) factor: f64,
}

impl AccountAge {
    fn at(created_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let age = now.signed_duration_since(created_at);
        // `num_days` truncates toward zero; the legacy floors.
        let truncated = age.num_days();
        let days = if age < TimeDelta::days(truncated) {
            truncated - 1
        } else {
            truncated
        };
        let factor = AGE_BRACKETS
            .iter()
            .find(|(limit, _)| days < *limit)
            .map_or(AGE_FACTOR_OLD, |(_, factor)| *factor);
        AccountAge { days, factor }
    }
}

/// How the newest amount compares with the older ones (SPEC §3.1 change bonus).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum AmountChange {
    /// `current < 0.7 × old`: bonus +0.9.
    Downgrade {
        /// The average of the 3rd to 5th newest amounts.
        old_average: f64,
    },
    /// Not a downgrade and `current > 1.5 × old`: bonus −0.1.
    Upgrade {
        /// The average of the 3rd to 5th newest amounts.
        old_average: f64,
    },
}

/// The failure patterns of SPEC §3.1 `pattern_bonus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FailurePattern {
    /// The oldest payment succeeded and at least 2 of the next 3 failed: 0.8.
    PayOnceThenDecline,
    /// 4+ payments, at least one of the 2 oldest succeeded and at least one of the 2
    /// newest failed: 0.5.
    EarlySuccessRecentFailures,
}

impl FailurePattern {
    pub(super) fn bonus(pattern: Option<FailurePattern>) -> f64 {
        match pattern {
            Some(FailurePattern::PayOnceThenDecline) => 0.8,
            Some(FailurePattern::EarlySuccessRecentFailures) => 0.5,
            None => 0.0,
        }
    }
}

/// Everything the model observes in one ordered history; the score, the patterns
/// and the legacy messages are all read from here, so they cannot disagree.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct History {
    pub(super) total: u32,
    pub(super) failed: u32,
    pub(super) succeeded: u32,
    /// Size of `recent` (the newest 3 or fewer) and failures among them.
    pub(super) recent_count: u32,
    pub(super) recent_failed: u32,
    /// The newest payment's amount (`current`), if any payment.
    pub(super) current_amount: Option<f64>,
    /// SPEC §3.1 base of `amount_factor` (from `current`).
    pub(super) amount_base: f64,
    pub(super) amount_change: Option<AmountChange>,
    pub(super) failure_pattern: Option<FailurePattern>,
    /// The two newest payments both failed.
    pub(super) two_newest_failed: bool,
    pub(super) age: AccountAge,
}

impl History {
    pub(super) fn observe(user: &UserFacts, summary: &Summary, now: DateTime<Utc>) -> Self {
        let is_failed = |payment: &PaymentFact| payment.outcome == Outcome::Failed;
        let newest_first = summary.newest();
        let recent = &newest_first[..newest_first.len().min(RECENT_COUNT)];
        let current_amount = newest_first.first().map(|payment| payment.amount);
        let counts = summary.counts();

        Self {
            total: counts.total,
            failed: counts.failed,
            succeeded: counts.succeeded,
            // At most 3: the casts cannot truncate.
            recent_count: recent.len() as u32,
            recent_failed: recent.iter().filter(|payment| is_failed(payment)).count() as u32,
            current_amount,
            amount_base: current_amount.map_or(0.0, amount_base),
            amount_change: amount_change(newest_first),
            failure_pattern: failure_pattern(summary),
            two_newest_failed: matches!(
                newest_first,
                [first, second, ..] if is_failed(first) && is_failed(second)
            ),
            age: AccountAge::at(user.created_at, now),
        }
    }

    /// SPEC §3.1 `recent_failure_rate`: failed among the 3 newest / their count.
    pub(super) fn recent_failure_rate(&self) -> f64 {
        if self.recent_count == 0 {
            0.0
        } else {
            f64::from(self.recent_failed) / f64::from(self.recent_count)
        }
    }

    /// SPEC §3.1 `overall_failure_rate`: failed / all payments (0 without any).
    pub(super) fn overall_failure_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.failed) / f64::from(self.total)
        }
    }

    /// The legacy "High failure rate on recent payments" condition: 2+ payments and a
    /// recent rate strictly above 0.4.
    pub(super) fn has_recent_failures(&self) -> bool {
        self.total >= 2 && self.recent_failure_rate() > RECENT_FAILURE_RATE_ALERT
    }

    /// The legacy low-cost condition: the newest amount is at most 3.
    pub(super) fn is_low_cost(&self) -> bool {
        self.current_amount.is_some_and(|amount| amount <= 3.0)
    }

    /// The legacy "New account" condition: payments, and an age under 30 whole days.
    pub(super) fn is_new_account(&self) -> bool {
        self.total > 0 && self.age.days < NEW_ACCOUNT_DAYS
    }

    /// SPEC §3.2 named patterns, each under the condition of its legacy message.
    pub(super) fn patterns(&self) -> Vec<RiskPattern> {
        let detected = [
            (RiskPattern::RecentFailures, self.has_recent_failures()),
            (
                RiskPattern::PayOnceThenDecline,
                self.failure_pattern == Some(FailurePattern::PayOnceThenDecline),
            ),
            (
                RiskPattern::EarlySuccessRecentFailures,
                self.failure_pattern == Some(FailurePattern::EarlySuccessRecentFailures),
            ),
            (
                RiskPattern::Downgrade,
                matches!(self.amount_change, Some(AmountChange::Downgrade { .. })),
            ),
            (
                RiskPattern::Upgrade,
                matches!(self.amount_change, Some(AmountChange::Upgrade { .. })),
            ),
            (RiskPattern::LowCostPlan, self.is_low_cost()),
            (RiskPattern::NewAccount, self.is_new_account()),
            (RiskPattern::ConsecutiveFailures, self.two_newest_failed),
        ];
        detected
            .into_iter()
            .filter_map(|(pattern, present)| present.then_some(pattern))
            .collect()
    }

    /// SPEC §3.4: the first instant after `now` at which time alone changes the
    /// assessment. Only the account's age depends on `now`: with 2+ payments the
    /// age factor changes at 30, 90 and 180 days; with one payment only the "New
    /// account" message does, at 30 days; without payments nothing does.
    pub(super) fn next_change(
        &self,
        user: &UserFacts,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let boundaries: &[(i64, f64)] = match self.total {
            0 => &[],
            1 => &AGE_BRACKETS[..1],
            _ => &AGE_BRACKETS,
        };
        boundaries
            .iter()
            .filter_map(|(days, _)| user.created_at.checked_add_signed(TimeDelta::days(*days)))
            .find(|instant| *instant > now)
    }
}

/// SPEC §3.1 base of `amount_factor`, from the newest amount.
fn amount_base(current: f64) -> f64 {
    if current <= 1.20 {
        1.0
    } else if current <= 3.0 {
        0.7
    } else if current <= 6.0 {
        0.4
    } else if current <= 10.0 {
        0.2
    } else {
        0.1
    }
}

/// SPEC §3.1 change bonus, with 3+ payments: `old` = the average of the 3rd, 4th and
/// 5th newest amounts (those that exist), summed newest first like the legacy.
fn amount_change(newest_first: &[PaymentFact]) -> Option<AmountChange> {
    let (current, older) = match newest_first {
        [current, _, older @ ..] if !older.is_empty() => (current.amount, older),
        _ => return None,
    };
    let older = &older[..older.len().min(3)];
    let sum = older.iter().fold(0.0, |sum, payment| sum + payment.amount);
    let old_average = sum / older.len() as f64;
    if current < 0.7 * old_average {
        Some(AmountChange::Downgrade { old_average })
    } else if current > 1.5 * old_average {
        Some(AmountChange::Upgrade { old_average })
    } else {
        None
    }
}

/// SPEC §3.1 `pattern_bonus`, with 3+ payments, looking oldest first: it
/// reads the 4 oldest payments and the 2 newest.
fn failure_pattern(summary: &Summary) -> Option<FailurePattern> {
    let total = summary.counts().total;
    if total < 3 {
        return None;
    }
    let failures = |payments: &[PaymentFact]| {
        payments
            .iter()
            .filter(|p| p.outcome == Outcome::Failed)
            .count()
    };
    let oldest_first = summary.oldest();
    let newest_first = summary.newest();
    let oldest_succeeded = oldest_first
        .first()
        .is_some_and(|p| p.outcome == Outcome::Success);
    // The oldest, then the next 3 (the summary keeps exactly 4).
    if oldest_succeeded && failures(oldest_first.get(1..).unwrap_or_default()) >= 2 {
        return Some(FailurePattern::PayOnceThenDecline);
    }
    // "At least half of the 2 oldest succeeded and at least half of the 2 newest
    // failed": at least one of each.
    let two_oldest = &oldest_first[..oldest_first.len().min(2)];
    let two_newest = &newest_first[..newest_first.len().min(2)];
    if total >= 4
        && two_oldest.iter().any(|p| p.outcome == Outcome::Success)
        && failures(two_newest) >= 1
    {
        return Some(FailurePattern::EarlySuccessRecentFailures);
    }
    None
}
