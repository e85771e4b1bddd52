//! The computation (SPEC §3.1): from a user's facts, payments, configuration and
//! an instant, the [`Assessment`]. Pure: the instant is a parameter, nothing is
//! read or written.

use chrono::{DateTime, Utc};

use super::assessment::{Assessment, Factor, FactorName, RiskLevel, RiskPattern};
use super::config::{MEDIUM_RISK_THRESHOLD, ScoringConfig, Thresholds};
use super::facts::{PaymentFact, UserFacts};
use super::legacy;
use super::observation::{AmountChange, FailurePattern, History};
use super::summary::Summary;

/// Scores `payments` (in any order) for `user` at the instant `now` (SPEC §3.1).
///
/// Every payment given is counted, whatever its date, as the legacy counted every
/// stored payment; use [`assess_as_of`] to leave out payments made after an instant.
///
/// Payments are ordered newest first. Payments made at the same instant are ordered
/// by their content, so that the result never depends on the input order: a failed
/// one counts as newer than a neutral one, which counts as newer than a success, and
/// then the smaller amount counts as newer (the conservative reading: a tie never
/// hides a failure or a downgrade). The legacy left such ties to the database
/// (`ORDER BY payment_date DESC`); the golden histories contain none.
#[must_use]
pub fn assess(
    user: &UserFacts,
    payments: &[PaymentFact],
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Assessment {
    assess_summary(user, &Summary::of(payments), config, now)
}

/// [`assess`] of the history that `summary` sums up: equal to [`assess`] of
/// every payment, in time independent of how many there are.
#[must_use]
pub fn assess_summary(
    user: &UserFacts,
    summary: &Summary,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Assessment {
    let history = History::observe(user, summary, now);
    let terms = Terms::of(&history);
    let brief = brief_of(user, &history, terms.as_ref(), config, now);
    // SPEC §3.1: no payments, or fewer than 2 → score 0 (and no factors).
    let factors = terms.map_or_else(Vec::new, |terms| terms.factors(config, &history));

    Assessment {
        score: brief.score,
        level: brief.level,
        total_payments: brief.total_payments,
        failed_payments: brief.failed_payments,
        succeeded_payments: brief.succeeded_payments,
        failure_rate: brief.failure_rate,
        factors,
        patterns: brief.patterns,
        messages: legacy::messages(&history),
        recommendations: legacy::recommendations(brief.level),
        next_change: brief.next_change,
    }
}

/// What a stored score holds of [`assess`]: the same figures, computed the
/// same way, without the factors' details, the legacy messages and the
/// recommendations (text that a bulk rescore would build and throw away for
/// every user whose stored row does not change).
#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    /// As [`Assessment::score`].
    pub score: f64,
    /// As [`Assessment::level`].
    pub level: RiskLevel,
    /// As [`Assessment::total_payments`].
    pub total_payments: u32,
    /// As [`Assessment::failed_payments`].
    pub failed_payments: u32,
    /// As [`Assessment::succeeded_payments`].
    pub succeeded_payments: u32,
    /// As [`Assessment::failure_rate`].
    pub failure_rate: f64,
    /// As [`Assessment::patterns`].
    pub patterns: Vec<RiskPattern>,
    /// As [`Assessment::next_change`].
    pub next_change: Option<DateTime<Utc>>,
}

impl From<&Assessment> for Brief {
    fn from(assessment: &Assessment) -> Self {
        Self {
            score: assessment.score,
            level: assessment.level,
            total_payments: assessment.total_payments,
            failed_payments: assessment.failed_payments,
            succeeded_payments: assessment.succeeded_payments,
            failure_rate: assessment.failure_rate,
            patterns: assessment.patterns.clone(),
            next_change: assessment.next_change,
        }
    }
}

/// [`assess`] reduced to its [`Brief`].
#[must_use]
pub fn assess_brief(
    user: &UserFacts,
    payments: &[PaymentFact],
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Brief {
    assess_summary_brief(user, &Summary::of(payments), config, now)
}

/// [`assess_summary`] reduced to its [`Brief`].
#[must_use]
pub fn assess_summary_brief(
    user: &UserFacts,
    summary: &Summary,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Brief {
    let history = History::observe(user, summary, now);
    brief_of(user, &history, Terms::of(&history).as_ref(), config, now)
}

/// The figures of `history` (whose `terms`, if it has any) at `now`: one
/// computation for both [`assess`] and [`assess_brief`].
fn brief_of(
    user: &UserFacts,
    history: &History,
    terms: Option<&Terms>,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Brief {
    let score = terms.map_or(0.0, |terms| terms.score(config));
    Brief {
        score,
        level: level_for(score, &config.thresholds),
        total_payments: history.total,
        failed_payments: history.failed,
        succeeded_payments: history.succeeded,
        failure_rate: history.overall_failure_rate(),
        patterns: history.patterns(),
        next_change: history.next_change(user, now),
    }
}

/// Scores the user as they stood at `as_of` (SPEC §3.4): only the payments made at or
/// before `as_of` count, and the account's age is taken at `as_of`.
///
/// Everything but `next_change` equals [`assess`] on the payments kept. `next_change`
/// also accounts for the payments left out: the as-of answer changes when the first
/// of them comes into range (at its `paid_at`), if that is before the next age
/// boundary.
#[must_use]
pub fn assess_as_of(
    user: &UserFacts,
    payments: &[PaymentFact],
    config: &ScoringConfig,
    as_of: DateTime<Utc>,
) -> Assessment {
    let known: Vec<PaymentFact> = payments
        .iter()
        .filter(|payment| payment.paid_at <= as_of)
        .copied()
        .collect();
    let mut assessment = assess(user, &known, config, as_of);
    let next_arrival = payments
        .iter()
        .map(|payment| payment.paid_at)
        .filter(|paid_at| *paid_at > as_of)
        .min();
    assessment.next_change = match (assessment.next_change, next_arrival) {
        (Some(age), Some(arrival)) => Some(age.min(arrival)),
        (age, arrival) => age.or(arrival),
    };
    assessment
}

/// The level of `score` (SPEC §3.1): at or above `critical` → critical, at or above
/// `high` → high, at or above 0.2 → medium, else low.
#[must_use]
pub fn level_for(score: f64, thresholds: &Thresholds) -> RiskLevel {
    if score >= thresholds.critical() {
        RiskLevel::Critical
    } else if score >= thresholds.high() {
        RiskLevel::High
    } else if score >= MEDIUM_RISK_THRESHOLD {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

/// The five terms of SPEC §3.1 before weighting.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Terms {
    recent_failures: f64,
    amount: f64,
    overall_failures: f64,
    account_age: f64,
    pattern: f64,
}

impl Terms {
    /// The five terms of `history`, or `None` with fewer than 2 payments (SPEC §3.1:
    /// score 0).
    fn of(history: &History) -> Option<Self> {
        if history.total < 2 {
            return None;
        }
        let bonus = match history.amount_change {
            Some(AmountChange::Downgrade { .. }) => 0.9,
            Some(AmountChange::Upgrade { .. }) => -0.1,
            None => 0.0,
        };
        Some(Self {
            recent_failures: history.recent_failure_rate(),
            amount: (history.amount_base + bonus).clamp(0.0, 1.0),
            overall_failures: history.overall_failure_rate(),
            account_age: history.age.factor,
            pattern: FailurePattern::bonus(history.failure_pattern),
        })
    }

    /// SPEC §3.1: the weighted terms added in the order recent, amount, overall, age,
    /// pattern (the legacy's order: the same floats), then capped at 1.
    fn score(&self, config: &ScoringConfig) -> f64 {
        let w = &config.weights;
        let sum = w.recent_failures() * self.recent_failures
            + w.amount() * self.amount
            + w.overall_failures() * self.overall_failures
            + w.account_age() * self.account_age
            + w.pattern() * self.pattern;
        sum.min(1.0)
    }

    /// SPEC §3.2 structured factors, in [`FactorName::ALL`] order.
    fn factors(&self, config: &ScoringConfig, history: &History) -> Vec<Factor> {
        FactorName::ALL
            .into_iter()
            .map(|name| {
                let value = match name {
                    FactorName::RecentFailures => self.recent_failures,
                    FactorName::Amount => self.amount,
                    FactorName::OverallFailures => self.overall_failures,
                    FactorName::Pattern => self.pattern,
                    FactorName::AccountAge => self.account_age,
                };
                let weight = config.weights.get(name.weight_name());
                Factor {
                    name,
                    value,
                    weight,
                    contribution: weight * value,
                    detail: legacy::factor_detail(name, history),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::risk::{Counts, Outcome, RiskPattern, Summary, Thresholds, Weights};

    fn at(instant: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(instant)
            .expect("a valid RFC 3339 instant")
            .with_timezone(&Utc)
    }

    /// The golden file's frozen instant.
    fn now() -> DateTime<Utc> {
        at("2026-01-15T12:00:00Z")
    }

    fn user_aged(age: TimeDelta) -> UserFacts {
        UserFacts {
            created_at: now() - age,
        }
    }

    /// Monthly payments at `amount`, the last one a day before `now`; `outcomes` are
    /// given oldest first, as `s` (success), `f` (failed) or `n` (neutral).
    fn monthly(amounts: &[f64], outcomes: &str) -> Vec<PaymentFact> {
        let count = outcomes.len();
        outcomes
            .chars()
            .zip(amounts.iter().cycle())
            .enumerate()
            .map(|(index, (outcome, amount))| PaymentFact {
                paid_at: now() - TimeDelta::days(1 + 30 * (count - 1 - index) as i64),
                amount: *amount,
                outcome: match outcome {
                    's' => Outcome::Success,
                    'f' => Outcome::Failed,
                    _ => Outcome::Neutral,
                },
            })
            .collect()
    }

    fn legacy(user: &UserFacts, payments: &[PaymentFact]) -> Assessment {
        assess(user, payments, &ScoringConfig::default(), now())
    }

    // SPEC §3.2 examples.

    #[test]
    fn two_failures_in_last_three_payments_is_high_risk() {
        let user = user_aged(TimeDelta::days(400));
        let assessment = legacy(&user, &monthly(&[9.99], "sff"));

        assert!((assessment.score - 0.5583333333333333).abs() < 1e-12);
        assert_eq!(assessment.level, RiskLevel::High);
        assert_eq!(
            assessment.messages,
            [
                "High failure rate on recent payments (66.7%)",
                "Failed 2/3 of last payments",
                "Classic pattern: paid initially, then declined subsequent payments",
                "Overall failure rate: 66.7%",
                "Multiple consecutive recent failures",
            ]
        );
        assert_eq!(
            assessment.patterns,
            [
                RiskPattern::RecentFailures,
                RiskPattern::PayOnceThenDecline,
                RiskPattern::ConsecutiveFailures
            ]
        );
        assert_eq!(
            assessment.recommendations,
            legacy::recommendations(RiskLevel::High)
        );
    }

    #[test]
    fn the_legacy_api_example_user_is_reproduced() {
        // golden/legacy_responses/user_risk_analysis.json: 5 payments of 1.00, the two
        // newest failed, an account between 30 and 90 days old.
        let user = user_aged(TimeDelta::days(60));
        let assessment = legacy(&user, &monthly(&[1.0], "sssff"));

        assert_eq!(assessment.score, 0.6683333333333333);
        assert_eq!(assessment.level, RiskLevel::High);
        assert_eq!(
            (
                assessment.failure_rate,
                assessment.total_payments,
                assessment.failed_payments,
                assessment.legacy_successful_payments()
            ),
            (0.4, 5, 2, 3)
        );
        assert_eq!(
            assessment.messages,
            [
                "High failure rate on recent payments (66.7%)",
                "Failed 2/3 of last payments",
                "Early success followed by recent payment failures",
                "\u{1F4B0} Low cost subscription (1.00\u{20AC}) - High departure risk",
                "Overall failure rate: 40.0%",
                "Multiple consecutive recent failures",
            ]
        );
    }

    #[test]
    fn a_downgrade_is_reported_with_euro_amounts() {
        let user = user_aged(TimeDelta::days(400));
        let assessment = legacy(&user, &monthly(&[12.99, 12.99, 2.99, 2.99, 2.99], "sssss"));

        assert_eq!(
            assessment.messages,
            [
                "\u{26A0}\u{FE0F} DOWNGRADE DETECTED: 9.66\u{20AC} \u{2192} 2.99\u{20AC} (Departure signal)",
                "\u{1F4B0} Low cost subscription (2.99\u{20AC}) - High departure risk",
            ]
        );
        assert_eq!(
            assessment.patterns,
            [RiskPattern::Downgrade, RiskPattern::LowCostPlan]
        );
        let amount = assessment.factor(FactorName::Amount).expect("has factors");
        assert_eq!(amount.value, 1.0);
        assert_eq!(
            amount.detail,
            "newest payment 2.99 (base 0.7), down from an average of 9.66 (+0.9)"
        );
    }

    #[test]
    fn an_upgrade_is_reported_and_lowers_the_amount_term() {
        let user = user_aged(TimeDelta::days(400));
        let assessment = legacy(&user, &monthly(&[4.0, 4.0, 4.0, 4.0, 6.01], "sssss"));

        assert_eq!(
            assessment.messages,
            ["\u{2705} Recent upgrade: 4.00\u{20AC} \u{2192} 6.01\u{20AC} (Positive engagement)"]
        );
        assert_eq!(assessment.patterns, [RiskPattern::Upgrade]);
        let amount = assessment.factor(FactorName::Amount).expect("has factors");
        assert!(
            (amount.value - 0.1).abs() < 1e-12,
            "base 0.2 (6.01), bonus -0.1"
        );
    }

    #[test]
    fn overall_failure_rate_is_reported_only_above_thirty_percent() {
        let user = user_aged(TimeDelta::days(400));
        let three_of_ten = legacy(&user, &monthly(&[9.99], "fsfsfsssss"));
        let four_of_ten = legacy(&user, &monthly(&[9.99], "fsfsfsfsss"));

        assert!(
            !three_of_ten
                .messages
                .iter()
                .any(|m| m.starts_with("Overall"))
        );
        assert!(
            four_of_ten
                .messages
                .contains(&"Overall failure rate: 40.0%".to_owned())
        );
    }

    #[test]
    fn a_new_account_is_flagged_until_thirty_whole_days() {
        let payments = monthly(&[9.99], "ss");
        let almost = legacy(
            &user_aged(TimeDelta::days(30) - TimeDelta::seconds(1)),
            &payments,
        );
        let exactly = legacy(&user_aged(TimeDelta::days(30)), &payments);

        assert_eq!(almost.messages, ["New account (less than 30 days)"]);
        assert_eq!(almost.patterns, [RiskPattern::NewAccount]);
        assert_eq!(exactly.messages, ["Low risk profile"]);
        assert_eq!(
            almost.factor(FactorName::AccountAge).map(|f| f.value),
            Some(0.8)
        );
        assert_eq!(
            exactly.factor(FactorName::AccountAge).map(|f| f.value),
            Some(0.5)
        );
    }

    #[test]
    fn multiple_consecutive_failures_need_the_two_newest_failed() {
        let user = user_aged(TimeDelta::days(400));
        let newest_two = legacy(&user, &monthly(&[9.99], "sssff"));
        let split_by_pending = legacy(&user, &monthly(&[9.99], "ssfnf"));

        assert!(
            newest_two
                .patterns
                .contains(&RiskPattern::ConsecutiveFailures)
        );
        assert!(
            !split_by_pending
                .patterns
                .contains(&RiskPattern::ConsecutiveFailures)
        );
    }

    #[test]
    fn no_payment_history_scores_zero_and_says_so() {
        let new_user = user_aged(TimeDelta::days(3));
        let assessment = legacy(&new_user, &[]);

        assert_eq!(assessment.score, 0.0);
        assert_eq!(assessment.level, RiskLevel::Low);
        assert_eq!(assessment.messages, ["No payment history"]);
        assert!(assessment.factors.is_empty());
        assert!(assessment.patterns.is_empty());
        assert_eq!(assessment.next_change, None);
    }

    #[test]
    fn a_single_failed_payment_scores_zero_but_keeps_its_messages() {
        let user = user_aged(TimeDelta::days(10));
        let assessment = legacy(&user, &monthly(&[1.99], "f"));

        assert_eq!(assessment.score, 0.0);
        assert_eq!(assessment.level, RiskLevel::Low);
        assert!(assessment.factors.is_empty());
        assert_eq!(
            assessment.messages,
            [
                "\u{1F4B0} Low cost subscription (1.99\u{20AC}) - High departure risk",
                "Overall failure rate: 100.0%",
                "New account (less than 30 days)",
            ]
        );
        // Only the "New account" message depends on time with one payment.
        assert_eq!(
            assessment.next_change,
            Some(user.created_at + TimeDelta::days(30))
        );
    }

    #[test]
    fn a_clean_history_has_a_low_risk_profile() {
        let user = user_aged(TimeDelta::days(400));
        let assessment = legacy(&user, &monthly(&[15.99], "ssssss"));

        assert_eq!(assessment.level, RiskLevel::Low);
        assert_eq!(assessment.messages, ["Low risk profile"]);
        assert_eq!(
            assessment.recommendations,
            [
                "Continue standard monitoring",
                "Maintain regular communication"
            ]
        );
        assert_eq!(assessment.next_change, None);
    }

    #[test]
    fn factors_carry_weight_contribution_and_a_sentence() {
        let user = user_aged(TimeDelta::days(45));
        let assessment = legacy(&user, &monthly(&[9.99], "sssff"));
        let details: Vec<(&str, f64, f64, &str)> = assessment
            .factors
            .iter()
            .map(|f| (f.name.as_str(), f.value, f.weight, f.detail.as_str()))
            .collect();

        assert_eq!(
            details,
            [
                (
                    "recent_failures",
                    2.0 / 3.0,
                    0.5,
                    "2 of the last 3 payments failed"
                ),
                ("amount", 0.2, 0.2, "newest payment 9.99 (base 0.2)"),
                ("overall_failures", 0.4, 0.15, "2 of 5 payments failed"),
                ("pattern", 0.5, 0.1, "early success, then recent failures"),
                ("account_age", 0.5, 0.05, "account 30 to 89 days old"),
            ]
        );
        for factor in &assessment.factors {
            assert_eq!(factor.contribution, factor.weight * factor.value);
        }
        let sum: f64 = assessment.factors.iter().map(|f| f.contribution).sum();
        assert!((sum - assessment.score).abs() < 1e-12);
    }

    #[test]
    fn configured_weights_and_thresholds_are_used() {
        let only_recent = ScoringConfig {
            weights: Weights::new(1.0, 0.0, 0.0, 0.0, 0.0).expect("valid weights"),
            thresholds: Thresholds::new(0.5, 0.9).expect("valid thresholds"),
        };
        let user = user_aged(TimeDelta::days(400));
        let assessment = assess(&user, &monthly(&[1.0], "sssff"), &only_recent, now());

        assert_eq!(assessment.score, 2.0 / 3.0);
        assert_eq!(assessment.level, RiskLevel::High);
        let defaults = legacy(&user, &monthly(&[1.0], "sssff"));
        assert_eq!(
            defaults.messages, assessment.messages,
            "messages do not depend on the configuration"
        );
    }

    #[test]
    fn levels_follow_the_legacy_boundaries() {
        let thresholds = Thresholds::default();
        assert_eq!(level_for(0.0, &thresholds), RiskLevel::Low);
        assert_eq!(level_for(0.19999999, &thresholds), RiskLevel::Low);
        assert_eq!(level_for(0.2, &thresholds), RiskLevel::Medium);
        assert_eq!(level_for(0.4, &thresholds), RiskLevel::High);
        assert_eq!(level_for(0.7, &thresholds), RiskLevel::Critical);
        assert_eq!(level_for(1.0, &thresholds), RiskLevel::Critical);
    }

    #[test]
    fn payments_at_the_same_instant_count_a_failure_as_the_newer() {
        let user = user_aged(TimeDelta::days(400));
        let instant = now() - TimeDelta::days(1);
        let success = PaymentFact {
            paid_at: instant,
            amount: 9.99,
            outcome: Outcome::Success,
        };
        let failure = PaymentFact {
            outcome: Outcome::Failed,
            ..success
        };
        let older = PaymentFact {
            paid_at: instant - TimeDelta::days(30),
            outcome: Outcome::Failed,
            ..success
        };

        let one_way = legacy(&user, &[success, failure, older]);
        let other_way = legacy(&user, &[older, failure, success]);

        assert_eq!(one_way, other_way);
        // Newest first: failure, success, failure → the two newest did not both fail.
        assert!(!one_way.patterns.contains(&RiskPattern::ConsecutiveFailures));
        assert!(one_way.patterns.contains(&RiskPattern::RecentFailures));
    }

    #[test]
    fn next_change_is_the_next_age_bracket_with_two_payments_or_more() {
        let payments = monthly(&[9.99], "ss");
        let young = user_aged(TimeDelta::days(10));
        let middle = user_aged(TimeDelta::days(100));
        let old = user_aged(TimeDelta::days(180));

        assert_eq!(
            legacy(&young, &payments).next_change,
            Some(young.created_at + TimeDelta::days(30))
        );
        assert_eq!(
            legacy(&middle, &payments).next_change,
            Some(middle.created_at + TimeDelta::days(180))
        );
        assert_eq!(legacy(&old, &payments).next_change, None);
    }

    #[test]
    fn as_of_leaves_out_later_payments_and_ages_the_account_then() {
        let user = user_aged(TimeDelta::days(400));
        let payments = monthly(&[9.99], "sssff");
        let as_of = payments[2].paid_at;

        let then = assess_as_of(&user, &payments, &ScoringConfig::default(), as_of);

        assert_eq!(then.total_payments, 3);
        assert_eq!(then.failed_payments, 0);
        assert_eq!(then.messages, ["Low risk profile"]);
        assert_eq!(then.next_change, Some(payments[3].paid_at));
    }

    // Properties.

    /// Mostly a few plan prices (so equal payments meet), sometimes any amount.
    fn amount() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => prop::sample::select(vec![1.99, 2.99, 9.99, 12.99]),
            2 => prop::sample::select(vec![
                0.99, 1.2, 1.99, 2.99, 3.0, 4.99, 6.0, 6.99, 9.99, 10.0, 12.99, 15.99
            ]),
            1 => (1u32..3000).prop_map(|cents| f64::from(cents) / 100.0),
        ]
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            4 => Just(Outcome::Success),
            3 => Just(Outcome::Failed),
            1 => Just(Outcome::Neutral),
        ]
    }

    prop_compose! {
        /// Dates on a coarse grid (day and hour) so that ties happen often.
        fn payment()(
            days in prop_oneof![0i64..400, 0i64..4],
            hours in 0i64..3,
            amount in amount(),
            outcome in outcome(),
        ) -> PaymentFact {
            PaymentFact {
                paid_at: now() - TimeDelta::days(days) - TimeDelta::hours(hours),
                amount,
                outcome,
            }
        }
    }

    prop_compose! {
        fn neutral_payment()(payment in payment()) -> PaymentFact {
            PaymentFact { outcome: Outcome::Neutral, ..payment }
        }
    }

    prop_compose! {
        /// Accounts from 5 days in the future to 400 days old, to the second.
        fn user()(age in -5 * 86_400i64..400 * 86_400) -> UserFacts {
            UserFacts { created_at: now() - TimeDelta::seconds(age) }
        }
    }

    fn payments() -> impl Strategy<Value = Vec<PaymentFact>> {
        prop::collection::vec(payment(), 0..14)
    }

    fn config() -> impl Strategy<Value = ScoringConfig> {
        let custom_weights = prop::array::uniform5(0u32..100).prop_filter_map(
            "weights must not all be zero",
            |raw| {
                let total = f64::from(raw.iter().sum::<u32>());
                let [a, b, c, d, e] = raw.map(|w| f64::from(w) / total);
                Weights::new(a, b, c, d, e).ok()
            },
        );
        let custom_thresholds = (1u32..99)
            .prop_flat_map(|high| (Just(high), high + 1..=100))
            .prop_filter_map("valid thresholds", |(high, critical)| {
                Thresholds::new(f64::from(high) / 100.0, f64::from(critical) / 100.0).ok()
            });
        prop_oneof![
            Just(ScoringConfig::default()),
            (custom_weights, custom_thresholds).prop_map(|(weights, thresholds)| ScoringConfig {
                weights,
                thresholds
            }),
        ]
    }

    /// An instant in `[from, to)`, `fraction` of the way (`from < to`).
    fn between(from: DateTime<Utc>, to: DateTime<Utc>, fraction: f64) -> DateTime<Utc> {
        let span = (to - from)
            .num_nanoseconds()
            .expect("spans in these tests fit in i64 nanoseconds");
        let offset = (span as f64 * fraction) as i64;
        from + TimeDelta::nanoseconds(offset.clamp(0, span - 1))
    }

    proptest! {
        #[test]
        fn score_stays_within_zero_and_one_and_its_level_follows_the_thresholds(
            user in user(), payments in payments(), config in config()
        ) {
            let assessment = assess(&user, &payments, &config, now());
            let thresholds = &config.thresholds;
            prop_assert!((0.0..=1.0).contains(&assessment.score));
            prop_assert_eq!(assessment.level, level_for(assessment.score, thresholds));
            prop_assert_eq!(
                assessment.level == RiskLevel::Critical,
                assessment.score >= thresholds.critical()
            );
            prop_assert_eq!(
                assessment.level >= RiskLevel::High,
                assessment.score >= thresholds.high()
            );
            prop_assert_eq!(assessment.recommendations, legacy::recommendations(assessment.level));
        }

        #[test]
        fn the_brief_holds_the_assessments_figures(
            user in user(), payments in payments(), config in config()
        ) {
            let full = assess(&user, &payments, &config, now());
            let brief = assess_brief(&user, &payments, &config, now());
            prop_assert_eq!(brief.score.to_bits(), full.score.to_bits());
            prop_assert_eq!(brief, Brief {
                score: full.score,
                level: full.level,
                total_payments: full.total_payments,
                failed_payments: full.failed_payments,
                succeeded_payments: full.succeeded_payments,
                failure_rate: full.failure_rate,
                patterns: full.patterns,
                next_change: full.next_change,
            });
        }

        #[test]
        fn a_summary_built_one_payment_at_a_time_scores_as_the_whole_history(
            (user, payments, arrival) in (user(), prop::collection::vec(payment(), 0..40))
                .prop_flat_map(|(user, payments)| {
                    let copy = payments.clone();
                    (Just(user), Just(payments), Just(copy).prop_shuffle())
                }),
            config in config(),
        ) {
            // Payments arrive in any order (backdated ones included) and are
            // taken in one at a time, as the writes do.
            let mut summary = Summary::default();
            for (seen, payment) in arrival.iter().enumerate() {
                summary.add(*payment);
                let so_far = &arrival[..=seen];
                prop_assert_eq!(&summary, &Summary::of(so_far));
                prop_assert_eq!(
                    assess_summary(&user, &summary, &config, now()),
                    assess(&user, so_far, &config, now())
                );
            }
            prop_assert_eq!(&summary, &Summary::of(&payments));
            let stored = Summary::from_parts(
                summary.counts(),
                summary.newest().iter().rev().copied().collect(),
                summary.oldest().iter().rev().copied().collect(),
            );
            prop_assert_eq!(stored.as_ref(), Some(&summary));
        }

        #[test]
        fn a_summary_whose_parts_disagree_with_its_counts_is_refused(
            payments in prop::collection::vec(payment(), 1..12),
            extra in 1u32..3,
        ) {
            let summary = Summary::of(&payments);
            let counts = summary.counts();
            let more = Counts { total: counts.total + extra, ..counts };
            let newest = summary.newest().to_vec();
            let oldest = summary.oldest().to_vec();
            // Short lists for the count: refused while the count is under 5
            // (newest) or 4 (oldest); a larger history is consistent.
            let accepted = Summary::from_parts(more, newest.clone(), oldest.clone()).is_some();
            prop_assert_eq!(accepted, counts.total >= Summary::NEWEST as u32);
            let over = Counts { failed: counts.total + 1 - counts.succeeded, ..counts };
            prop_assert!(Summary::from_parts(over, newest, oldest).is_none());
        }

        #[test]
        fn payment_order_does_not_matter(
            (user, payments, shuffled) in (user(), payments()).prop_flat_map(|(user, payments)| {
                let copy = payments.clone();
                (Just(user), Just(payments), Just(copy).prop_shuffle())
            }),
            config in config(),
        ) {
            prop_assert_eq!(
                assess(&user, &payments, &config, now()),
                assess(&user, &shuffled, &config, now())
            );
        }

        #[test]
        fn neutral_payments_change_neither_failed_nor_succeeded_counts(
            user in user(),
            payments in payments(),
            extra in prop::collection::vec(neutral_payment(), 1..5),
        ) {
            let before = assess(&user, &payments, &ScoringConfig::default(), now());
            let with_extra: Vec<PaymentFact> = payments.iter().chain(&extra).copied().collect();
            let after = assess(&user, &with_extra, &ScoringConfig::default(), now());
            prop_assert_eq!(after.failed_payments, before.failed_payments);
            prop_assert_eq!(after.succeeded_payments, before.succeeded_payments);
            prop_assert_eq!(after.total_payments, before.total_payments + extra.len() as u32);
        }

        #[test]
        fn fewer_than_two_payments_score_zero(
            user in user(),
            payments in prop::collection::vec(payment(), 0..2),
            config in config(),
        ) {
            let assessment = assess(&user, &payments, &config, now());
            prop_assert_eq!(assessment.score, 0.0);
            prop_assert!(assessment.factors.is_empty());
        }

        #[test]
        fn as_of_ignores_payments_made_after_the_instant(
            user in user(),
            payments in payments(),
            config in config(),
            back in -86_400i64..400 * 86_400,
        ) {
            let as_of = now() - TimeDelta::seconds(back);
            let known: Vec<PaymentFact> =
                payments.iter().filter(|p| p.paid_at <= as_of).copied().collect();
            let then = assess_as_of(&user, &payments, &config, as_of);
            let filtered = assess(&user, &known, &config, as_of);
            let next_arrival = payments.iter().map(|p| p.paid_at).filter(|t| *t > as_of).min();
            let expected_next = match (filtered.next_change, next_arrival) {
                (Some(age), Some(arrival)) => Some(age.min(arrival)),
                (age, arrival) => age.or(arrival),
            };
            prop_assert_eq!(then.next_change, expected_next);
            prop_assert_eq!(Assessment { next_change: None, ..then },
                            Assessment { next_change: None, ..filtered });
        }

        #[test]
        fn nothing_changes_before_next_change_and_the_age_inputs_change_at_it(
            user in user(),
            payments in payments(),
            config in config(),
            fraction in 0.0f64..1.0,
            far in 0i64..20_000,
        ) {
            let base = assess(&user, &payments, &config, now());
            match base.next_change {
                Some(next) => {
                    prop_assert!(next > now());
                    let last_unchanged = next - TimeDelta::nanoseconds(1);
                    for instant in [between(now(), next, fraction), last_unchanged] {
                        let later = assess(&user, &payments, &config, instant);
                        prop_assert_eq!(&later, &base, "at {}", instant);
                    }
                    let changed = assess(&user, &payments, &config, next);
                    let age_inputs = |a: &Assessment| (
                        a.factor(FactorName::AccountAge).map(|f| f.value),
                        a.patterns.contains(&RiskPattern::NewAccount),
                    );
                    prop_assert_ne!(age_inputs(&changed), age_inputs(&base));
                    prop_assert_ne!(&changed, &base);
                }
                None => {
                    let much_later = now() + TimeDelta::days(far);
                    let later = assess(&user, &payments, &config, much_later);
                    prop_assert_eq!(&later, &base);
                }
            }
        }

        #[test]
        fn as_of_assessments_hold_until_their_next_change(
            user in user(),
            payments in payments(),
            back in 0i64..300 * 86_400,
            fraction in 0.0f64..1.0,
        ) {
            let config = ScoringConfig::default();
            let as_of = now() - TimeDelta::seconds(back);
            let base = assess_as_of(&user, &payments, &config, as_of);
            if let Some(next) = base.next_change {
                prop_assert!(next > as_of);
                let instant = between(as_of, next, fraction);
                let later = assess_as_of(&user, &payments, &config, instant);
                prop_assert_eq!(&later, &base, "at {}", instant);
                prop_assert_ne!(&assess_as_of(&user, &payments, &config, next), &base);
            }
        }

        #[test]
        fn pattern_masks_round_trip(
            patterns in prop::sample::subsequence(RiskPattern::all().to_vec(), 0..=8)
        ) {
            prop_assert_eq!(RiskPattern::from_mask(RiskPattern::to_mask(&patterns)), patterns);
        }
    }
}
