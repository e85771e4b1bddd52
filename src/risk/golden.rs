//! Test-only: replays the 400 golden histories scored by the legacy Python system
//! (`tests/data/risk_vectors.json`, a copy of `golden/risk_vectors.json`; SPEC §3.1)
//! and checks every field the core computes. Reads the file at compile time; no I/O
//! at run time.
//!
//! Status classification, as the legacy did it: it compared the stored string
//! exactly (case-sensitive), so `success` → [`Outcome::Success`], `failed` and
//! `declined` → [`Outcome::Failed`], and everything else → [`Outcome::Neutral`]:
//! `pending`, `refunded`, and also `Failed` with a capital F (case
//! `status_case_sensitive`: 0 failures, successful_payments 3).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    Assessment, FactorName, Outcome, PaymentFact, RiskPattern, ScoringConfig, UserFacts, assess,
};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/risk_vectors.json"
));

const TOLERANCE: f64 = 1e-9;

#[derive(Debug, Deserialize)]
struct Vectors {
    now: DateTime<Utc>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    user: GoldenUser,
    payments: Vec<GoldenPayment>,
    expected: Expected,
}

#[derive(Debug, Deserialize)]
struct GoldenUser {
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct GoldenPayment {
    payment_date: DateTime<Utc>,
    amount: f64,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Expected {
    risk_score: f64,
    risk_level: String,
    risk_factors: Vec<String>,
    recommendations: Vec<String>,
    components: Option<Components>,
    failure_rate: f64,
    total_payments: u32,
    failed_payments: u32,
    successful_payments: u32,
}

#[derive(Debug, Deserialize)]
struct Components {
    base_risk: f64,
    amount_factor: f64,
    overall_failure_rate: f64,
    age_factor: f64,
    pattern_bonus: f64,
}

/// The legacy classification (see the module doc).
fn legacy_outcome(status: &str) -> Outcome {
    match status {
        "success" => Outcome::Success,
        "failed" | "declined" => Outcome::Failed,
        _ => Outcome::Neutral,
    }
}

fn load() -> Vectors {
    serde_json::from_str(VECTORS).expect("tests/data/risk_vectors.json parses")
}

fn facts(case: &Case) -> (UserFacts, Vec<PaymentFact>) {
    let user = UserFacts {
        created_at: case.user.created_at,
    };
    let payments = case
        .payments
        .iter()
        .map(|payment| PaymentFact {
            paid_at: payment.payment_date,
            amount: payment.amount,
            outcome: legacy_outcome(&payment.status),
        })
        .collect();
    (user, payments)
}

/// Every difference between the assessment and the legacy's answer, as readable lines.
fn differences(expected: &Expected, got: &Assessment) -> Vec<String> {
    fn close(out: &mut Vec<String>, what: &str, want: f64, have: f64) {
        if (want - have).abs() > TOLERANCE {
            out.push(format!("{what}: expected {want:?}, got {have:?}"));
        }
    }
    let mut out = Vec::new();
    close(&mut out, "score", expected.risk_score, got.score);
    close(
        &mut out,
        "failure_rate",
        expected.failure_rate,
        got.failure_rate,
    );
    match &expected.components {
        None if !got.factors.is_empty() => {
            out.push(format!("components: expected none, got {:?}", got.factors));
        }
        None => {}
        Some(components) => {
            for (name, want) in [
                (FactorName::RecentFailures, components.base_risk),
                (FactorName::Amount, components.amount_factor),
                (FactorName::OverallFailures, components.overall_failure_rate),
                (FactorName::AccountAge, components.age_factor),
                (FactorName::Pattern, components.pattern_bonus),
            ] {
                match got.factor(name) {
                    Some(factor) => close(&mut out, name.as_str(), want, factor.value),
                    None => out.push(format!("factor {name}: missing")),
                }
            }
        }
    }
    if got.level.as_str() != expected.risk_level {
        out.push(format!(
            "level: expected {}, got {}",
            expected.risk_level, got.level
        ));
    }
    if got.messages != expected.risk_factors {
        out.push(format!(
            "messages:\n        expected {:?}\n        got      {:?}",
            expected.risk_factors, got.messages
        ));
    }
    if got.recommendations != expected.recommendations {
        out.push(format!(
            "recommendations: expected {:?}, got {:?}",
            expected.recommendations, got.recommendations
        ));
    }
    let counts = (
        got.total_payments,
        got.failed_payments,
        got.legacy_successful_payments(),
    );
    let want = (
        expected.total_payments,
        expected.failed_payments,
        expected.successful_payments,
    );
    if counts != want {
        out.push(format!(
            "counts (total, failed, legacy successful): expected {want:?}, got {counts:?}"
        ));
    }
    out
}

/// The legacy message that goes with each named pattern (its opening words).
fn message_of(pattern: RiskPattern) -> &'static str {
    match pattern {
        RiskPattern::RecentFailures => "High failure rate on recent payments (",
        RiskPattern::PayOnceThenDecline => "Classic pattern: ",
        RiskPattern::EarlySuccessRecentFailures => "Early success followed by",
        RiskPattern::Downgrade => "\u{26A0}\u{FE0F} DOWNGRADE DETECTED: ",
        RiskPattern::Upgrade => "\u{2705} Recent upgrade: ",
        RiskPattern::LowCostPlan => "\u{1F4B0} Low cost subscription (",
        RiskPattern::NewAccount => "New account (less than 30 days)",
        RiskPattern::ConsecutiveFailures => "Multiple consecutive recent failures",
    }
}

#[test]
fn every_golden_history_scores_as_the_legacy_did() {
    let vectors = load();
    assert_eq!(
        vectors.cases.len(),
        400,
        "the golden file holds 400 histories"
    );
    let config = ScoringConfig::default();
    let mut report = String::new();
    let mut failing = 0;
    for case in &vectors.cases {
        let (user, payments) = facts(case);
        let got = assess(&user, &payments, &config, vectors.now);
        let problems = differences(&case.expected, &got);
        if !problems.is_empty() {
            failing += 1;
            let _ = writeln!(report, "{}:", case.name);
            for problem in problems {
                let _ = writeln!(report, "    {problem}");
            }
        }
    }
    assert!(
        report.is_empty(),
        "{failing} of {} golden histories differ:\n{report}",
        vectors.cases.len()
    );
}

#[test]
fn every_golden_pattern_matches_its_legacy_message() {
    let vectors = load();
    let config = ScoringConfig::default();
    let mut report = String::new();
    for case in &vectors.cases {
        let (user, payments) = facts(case);
        let got = assess(&user, &payments, &config, vectors.now);
        for pattern in RiskPattern::all() {
            let detected = got.patterns.contains(pattern);
            let written = case
                .expected
                .risk_factors
                .iter()
                .any(|message| message.starts_with(message_of(*pattern)));
            if detected != written {
                let _ = writeln!(
                    report,
                    "{}: {pattern} detected={detected}, message written={written}",
                    case.name
                );
            }
        }
    }
    assert!(
        report.is_empty(),
        "patterns disagree with messages:\n{report}"
    );
}

#[test]
fn golden_histories_score_the_same_in_any_payment_order() {
    let vectors = load();
    let config = ScoringConfig::default();
    for case in &vectors.cases {
        let (user, mut payments) = facts(case);
        let oldest_first = assess(&user, &payments, &config, vectors.now);
        payments.reverse();
        let newest_first = assess(&user, &payments, &config, vectors.now);
        assert_eq!(oldest_first, newest_first, "{}", case.name);
    }
}

#[test]
fn a_capitalised_failed_status_counted_as_neither_in_the_legacy() {
    let vectors = load();
    let case = vectors
        .cases
        .iter()
        .find(|case| case.name == "status_case_sensitive")
        .expect("the golden file has status_case_sensitive");
    assert!(
        case.payments
            .iter()
            .any(|payment| payment.status == "Failed")
    );
    assert_eq!(case.expected.failed_payments, 0);
    assert_eq!(legacy_outcome("Failed"), Outcome::Neutral);
}
