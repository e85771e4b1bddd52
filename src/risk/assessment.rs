//! What the model answers (SPEC §3.1, §3.2): the score and level, the structured
//! factors and named patterns for GraphQL, the legacy messages and recommendations
//! for the REST routes, and the instant at which the answer changes by itself (§3.4).
//! Plain data: built by `engine`, never by callers.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::WeightName;

/// The risk level of a score (SPEC §3.1). Ordered from `Low` to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Below the medium threshold (0.2).
    Low,
    /// From 0.2 up to the high threshold.
    Medium,
    /// From the high threshold up to the critical one.
    High,
    /// At or above the critical threshold.
    Critical,
}

impl RiskLevel {
    /// The four levels, lowest first.
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
    ];

    /// The legacy spelling: `"low"`, `"medium"`, `"high"` or `"critical"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }

    /// The level spelled `name` as by [`RiskLevel::as_str`] (exact match), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        RiskLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == name)
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named risk pattern (SPEC §3.2). Each one is detected under exactly the
/// condition that makes the legacy write the matching message (see `legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskPattern {
    /// More than 40% of the (up to) 3 newest payments failed, with 2 or more payments.
    RecentFailures,
    /// The oldest payment succeeded and at least 2 of the next 3 failed (bonus 0.8).
    PayOnceThenDecline,
    /// Not the above; 4+ payments, one of the 2 oldest succeeded and one of the 2
    /// newest failed (bonus 0.5).
    EarlySuccessRecentFailures,
    /// The newest amount is below 70% of the average of the 3rd to 5th newest.
    Downgrade,
    /// Not a downgrade; the newest amount is above 150% of that average.
    Upgrade,
    /// The newest amount is at most 3 (currency units).
    LowCostPlan,
    /// The account is less than 30 whole days old (and has payments).
    NewAccount,
    /// The two newest payments both failed.
    ConsecutiveFailures,
}

impl RiskPattern {
    /// Every pattern, in the order the legacy messages appear (also the bit order).
    pub const fn all() -> &'static [RiskPattern] {
        &[
            RiskPattern::RecentFailures,
            RiskPattern::PayOnceThenDecline,
            RiskPattern::EarlySuccessRecentFailures,
            RiskPattern::Downgrade,
            RiskPattern::Upgrade,
            RiskPattern::LowCostPlan,
            RiskPattern::NewAccount,
            RiskPattern::ConsecutiveFailures,
        ]
    }

    /// The stable name, SCREAMING_SNAKE_CASE (`"RECENT_FAILURES"`, …), as in GraphQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskPattern::RecentFailures => "RECENT_FAILURES",
            RiskPattern::PayOnceThenDecline => "PAY_ONCE_THEN_DECLINE",
            RiskPattern::EarlySuccessRecentFailures => "EARLY_SUCCESS_RECENT_FAILURES",
            RiskPattern::Downgrade => "DOWNGRADE",
            RiskPattern::Upgrade => "UPGRADE",
            RiskPattern::LowCostPlan => "LOW_COST_PLAN",
            RiskPattern::NewAccount => "NEW_ACCOUNT",
            RiskPattern::ConsecutiveFailures => "CONSECUTIVE_FAILURES",
        }
    }

    /// A short description for people (SPEC §3.2).
    pub const fn description(self) -> &'static str {
        match self {
            RiskPattern::RecentFailures => "more than 40% of the last 3 payments failed",
            RiskPattern::PayOnceThenDecline => "pays once, then declines",
            RiskPattern::EarlySuccessRecentFailures => "early success, then recent failures",
            RiskPattern::Downgrade => "moved to a cheaper plan",
            RiskPattern::Upgrade => "moved to a more expensive plan",
            RiskPattern::LowCostPlan => "low-cost plan",
            RiskPattern::NewAccount => "account less than 30 days old",
            RiskPattern::ConsecutiveFailures => "the two newest payments failed",
        }
    }

    /// This pattern's bit in a mask: `1 << position in all()`. The positions are part
    /// of the storage format: append new patterns, never reorder.
    pub const fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The patterns as one integer (for a single integer column).
    pub fn to_mask(patterns: &[RiskPattern]) -> i32 {
        // All bits are below 1 << 8: the sign bit is never set.
        patterns
            .iter()
            .fold(0u32, |mask, pattern| mask | pattern.bit())
            .cast_signed()
    }

    /// The patterns of a mask made by [`RiskPattern::to_mask`], in `all()` order.
    /// Bits that name no pattern are ignored.
    pub fn from_mask(mask: i32) -> Vec<RiskPattern> {
        RiskPattern::all()
            .iter()
            .copied()
            .filter(|pattern| mask & pattern.bit().cast_signed() != 0)
            .collect()
    }
}

impl fmt::Display for RiskPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the five inputs of the score (SPEC §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    /// Failure rate of the (up to) 3 newest payments (legacy `base_risk`).
    RecentFailures,
    /// Amount and downgrade term (legacy `amount_factor`).
    Amount,
    /// Failure rate over all payments (legacy `overall_failure_rate`).
    OverallFailures,
    /// Failure-pattern bonus (legacy `pattern_bonus`).
    Pattern,
    /// Account-age term (legacy `age_factor`).
    AccountAge,
}

impl FactorName {
    /// The five factors, in the order of [`Assessment::factors`].
    pub const ALL: [FactorName; 5] = [
        FactorName::RecentFailures,
        FactorName::Amount,
        FactorName::OverallFailures,
        FactorName::Pattern,
        FactorName::AccountAge,
    ];

    /// The stable name: `"recent_failures"`, `"amount"`, `"overall_failures"`,
    /// `"pattern"` or `"account_age"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FactorName::RecentFailures => "recent_failures",
            FactorName::Amount => "amount",
            FactorName::OverallFailures => "overall_failures",
            FactorName::Pattern => "pattern",
            FactorName::AccountAge => "account_age",
        }
    }

    /// The weight that applies to this factor.
    pub const fn weight_name(self) -> WeightName {
        match self {
            FactorName::RecentFailures => WeightName::RecentFailures,
            FactorName::Amount => WeightName::Amount,
            FactorName::OverallFailures => WeightName::OverallFailures,
            FactorName::Pattern => WeightName::Pattern,
            FactorName::AccountAge => WeightName::AccountAge,
        }
    }
}

impl fmt::Display for FactorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input of the score with its share (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// Which input.
    pub name: FactorName,
    /// The raw term before weighting, in [0, 1].
    pub value: f64,
    /// The configured weight.
    pub weight: f64,
    /// `weight * value`.
    pub contribution: f64,
    /// A short sentence for people, e.g. "2 of the last 3 payments failed".
    pub detail: String,
}

/// The full answer of the model for one user at one instant (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// The score in [0, 1]; 0 with fewer than 2 payments.
    pub score: f64,
    /// The level of `score` under the configured thresholds.
    pub level: RiskLevel,
    /// All payments counted.
    pub total_payments: u32,
    /// Payments that failed or were declined.
    pub failed_payments: u32,
    /// Payments that succeeded (status success only; see
    /// [`Assessment::legacy_successful_payments`] for the legacy count).
    pub succeeded_payments: u32,
    /// `failed_payments / total_payments`, 0 without payments.
    pub failure_rate: f64,
    /// The five inputs in [`FactorName::ALL`] order; empty with fewer than 2 payments.
    /// The score is summed in SPEC §3.1 order (age before pattern), so adding these
    /// contributions in this order may differ from `score` in the last bit.
    pub factors: Vec<Factor>,
    /// The named patterns detected, in [`RiskPattern::all`] order.
    pub patterns: Vec<RiskPattern>,
    /// The legacy messages (`risk_factors`), word for word and in the legacy order.
    pub messages: Vec<String>,
    /// The fixed recommendations for `level`.
    pub recommendations: &'static [&'static str],
    /// The first instant after the assessed one at which the assessment changes
    /// through time alone (SPEC §3.4); `None` if it never does.
    pub next_change: Option<DateTime<Utc>>,
}

impl Assessment {
    /// The legacy `successful_payments`: all payments minus failed ones, so pending
    /// and refunded payments count as successful (SPEC §5 known quirk).
    pub fn legacy_successful_payments(&self) -> u32 {
        self.total_payments - self.failed_payments
    }

    /// The factor called `name`, if the score has factors.
    pub fn factor(&self, name: FactorName) -> Option<&Factor> {
        self.factors.iter().find(|factor| factor.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pattern_has_its_own_bit_and_masks_round_trip() {
        let mut seen = 0u32;
        for pattern in RiskPattern::all() {
            assert_eq!(seen & pattern.bit(), 0, "{pattern} shares a bit");
            seen |= pattern.bit();
        }
        assert_eq!(seen, 0xFF);
        let some = [RiskPattern::LowCostPlan, RiskPattern::RecentFailures];
        assert_eq!(RiskPattern::to_mask(&some), 0b10_0001);
        assert_eq!(
            RiskPattern::from_mask(0b10_0001),
            [RiskPattern::RecentFailures, RiskPattern::LowCostPlan]
        );
        assert_eq!(RiskPattern::from_mask(0), []);
        assert_eq!(RiskPattern::from_mask(-1), RiskPattern::all());
    }

    #[test]
    fn names_serialize_as_their_stable_strings() {
        for level in RiskLevel::ALL {
            let json = serde_json::to_string(&level).expect("serializes");
            assert_eq!(json, format!("\"{}\"", level.as_str()));
            assert_eq!(RiskLevel::from_name(level.as_str()), Some(level));
        }
        for pattern in RiskPattern::all() {
            let json = serde_json::to_string(pattern).expect("serializes");
            assert_eq!(json, format!("\"{}\"", pattern.as_str()));
        }
        for factor in FactorName::ALL {
            let json = serde_json::to_string(&factor).expect("serializes");
            assert_eq!(json, format!("\"{}\"", factor.as_str()));
        }
        assert_eq!(RiskLevel::from_name("High"), None);
    }

    #[test]
    fn levels_are_ordered_from_low_to_critical() {
        assert!(RiskLevel::Low < RiskLevel::Medium);
        assert!(RiskLevel::Medium < RiskLevel::High);
        assert!(RiskLevel::High < RiskLevel::Critical);
    }
}
