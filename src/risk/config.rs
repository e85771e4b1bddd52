//! Weights and thresholds of the model (SPEC §3.3, §6), validated once at the
//! edge: after `Weights::new` / `Thresholds::new` succeed, the scoring code never
//! checks them again. Owns no I/O: reading `config.env` or the environment is the
//! caller's job; this module only says whether the numbers it is given are usable,
//! naming the setting when they are not.

use std::fmt;

/// Tolerance on the sum of the weights (SPEC §3.3: "sum to 1 within 1e-9").
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-9;

/// Default `HIGH_RISK_THRESHOLD` (SPEC §3.1, §6): a score at or above it is high risk.
pub const HIGH_RISK_THRESHOLD: f64 = 0.4;

/// Default `CRITICAL_RISK_THRESHOLD` (SPEC §3.1, §6): a score at or above it is critical.
pub const CRITICAL_RISK_THRESHOLD: f64 = 0.7;

/// Score at or above which a user is at least medium risk (SPEC §3.1). The legacy
/// hard-coded it and SPEC §6 offers no setting for it, so it is not configurable.
pub const MEDIUM_RISK_THRESHOLD: f64 = 0.2;

/// One of the five weights, named after its configuration variable (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightName {
    /// `RISK_WEIGHT_RECENT_FAILURES`, the weight of the failure rate of the 3 newest payments.
    RecentFailures,
    /// `RISK_WEIGHT_AMOUNT`, the weight of the amount and downgrade term.
    Amount,
    /// `RISK_WEIGHT_OVERALL_FAILURES`, the weight of the failure rate over all payments.
    OverallFailures,
    /// `RISK_WEIGHT_PATTERN`, the weight of the failure-pattern bonus.
    Pattern,
    /// `RISK_WEIGHT_ACCOUNT_AGE`, the weight of the account-age term.
    AccountAge,
}

impl WeightName {
    /// The five weights, in the order of `Weights::new`'s arguments.
    pub const ALL: [WeightName; 5] = [
        WeightName::RecentFailures,
        WeightName::Amount,
        WeightName::OverallFailures,
        WeightName::Pattern,
        WeightName::AccountAge,
    ];

    /// The configuration variable that sets this weight (SPEC §6).
    pub const fn env_var(self) -> &'static str {
        match self {
            WeightName::RecentFailures => "RISK_WEIGHT_RECENT_FAILURES",
            WeightName::Amount => "RISK_WEIGHT_AMOUNT",
            WeightName::OverallFailures => "RISK_WEIGHT_OVERALL_FAILURES",
            WeightName::Pattern => "RISK_WEIGHT_PATTERN",
            WeightName::AccountAge => "RISK_WEIGHT_ACCOUNT_AGE",
        }
    }
}

impl fmt::Display for WeightName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.env_var())
    }
}

/// One of the two configurable level thresholds, named after its variable (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThresholdName {
    /// `HIGH_RISK_THRESHOLD`.
    High,
    /// `CRITICAL_RISK_THRESHOLD`.
    Critical,
}

impl ThresholdName {
    /// The configuration variable that sets this threshold (SPEC §6).
    pub const fn env_var(self) -> &'static str {
        match self {
            ThresholdName::High => "HIGH_RISK_THRESHOLD",
            ThresholdName::Critical => "CRITICAL_RISK_THRESHOLD",
        }
    }
}

impl fmt::Display for ThresholdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.env_var())
    }
}

/// Why a set of weights or thresholds was refused (SPEC §3.3). Every message names
/// the setting(s) at fault and what they accept, so that it can stop the service at
/// start as it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A weight is NaN or infinite.
    #[error("{name} must be a finite number between 0 and 1, got {value}")]
    NonFiniteWeight {
        /// The weight at fault.
        name: WeightName,
        /// The value given.
        value: f64,
    },
    /// A weight is below zero.
    #[error("{name} must be zero or positive, got {value}")]
    NegativeWeight {
        /// The weight at fault.
        name: WeightName,
        /// The value given.
        value: f64,
    },
    /// The five weights do not add up to 1 (within [`WEIGHT_SUM_TOLERANCE`]).
    #[error(
        "RISK_WEIGHT_RECENT_FAILURES, RISK_WEIGHT_AMOUNT, RISK_WEIGHT_OVERALL_FAILURES, \
         RISK_WEIGHT_PATTERN and RISK_WEIGHT_ACCOUNT_AGE must add up to 1 (within 1e-9), \
         got a sum of {sum}"
    )]
    WeightsDoNotSumToOne {
        /// The sum of the five weights given.
        sum: f64,
    },
    /// A threshold is NaN or infinite.
    #[error("{name} must be a finite number greater than 0 and at most 1, got {value}")]
    NonFiniteThreshold {
        /// The threshold at fault.
        name: ThresholdName,
        /// The value given.
        value: f64,
    },
    /// A threshold is not in (0, 1].
    #[error("{name} must be greater than 0 and at most 1, got {value}")]
    ThresholdOutOfRange {
        /// The threshold at fault.
        name: ThresholdName,
        /// The value given.
        value: f64,
    },
    /// `HIGH_RISK_THRESHOLD` is not strictly below `CRITICAL_RISK_THRESHOLD`.
    #[error(
        "HIGH_RISK_THRESHOLD ({high}) must be strictly below CRITICAL_RISK_THRESHOLD ({critical})"
    )]
    ThresholdsOutOfOrder {
        /// The high threshold given.
        high: f64,
        /// The critical threshold given.
        critical: f64,
    },
}

impl ConfigError {
    /// The configuration variables this error is about, for a caller that reports
    /// errors as `{ var, reason }`.
    pub fn settings(&self) -> &'static [&'static str] {
        const WEIGHTS: &[&str] = &[
            "RISK_WEIGHT_RECENT_FAILURES",
            "RISK_WEIGHT_AMOUNT",
            "RISK_WEIGHT_OVERALL_FAILURES",
            "RISK_WEIGHT_PATTERN",
            "RISK_WEIGHT_ACCOUNT_AGE",
        ];
        const BOTH_THRESHOLDS: &[&str] = &["HIGH_RISK_THRESHOLD", "CRITICAL_RISK_THRESHOLD"];
        match self {
            ConfigError::NonFiniteWeight { name, .. }
            | ConfigError::NegativeWeight { name, .. } => match name {
                WeightName::RecentFailures => &WEIGHTS[0..1],
                WeightName::Amount => &WEIGHTS[1..2],
                WeightName::OverallFailures => &WEIGHTS[2..3],
                WeightName::Pattern => &WEIGHTS[3..4],
                WeightName::AccountAge => &WEIGHTS[4..5],
            },
            ConfigError::WeightsDoNotSumToOne { .. } => WEIGHTS,
            ConfigError::NonFiniteThreshold { name, .. }
            | ConfigError::ThresholdOutOfRange { name, .. } => match name {
                ThresholdName::High => &BOTH_THRESHOLDS[0..1],
                ThresholdName::Critical => &BOTH_THRESHOLDS[1..2],
            },
            ConfigError::ThresholdsOutOfOrder { .. } => BOTH_THRESHOLDS,
        }
    }
}

/// The five weights of the score (SPEC §3.1), each finite and ≥ 0, adding up to 1
/// within 1e-9. Only [`Weights::new`] and [`Weights::default`] make one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    recent_failures: f64,
    amount: f64,
    overall_failures: f64,
    pattern: f64,
    account_age: f64,
}

impl Weights {
    /// Checks and builds the weights (SPEC §3.3). Each must be finite and ≥ 0 (checked
    /// in argument order, the first fault is reported), then their sum must be 1 within
    /// [`WEIGHT_SUM_TOLERANCE`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::NonFiniteWeight`], [`ConfigError::NegativeWeight`] or
    /// [`ConfigError::WeightsDoNotSumToOne`], naming the weight(s) at fault.
    pub fn new(
        recent_failures: f64,
        amount: f64,
        overall_failures: f64,
        pattern: f64,
        account_age: f64,
    ) -> Result<Self, ConfigError> {
        let values = [
            recent_failures,
            amount,
            overall_failures,
            pattern,
            account_age,
        ];
        for (name, value) in WeightName::ALL.into_iter().zip(values) {
            if !value.is_finite() {
                return Err(ConfigError::NonFiniteWeight { name, value });
            }
            if value < 0.0 {
                return Err(ConfigError::NegativeWeight { name, value });
            }
        }
        let sum: f64 = values.iter().sum();
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(ConfigError::WeightsDoNotSumToOne { sum });
        }
        Ok(Weights {
            recent_failures,
            amount,
            overall_failures,
            pattern,
            account_age,
        })
    }

    /// Weight of the failure rate of the 3 newest payments (legacy 0.50).
    pub fn recent_failures(&self) -> f64 {
        self.recent_failures
    }

    /// Weight of the amount and downgrade term (legacy 0.20).
    pub fn amount(&self) -> f64 {
        self.amount
    }

    /// Weight of the failure rate over all payments (legacy 0.15).
    pub fn overall_failures(&self) -> f64 {
        self.overall_failures
    }

    /// Weight of the failure-pattern bonus (legacy 0.10).
    pub fn pattern(&self) -> f64 {
        self.pattern
    }

    /// Weight of the account-age term (legacy 0.05).
    pub fn account_age(&self) -> f64 {
        self.account_age
    }

    /// The weight called `name`.
    pub fn get(&self, name: WeightName) -> f64 {
        match name {
            WeightName::RecentFailures => self.recent_failures,
            WeightName::Amount => self.amount,
            WeightName::OverallFailures => self.overall_failures,
            WeightName::Pattern => self.pattern,
            WeightName::AccountAge => self.account_age,
        }
    }
}

impl Default for Weights {
    /// The legacy weights (SPEC §3.1): 0.50, 0.20, 0.15, 0.10, 0.05.
    fn default() -> Self {
        Weights {
            recent_failures: 0.50,
            amount: 0.20,
            overall_failures: 0.15,
            pattern: 0.10,
            account_age: 0.05,
        }
    }
}

/// The two configurable level thresholds, with `0 < high < critical <= 1`.
/// Only [`Thresholds::new`] and [`Thresholds::default`] make one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    high: f64,
    critical: f64,
}

impl Thresholds {
    /// Checks and builds the thresholds (SPEC §3.3): each finite and in (0, 1], and
    /// `high` strictly below `critical`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NonFiniteThreshold`], [`ConfigError::ThresholdOutOfRange`] or
    /// [`ConfigError::ThresholdsOutOfOrder`], naming the threshold(s) at fault.
    pub fn new(high: f64, critical: f64) -> Result<Self, ConfigError> {
        for (name, value) in [
            (ThresholdName::High, high),
            (ThresholdName::Critical, critical),
        ] {
            if !value.is_finite() {
                return Err(ConfigError::NonFiniteThreshold { name, value });
            }
            if value <= 0.0 || value > 1.0 {
                return Err(ConfigError::ThresholdOutOfRange { name, value });
            }
        }
        if high >= critical {
            return Err(ConfigError::ThresholdsOutOfOrder { high, critical });
        }
        Ok(Thresholds { high, critical })
    }

    /// `HIGH_RISK_THRESHOLD`: a score at or above it is at least high risk.
    pub fn high(&self) -> f64 {
        self.high
    }

    /// `CRITICAL_RISK_THRESHOLD`: a score at or above it is critical.
    pub fn critical(&self) -> f64 {
        self.critical
    }
}

impl Default for Thresholds {
    /// The legacy thresholds: 0.4 and 0.7.
    fn default() -> Self {
        Thresholds {
            high: HIGH_RISK_THRESHOLD,
            critical: CRITICAL_RISK_THRESHOLD,
        }
    }
}

/// Everything configurable about the model (SPEC §3.3). The default is the legacy model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoringConfig {
    /// The weights of the five terms.
    pub weights: Weights,
    /// The level thresholds.
    pub thresholds: Thresholds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_weights_are_the_legacy_ones_and_pass_validation() {
        let default = Weights::default();
        let rebuilt = Weights::new(0.50, 0.20, 0.15, 0.10, 0.05).expect("legacy weights are valid");
        assert_eq!(default, rebuilt);
        assert_eq!(default.get(WeightName::Pattern), 0.10);
    }

    #[test]
    fn default_thresholds_are_the_legacy_ones_and_pass_validation() {
        let default = Thresholds::default();
        assert_eq!(
            Thresholds::new(0.4, 0.7).expect("legacy thresholds are valid"),
            default
        );
        assert_eq!((default.high(), default.critical()), (0.4, 0.7));
    }

    #[test]
    fn negative_weight_is_refused_naming_its_variable() {
        let err = Weights::new(0.5, -0.1, 0.35, 0.2, 0.05).expect_err("negative weight");
        assert_eq!(
            err,
            ConfigError::NegativeWeight {
                name: WeightName::Amount,
                value: -0.1
            }
        );
        assert_eq!(
            err.to_string(),
            "RISK_WEIGHT_AMOUNT must be zero or positive, got -0.1"
        );
        assert_eq!(err.settings(), ["RISK_WEIGHT_AMOUNT"]);
    }

    #[test]
    fn non_finite_weights_are_refused_naming_their_variable() {
        for (bad, name) in [
            (f64::NAN, WeightName::RecentFailures),
            (f64::INFINITY, WeightName::RecentFailures),
            (f64::NEG_INFINITY, WeightName::RecentFailures),
        ] {
            let err = Weights::new(bad, 0.2, 0.15, 0.1, 0.05).expect_err("non-finite weight");
            assert!(
                matches!(err, ConfigError::NonFiniteWeight { name: n, .. } if n == name),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("RISK_WEIGHT_RECENT_FAILURES must be a finite")
            );
        }
        let err = Weights::new(0.5, 0.2, 0.15, 0.1, f64::NAN).expect_err("NaN age weight");
        assert_eq!(err.settings(), ["RISK_WEIGHT_ACCOUNT_AGE"]);
    }

    #[test]
    fn weights_that_do_not_sum_to_one_are_refused_naming_all_five() {
        let err = Weights::new(0.5, 0.2, 0.15, 0.1, 0.1).expect_err("sum 1.05");
        assert!(
            matches!(err, ConfigError::WeightsDoNotSumToOne { sum } if (sum - 1.05).abs() < 1e-12)
        );
        let message = err.to_string();
        for name in WeightName::ALL {
            assert!(message.contains(name.env_var()), "{message}");
        }
        assert_eq!(err.settings().len(), 5);
    }

    #[test]
    fn weights_summing_to_one_within_tolerance_are_accepted() {
        assert!(Weights::new(0.5, 0.2, 0.15, 0.1, 0.05 + 5e-10).is_ok());
        assert!(Weights::new(0.5, 0.2, 0.15, 0.1, 0.05 - 5e-10).is_ok());
        assert!(Weights::new(0.5, 0.2, 0.15, 0.1, 0.05 + 2e-9).is_err());
        assert!(Weights::new(1.0, 0.0, 0.0, 0.0, 0.0).is_ok());
    }

    #[test]
    fn thresholds_out_of_order_are_refused_naming_both_variables() {
        for (high, critical) in [(0.7, 0.4), (0.5, 0.5)] {
            let err = Thresholds::new(high, critical).expect_err("out of order");
            assert_eq!(err, ConfigError::ThresholdsOutOfOrder { high, critical });
            let message = err.to_string();
            assert!(
                message.contains("HIGH_RISK_THRESHOLD")
                    && message.contains("CRITICAL_RISK_THRESHOLD")
            );
            assert_eq!(
                err.settings(),
                ["HIGH_RISK_THRESHOLD", "CRITICAL_RISK_THRESHOLD"]
            );
        }
    }

    #[test]
    fn thresholds_outside_zero_to_one_are_refused() {
        assert_eq!(
            Thresholds::new(0.0, 0.7),
            Err(ConfigError::ThresholdOutOfRange {
                name: ThresholdName::High,
                value: 0.0
            })
        );
        assert_eq!(
            Thresholds::new(0.4, 1.5),
            Err(ConfigError::ThresholdOutOfRange {
                name: ThresholdName::Critical,
                value: 1.5
            })
        );
        assert!(Thresholds::new(-0.1, 0.7).is_err());
        assert!(Thresholds::new(0.4, 1.0).is_ok());
        let err = Thresholds::new(0.4, 1.5).expect_err("above 1");
        assert_eq!(
            err.to_string(),
            "CRITICAL_RISK_THRESHOLD must be greater than 0 and at most 1, got 1.5"
        );
    }

    #[test]
    fn non_finite_thresholds_are_refused() {
        let err = Thresholds::new(f64::NAN, 0.7).expect_err("NaN");
        assert!(matches!(
            err,
            ConfigError::NonFiniteThreshold {
                name: ThresholdName::High,
                ..
            }
        ));
        assert!(Thresholds::new(0.4, f64::INFINITY).is_err());
    }

    #[test]
    fn setting_names_display_as_configuration_variables() {
        let names: Vec<String> = WeightName::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "RISK_WEIGHT_RECENT_FAILURES",
                "RISK_WEIGHT_AMOUNT",
                "RISK_WEIGHT_OVERALL_FAILURES",
                "RISK_WEIGHT_PATTERN",
                "RISK_WEIGHT_ACCOUNT_AGE"
            ]
        );
        assert_eq!(ThresholdName::High.to_string(), "HIGH_RISK_THRESHOLD");
        assert_eq!(
            ThresholdName::Critical.to_string(),
            "CRITICAL_RISK_THRESHOLD"
        );
    }
}
