//! Validated values shared by every layer: payment statuses and money.
//!
//! Input becomes one of these at the edge; after that nothing checks again
//! (STYLE principle 2).

use std::fmt;

use crate::risk::Outcome;

/// A payment's status as recorded (SPEC §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Paid.
    Success,
    /// Failed (counts as a failure).
    Failed,
    /// Declined (counts as a failure).
    Declined,
    /// Not settled yet: neither a success nor a failure.
    Pending,
    /// Paid then refunded: neither a success nor a failure.
    Refunded,
}

impl PaymentStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Failed,
        Self::Declined,
        Self::Pending,
        Self::Refunded,
    ];

    /// The stored spelling (the legacy one).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Declined => "declined",
            Self::Pending => "pending",
            Self::Refunded => "refunded",
        }
    }

    /// Parses the stored spelling, ignoring case.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }

    /// How the risk model counts it (SPEC §2: failed and declined fail).
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Success => Outcome::Success,
            Self::Failed | Self::Declined => Outcome::Failed,
            Self::Pending | Self::Refunded => Outcome::Neutral,
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in integer cents; never a binary float (SPEC §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(i64);

/// Why an amount was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// NaN or infinite.
    #[error("must be a finite number")]
    NotFinite,
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// More than two decimals, e.g. 12.999.
    #[error("must have at most two decimals")]
    TooPrecise,
    /// Beyond what the service stores.
    #[error("is too large")]
    TooLarge,
}

impl Cents {
    /// The largest amount accepted: ten million units.
    pub const MAX: i64 = 1_000_000_000;

    /// Wraps a count of cents.
    pub fn new(cents: i64) -> Self {
        Self(cents)
    }

    /// Parses a JSON number of currency units with at most two decimals
    /// (SPEC §4: 12.99 is accepted, 12.999 and -1 are not).
    pub fn from_units(units: f64) -> Result<Self, AmountError> {
        if !units.is_finite() {
            return Err(AmountError::NotFinite);
        }
        if units < 0.0 {
            return Err(AmountError::Negative);
        }
        let scaled = units * 100.0;
        let rounded = scaled.round();
        // 12.99 * 100 is 1298.9999999999998: accept binary noise, refuse a third decimal.
        if (scaled - rounded).abs() > 1e-6 * rounded.max(1.0) {
            return Err(AmountError::TooPrecise);
        }
        if rounded > Self::MAX as f64 {
            return Err(AmountError::TooLarge);
        }
        Ok(Self(rounded as i64))
    }

    /// The count of cents.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The amount in currency units, as the legacy API showed it (12.99).
    /// `cents / 100` is the correctly rounded double of the decimal value, so
    /// it prints and compares exactly like the literal.
    pub fn units(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_decimal_amounts_convert_exactly() {
        for (units, cents) in [
            (12.99, 1299),
            (0.0, 0),
            (1.21, 121),
            (15.99, 1599),
            (0.07, 7),
        ] {
            let parsed = Cents::from_units(units).expect("valid amount");
            assert_eq!(parsed.get(), cents);
            assert_eq!(parsed.units(), units);
        }
    }

    #[test]
    fn negative_over_precise_and_non_finite_amounts_are_refused() {
        assert_eq!(Cents::from_units(-1.0), Err(AmountError::Negative));
        assert_eq!(Cents::from_units(12.999), Err(AmountError::TooPrecise));
        assert_eq!(Cents::from_units(f64::NAN), Err(AmountError::NotFinite));
        assert_eq!(Cents::from_units(1e12), Err(AmountError::TooLarge));
    }

    #[test]
    fn statuses_round_trip_and_classify() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("Failed"), Some(PaymentStatus::Failed));
        assert_eq!(PaymentStatus::parse("lost"), None);
        assert_eq!(PaymentStatus::Declined.outcome(), Outcome::Failed);
        assert_eq!(PaymentStatus::Refunded.outcome(), Outcome::Neutral);
    }
}
