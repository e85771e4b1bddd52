//! Validated values shared by every layer: statuses, money, the inputs the
//! service accepts (email, currency code, idempotency key, short texts), and
//! the risky list's query (filter and cursor).
//!
//! Input becomes one of these at the edge; after that nothing checks again
//! (STYLE principle 2). The stored enumerations are the entity crate's active
//! enums, re-exported here so that every layer names one type.

use std::fmt;
use std::hash::{Hash, Hasher};

use entity::sea_orm_active_enums::RiskLevel as StoredLevel;
pub use entity::sea_orm_active_enums::{PaymentStatus, PlanStatus, Role};

use crate::error::{AppError, AppResult};
use crate::risk::{Outcome, RiskLevel, RiskPattern};

impl From<PaymentStatus> for Outcome {
    /// How the risk model counts a status (SPEC §2: failed and declined fail;
    /// pending and refunded are neither a success nor a failure).
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Success => Outcome::Success,
            PaymentStatus::Failed | PaymentStatus::Declined => Outcome::Failed,
            PaymentStatus::Pending | PaymentStatus::Refunded => Outcome::Neutral,
        }
    }
}

impl From<RiskLevel> for StoredLevel {
    fn from(level: RiskLevel) -> Self {
        match level {
            RiskLevel::Low => Self::Low,
            RiskLevel::Medium => Self::Medium,
            RiskLevel::High => Self::High,
            RiskLevel::Critical => Self::Critical,
        }
    }
}

impl From<StoredLevel> for RiskLevel {
    fn from(level: StoredLevel) -> Self {
        match level {
            StoredLevel::Low => Self::Low,
            StoredLevel::Medium => Self::Medium,
            StoredLevel::High => Self::High,
            StoredLevel::Critical => Self::Critical,
        }
    }
}

/// What a request may do; each role is granted some (SPEC §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Every query, the REST reads, exports.
    Read,
    /// Raise alerts and work cases.
    Alert,
    /// Record users, plans and payments.
    Ingest,
    /// Keys, channels, the audit trail, metrics.
    Admin,
}

impl Permission {
    /// Whether `role` holds this permission: a viewer reads; an agent reads
    /// and alerts; ingest only ingests; an admin does everything.
    pub fn granted_to(self, role: Role) -> bool {
        matches!(
            (role, self),
            (Role::Admin, _)
                | (Role::Viewer, Permission::Read)
                | (Role::Agent, Permission::Read | Permission::Alert)
                | (Role::Ingest, Permission::Ingest)
        )
    }
}

/// A role's name as clients and the command line spell it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Agent => "agent",
        Role::Ingest => "ingest",
        Role::Admin => "admin",
    }
}

/// The role spelled `name` (`viewer`, `agent`, `ingest` or `admin`).
pub fn parse_role(name: &str) -> AppResult<Role> {
    match name.trim().to_ascii_lowercase().as_str() {
        "viewer" => Ok(Role::Viewer),
        "agent" => Ok(Role::Agent),
        "ingest" => Ok(Role::Ingest),
        "admin" => Ok(Role::Admin),
        other => Err(AppError::bad_input(
            "role",
            format!("{other:?} is not one of viewer, agent, ingest, admin"),
        )),
    }
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API key in `Authorization: Bearer`.
    Key,
    /// A console session cookie (a person signed in with their key).
    Session,
    /// No credential, from a network allowed on the legacy routes.
    Network(ipnet::IpNet),
    /// No credential needed: `AUTH=off` on loopback.
    Local,
    /// The command line, on the database directly.
    CommandLine,
}

/// Who makes a request, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The key's name (a person or a system), or what stands for it.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// How they proved it.
    pub credential: Credential,
}

impl Actor {
    /// Everyone on a loopback service with `AUTH=off`.
    pub fn local() -> Self {
        Self {
            name: "local".to_owned(),
            role: Role::Admin,
            credential: Credential::Local,
        }
    }

    /// The operator at the command line.
    pub fn command_line() -> Self {
        Self {
            name: "cli".to_owned(),
            role: Role::Admin,
            credential: Credential::CommandLine,
        }
    }

    /// A legacy client without credentials, from `network`: it may read and
    /// raise alerts on the legacy routes only.
    pub fn network(network: ipnet::IpNet) -> Self {
        Self {
            name: network.to_string(),
            role: Role::Agent,
            credential: Credential::Network(network),
        }
    }

    /// Whether the actor holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        permission.granted_to(self.role)
    }

    /// How the audit trail names the actor: `key:NAME`, `session:NAME`,
    /// `network:CIDR`, `local` or `cli`.
    pub fn audit_name(&self) -> String {
        match &self.credential {
            Credential::Key => format!("key:{}", self.name),
            Credential::Session => format!("session:{}", self.name),
            Credential::Network(network) => format!("network:{network}"),
            Credential::Local => "local".to_owned(),
            Credential::CommandLine => "cli".to_owned(),
        }
    }
}

/// Who asks, in which request: what an audit entry records of its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub actor: Actor,
    /// The request's `x-request-id`, if it came over HTTP.
    pub request_id: Option<String>,
}

impl Caller {
    /// `actor` outside any request.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            request_id: None,
        }
    }
}

/// A plan status from a client: `active`, `cancelled` or `suspended`, in
/// any case.
pub fn plan_status(value: &str) -> AppResult<PlanStatus> {
    match value.trim().to_ascii_lowercase().as_str() {
        "active" => Ok(PlanStatus::Active),
        "cancelled" => Ok(PlanStatus::Cancelled),
        "suspended" => Ok(PlanStatus::Suspended),
        other => Err(AppError::bad_input(
            "status",
            format!("{other:?} is not one of active, cancelled, suspended"),
        )),
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

    /// [`Cents::from_units`] for the input field `field`.
    pub fn parse(units: f64, field: &str) -> AppResult<Self> {
        Self::from_units(units).map_err(|e| AppError::bad_input(field, e.to_string()))
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

/// A required short text: trimmed, not empty, at most `max` characters, no
/// NUL (neither database stores one).
pub fn text(value: &str, field: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain a NUL character",
        ));
    }
    Ok(value.to_owned())
}

/// [`text`] when present.
pub fn optional_text(value: Option<&str>, field: &str, max: usize) -> AppResult<Option<String>> {
    value.map(|v| text(v, field, max)).transpose()
}

/// The longest `search` a list accepts, in characters.
pub const MAX_SEARCH: usize = 200;

/// A list filter's text (`search`, `subscriptionType`): trimmed, blank as no
/// filter, at most `max` characters, no NUL.
pub fn filter_text(value: Option<&str>, field: &str, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => text(value, field, max).map(Some),
        None => Ok(None),
    }
}

/// A free-text note: trimmed, blank as none, at most 2000 characters.
pub fn note(value: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    text(value, "note", 2000).map(Some)
}

/// A plausible email, lower-case so that uniqueness ignores case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// One `@`, something on each side, a dot inside the domain, no blank.
    pub fn parse(value: &str) -> AppResult<Self> {
        let value = text(value, "email", 254)?.to_lowercase();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !value.contains(char::is_whitespace)
            }
            None => false,
        };
        if valid {
            Ok(Self(value))
        } else {
            Err(AppError::bad_input(
                "email",
                format!("{value:?} is not an email address"),
            ))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An ISO 4217 currency code: three ASCII letters, stored upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    /// The code of every amount that names none.
    pub fn euro() -> Self {
        Self("EUR".to_owned())
    }

    /// The client's code, EUR when absent.
    pub fn parse_or_euro(value: Option<&str>) -> AppResult<Self> {
        let Some(value) = value else {
            return Ok(Self::euro());
        };
        let value = value.trim();
        if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(Self(value.to_ascii_uppercase()))
        } else {
            Err(AppError::bad_input(
                "currency",
                format!("{value:?} is not a three-letter ISO 4217 code"),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A client's key that makes a write happen once (SPEC §4 `sendAlert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1 to 200 characters once trimmed.
    pub fn parse(value: &str) -> AppResult<Self> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 200 || value.contains('\0') {
            return Err(AppError::bad_input(
                "idempotencyKey",
                "must be 1 to 200 characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lowest score a list shows: a finite number, compared and hashed by
/// its bits so that a filter can key a cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinScore(f64);

impl MinScore {
    /// The lists' default (SPEC §4 `minScore`, §5 `min_risk_score`): the
    /// default high-risk threshold.
    pub const DEFAULT: Self = Self(0.4);

    /// Refuses NaN and infinities.
    pub fn parse(value: f64, field: &str) -> AppResult<Self> {
        if value.is_finite() {
            Ok(Self(value))
        } else {
            Err(AppError::bad_input(field, "must be a number"))
        }
    }

    /// The score.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Eq for MinScore {}

impl Hash for MinScore {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl Default for MinScore {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which stored scores a list shows (SPEC §4 `riskyUsers`, §5 `/api/risky-users`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RiskyFilter {
    /// Lowest score shown.
    pub min_score: MinScore,
    /// Only this level.
    pub level: Option<RiskLevel>,
    /// Only users with this pattern.
    pub pattern: Option<RiskPattern>,
    /// Case-insensitive substring of the name or email.
    pub search: Option<String>,
    /// Only this plan type (case-insensitive).
    pub subscription_type: Option<String>,
    /// Only users with a plan (the legacy list's join).
    pub require_plan: bool,
}

/// A position in the risky list: after this score and user id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ListCursor {
    /// The score of the last row seen.
    pub score: f64,
    /// The user id of the last row seen.
    pub user_id: i64,
}

impl ListCursor {
    /// The cursor as clients see it: the score's exact bits in hex, then
    /// the user id (`3fd999999999999a:42`).
    pub fn encode(&self) -> String {
        format!("{:016x}:{}", self.score.to_bits(), self.user_id)
    }

    /// Reads what [`ListCursor::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (bits, id) = text.split_once(':')?;
        let score = f64::from_bits(u64::from_str_radix(bits, 16).ok()?);
        let user_id = id.parse::<i64>().ok()?;
        score.is_finite().then_some(Self { score, user_id })
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
    fn statuses_classify_for_the_model() {
        assert_eq!(Outcome::from(PaymentStatus::Success), Outcome::Success);
        assert_eq!(Outcome::from(PaymentStatus::Declined), Outcome::Failed);
        assert_eq!(Outcome::from(PaymentStatus::Refunded), Outcome::Neutral);
    }

    #[test]
    fn levels_round_trip_through_storage() {
        for level in RiskLevel::ALL {
            assert_eq!(RiskLevel::from(StoredLevel::from(level)), level);
        }
    }

    #[test]
    fn each_role_holds_the_permissions_of_spec_9() {
        use Permission::*;
        let holds = |role| {
            [Read, Alert, Ingest, Admin]
                .into_iter()
                .filter(|p| p.granted_to(role))
                .collect::<Vec<_>>()
        };
        assert_eq!(holds(Role::Viewer), [Read]);
        assert_eq!(holds(Role::Agent), [Read, Alert]);
        assert_eq!(holds(Role::Ingest), [Ingest]);
        assert_eq!(holds(Role::Admin), [Read, Alert, Ingest, Admin]);
        for role in [Role::Viewer, Role::Agent, Role::Ingest, Role::Admin] {
            assert_eq!(parse_role(role_name(role)).ok(), Some(role));
        }
        assert!(parse_role("root").is_err());
    }

    #[test]
    fn inputs_are_parsed_once_at_the_edge() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ")
                .map(Email::into_string)
                .ok(),
            Some("ann@example.com".to_owned())
        );
        for bad in ["ann", "ann@example", "@example.com", "a b@example.com"] {
            assert_eq!(
                Email::parse(bad).map_err(|e| e.code().as_str()).err(),
                Some("BAD_USER_INPUT")
            );
        }
        assert_eq!(
            CurrencyCode::parse_or_euro(Some("usd"))
                .ok()
                .map(CurrencyCode::into_string),
            Some("USD".to_owned())
        );
        assert_eq!(
            CurrencyCode::parse_or_euro(None).ok(),
            Some(CurrencyCode::euro())
        );
        assert!(CurrencyCode::parse_or_euro(Some("EURO")).is_err());
        assert!(IdempotencyKey::parse("  ").is_err());
        assert!(text("a\0b", "name", 10).is_err(), "NUL is refused");
        assert_eq!(filter_text(Some("  "), "search", 5).ok(), Some(None));
        assert_eq!(
            filter_text(Some(" ann "), "search", 5).ok(),
            Some(Some("ann".to_owned()))
        );
        assert!(filter_text(Some("a\0"), "search", 5).is_err());
        assert!(filter_text(Some("abcdef"), "search", 5).is_err());
        assert_eq!(plan_status("Active").ok(), Some(PlanStatus::Active));
        assert!(plan_status("paused").is_err());
        assert!(MinScore::parse(f64::NAN, "minScore").is_err());
    }
}
