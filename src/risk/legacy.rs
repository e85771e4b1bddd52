//! The words of the model (SPEC §3.2): the legacy messages, word for word and in the
//! legacy order, the fixed recommendations per level, and the short sentences of
//! the structured factors. The message rules are not written in the spec; they were
//! recovered from the golden histories (`golden/risk_vectors.json`), which they
//! reproduce exactly.
//!
//! Numbers are formatted like the legacy's Python `format`: the exact binary value,
//! rounded half to even (`{:.1%}` of 5/16 → "31.2%", `{:.2f}` of 2.125 → "2.12", of
//! 2.675 → "2.67"). Rust's `{:.N}` formatting does exactly that, and a percentage is
//! the rate times 100 in `f64`, as Python's `%` format computes it.

use super::assessment::{FactorName, RiskLevel};
use super::observation::{AmountChange, FailurePattern, History};

/// "No payment history": the only message when there are no payments.
const NO_HISTORY: &str = "No payment history";
/// The message when no rule applies.
const LOW_RISK_PROFILE: &str = "Low risk profile";

/// SPEC §3.2: the legacy messages of one history.
///
/// Without payments: only "No payment history". Otherwise, in this order, each when
/// its condition holds ("current" is the newest amount, "old" the average of the 3rd
/// to 5th newest amounts):
/// 1. 2+ payments and recent failure rate > 0.4:
///    "High failure rate on recent payments (66.7%)", then
/// 2. same condition: "Failed 2/3 of last payments" (failures among the newest 3 or
///    fewer / their count);
/// 3. pays-once-then-declines pattern (bonus 0.8):
///    "Classic pattern: paid initially, then declined subsequent payments";
/// 4. early-success pattern (bonus 0.5): "Early success followed by recent payment failures";
/// 5. 3+ payments and current < 0.7 × old:
///    "⚠️ DOWNGRADE DETECTED: 9.66€ → 2.99€ (Departure signal)" (old → current);
/// 6. otherwise 3+ payments and current > 1.5 × old:
///    "✅ Recent upgrade: 4.00€ → 6.01€ (Positive engagement)";
/// 7. current ≤ 3: "💰 Low cost subscription (2.99€) - High departure risk";
/// 8. overall failure rate > 0.3: "Overall failure rate: 40.0%";
/// 9. account age < 30 whole days: "New account (less than 30 days)";
/// 10. 2+ payments and the two newest failed: "Multiple consecutive recent failures";
/// 11. none of the above: "Low risk profile".
///
/// These apply with a single payment too, although its score is 0.
pub(super) fn messages(history: &History) -> Vec<String> {
    let Some(current) = history.current_amount else {
        return vec![NO_HISTORY.to_owned()];
    };
    let mut messages = Vec::new();
    if history.has_recent_failures() {
        messages.push(format!(
            "High failure rate on recent payments ({})",
            percent(history.recent_failure_rate())
        ));
        messages.push(format!(
            "Failed {}/{} of last payments",
            history.recent_failed, history.recent_count
        ));
    }
    match history.failure_pattern {
        Some(FailurePattern::PayOnceThenDecline) => messages
            .push("Classic pattern: paid initially, then declined subsequent payments".to_owned()),
        Some(FailurePattern::EarlySuccessRecentFailures) => {
            messages.push("Early success followed by recent payment failures".to_owned());
        }
        None => {}
    }
    // The emoji are spelled as escapes: U+26A0 U+FE0F is "⚠️" with its (invisible)
    // emoji variation selector, U+2705 is "✅", U+1F4B0 is "💰".
    match history.amount_change {
        Some(AmountChange::Downgrade { old_average }) => messages.push(format!(
            "\u{26A0}\u{FE0F} DOWNGRADE DETECTED: {} \u{2192} {} (Departure signal)",
            euros(old_average),
            euros(current)
        )),
        Some(AmountChange::Upgrade { old_average }) => messages.push(format!(
            "\u{2705} Recent upgrade: {} \u{2192} {} (Positive engagement)",
            euros(old_average),
            euros(current)
        )),
        None => {}
    }
    if history.is_low_cost() {
        messages.push(format!(
            "\u{1F4B0} Low cost subscription ({}) - High departure risk",
            euros(current)
        ));
    }
    let overall = history.overall_failure_rate();
    if overall > 0.3 {
        messages.push(format!("Overall failure rate: {}", percent(overall)));
    }
    if history.is_new_account() {
        messages.push("New account (less than 30 days)".to_owned());
    }
    if history.two_newest_failed {
        messages.push("Multiple consecutive recent failures".to_owned());
    }
    if messages.is_empty() {
        messages.push(LOW_RISK_PROFILE.to_owned());
    }
    messages
}

/// The fixed recommendations for a level (SPEC §3.2), as the legacy listed them.
#[must_use]
pub fn recommendations(level: RiskLevel) -> &'static [&'static str] {
    match level {
        RiskLevel::Critical => &[
            "Immediate contact required for payment method verification",
            "Consider temporary account restrictions",
            "Review subscription value proposition with user",
            "Implement payment retry with different methods",
        ],
        RiskLevel::High => &[
            "Proactive outreach for payment method update",
            "Offer payment assistance or alternative methods",
            "Monitor closely for upcoming payments",
            "Consider retention campaigns",
        ],
        RiskLevel::Medium => &[
            "Send automated payment reminder emails",
            "Monitor payment patterns for changes",
            "Consider targeted retention offers",
        ],
        RiskLevel::Low => &[
            "Continue standard monitoring",
            "Maintain regular communication",
        ],
    }
}

/// The short sentence of one structured factor (SPEC §3.2).
pub(super) fn factor_detail(name: FactorName, history: &History) -> String {
    match name {
        FactorName::RecentFailures => format!(
            "{} of the last {} payments failed",
            history.recent_failed, history.recent_count
        ),
        FactorName::Amount => {
            let current = history.current_amount.unwrap_or_default();
            let base = format!("newest payment {current:.2} (base {})", history.amount_base);
            match history.amount_change {
                Some(AmountChange::Downgrade { old_average }) => {
                    format!("{base}, down from an average of {old_average:.2} (+0.9)")
                }
                Some(AmountChange::Upgrade { old_average }) => {
                    format!("{base}, up from an average of {old_average:.2} (-0.1)")
                }
                None => base,
            }
        }
        FactorName::OverallFailures => {
            format!("{} of {} payments failed", history.failed, history.total)
        }
        FactorName::Pattern => match history.failure_pattern {
            Some(FailurePattern::PayOnceThenDecline) => {
                "paid once, then declined the following payments".to_owned()
            }
            Some(FailurePattern::EarlySuccessRecentFailures) => {
                "early success, then recent failures".to_owned()
            }
            None => "no failure pattern".to_owned(),
        },
        // Names the bracket, not the exact age: the sentence must change only when the
        // factor does, at the instants `next_change` announces (SPEC §3.4).
        FactorName::AccountAge => match history.age.days {
            days if days < 30 => "account less than 30 days old",
            days if days < 90 => "account 30 to 89 days old",
            days if days < 180 => "account 90 to 179 days old",
            _ => "account 180 days old or more",
        }
        .to_owned(),
    }
}

/// A rate as the legacy's `{:.1%}`: the rate times 100, one decimal, half to even.
fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// An amount as the legacy's `{:.2f}€`: two decimals, half to even.
fn euros(amount: f64) -> String {
    format!("{amount:.2}\u{20AC}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_to_even_on_the_binary_value_like_python() {
        assert_eq!(percent(5.0 / 16.0), "31.2%");
        assert_eq!(percent(7.0 / 16.0), "43.8%");
        assert_eq!(percent(2.0 / 3.0), "66.7%");
        assert_eq!(percent(0.4), "40.0%");
        assert_eq!(percent(1.0), "100.0%");
    }

    #[test]
    fn euro_amounts_round_half_to_even_on_the_binary_value_like_python() {
        assert_eq!(euros(2.125), "2.12\u{20AC}");
        assert_eq!(euros(2.675), "2.67\u{20AC}");
        assert_eq!(euros(1.005), "1.00\u{20AC}");
        assert_eq!(euros(1.2000000001), "1.20\u{20AC}");
        assert_eq!(euros(0.375), "0.38\u{20AC}");
    }

    #[test]
    fn each_level_has_its_legacy_recommendations() {
        assert_eq!(recommendations(RiskLevel::Low).len(), 2);
        assert_eq!(recommendations(RiskLevel::Medium).len(), 3);
        assert_eq!(
            recommendations(RiskLevel::High)[0],
            "Proactive outreach for payment method update"
        );
        assert_eq!(
            recommendations(RiskLevel::Critical)[0],
            "Immediate contact required for payment method verification"
        );
    }
}
