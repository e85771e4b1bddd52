//! Settings: `config.env` (read with dotenvy) overlaid by real environment
//! variables, parsed into typed values and validated once, at start (SPEC §6).
//!
//! Nothing else in the crate reads the environment. Every parse error names
//! the variable and says what it accepts, so a bad value stops the start with
//! a message an operator can act on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use chrono::NaiveTime;

use crate::risk::{RiskLevel, ScoringConfig, Thresholds, Weights};

/// The default database: an SQLite file in the working folder, created on
/// first run (SPEC §6).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://risk_monitor.db?mode=rwc";

/// A setting that could not be used, with the variable it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid {var}={value:?}: expected {expected}")]
    Invalid {
        /// The variable's name, e.g. `HIGH_RISK_THRESHOLD`.
        var: &'static str,
        /// The value as given.
        value: String,
        /// What the variable accepts.
        expected: &'static str,
    },
    /// Values that parse but do not fit together (weights, thresholds).
    #[error("{0}")]
    Model(#[from] crate::risk::ConfigError),
    /// The configuration file exists but cannot be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file's path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where the data lives.
#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
}

impl DatabaseSettings {
    /// Whether the URL names an SQLite database (else PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }
}

/// Where the HTTP server listens.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind; 0 takes any free port.
    pub port: u16,
}

/// Whether requests must carry credentials (SPEC §9 `AUTH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request but the health probes and the sign-in page carries an
    /// API key or a session.
    Required,
    /// No credentials: every request acts as the local administrator.
    /// Allowed only while the service listens on loopback.
    Off,
}

/// Log lines as text for people or JSON for a collector (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Who may do what, and from where (SPEC §9).
#[derive(Clone, Debug)]
pub struct AccessSettings {
    /// `AUTH`: `required` by default off loopback, `off` by default on it.
    pub auth: AuthMode,
    /// `ALLOWED_HOSTS`: the `Host` names the service answers for.
    pub allowed_hosts: Vec<String>,
    /// `CORS_ORIGINS`: origins whose pages may call the API (none by default).
    pub cors_origins: Vec<String>,
    /// `LEGACY_ANONYMOUS_NETWORKS`: networks whose clients may use the legacy
    /// REST routes without credentials (none by default).
    pub legacy_anonymous_networks: Vec<ipnet::IpNet>,
    /// `SESSION_HOURS`: how long a console session lasts.
    pub session_lifetime: Duration,
}

/// Limits that keep one client from stalling the service (SPEC §9).
#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// `RATE_LIMIT_PER_MINUTE`: requests per key (or per address without
    /// one) and minute; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// `REQUEST_TIMEOUT_SECONDS`: each request's time budget (and the
    /// database statement timeout on PostgreSQL).
    pub request_timeout: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may take to
    /// finish after SIGTERM.
    pub shutdown_grace: Duration,
}

/// Operators' switches (SPEC §9).
#[derive(Clone, Debug)]
pub struct OperationSettings {
    /// `EXPLORER`: serve GraphiQL.
    pub explorer: bool,
    /// `INTROSPECTION`: answer GraphQL introspection queries.
    pub introspection: bool,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `METRICS_ADDR`: a second listener serving only `/metrics`, without
    /// credentials (for a scraper on a private network).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Alerts, deliveries and the digest (SPEC §10).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertSettings {
    /// `AUTO_ALERT_LEVEL`: a user rising to this level or above gets an
    /// automatic alert; `None` (`off`) raises none.
    pub auto_level: Option<RiskLevel>,
    /// `AUTO_ALERT_COOLDOWN_HOURS`: after a user's case is closed, no
    /// automatic alert for them until this has passed.
    pub cooldown: Duration,
    /// `STORM_THRESHOLD_PER_MINUTE`: alerts a channel gets one by one in a
    /// minute; past it, one summary for the rest of that minute.
    pub storm_per_minute: u32,
    /// `DELIVERY_TIMEOUT_SECONDS`: how long one try waits for an answer.
    pub delivery_timeout: Duration,
    /// `DELIVERY_MAX_AGE_HOURS`: how long a delivery is retried before it
    /// is marked failed.
    pub delivery_max_age: Duration,
    /// `DELIVERY_RETRY_BASE_SECONDS`: the wait before the second try; it
    /// doubles at each try after.
    pub retry_base: Duration,
    /// `DELIVERY_RETRY_CAP_SECONDS`: the longest wait between tries.
    pub retry_cap: Duration,
    /// `DIGEST_TIME`: when (UTC) the daily digest goes out; `None` (`off`)
    /// sends none.
    pub digest_time: Option<NaiveTime>,
    /// `PUBLIC_URL`: the service's address as people reach it, for links
    /// in messages (no trailing slash).
    pub public_url: String,
}

impl Default for AlertSettings {
    /// The documented defaults (SPEC §10), with links to the default address.
    fn default() -> Self {
        Self {
            auto_level: Some(RiskLevel::Critical),
            cooldown: Duration::from_secs(24 * 3_600),
            storm_per_minute: 30,
            delivery_timeout: Duration::from_secs(5),
            delivery_max_age: Duration::from_secs(24 * 3_600),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(3_600),
            digest_time: NaiveTime::from_hms_opt(8, 0, 0),
            public_url: "http://127.0.0.1:8000".to_owned(),
        }
    }
}

/// Every setting of the service, typed and validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Database connection.
    pub database: DatabaseSettings,
    /// A PostgreSQL streaming replica of `database` (`DATABASE_READ_URL`):
    /// lists, analyses, statistics and exports read from it; writes, and
    /// the reads of a request that writes, go to `database`.
    pub database_read: Option<DatabaseSettings>,
    /// HTTP listener.
    pub http: HttpSettings,
    /// A `tracing` filter directive, e.g. `info` or `risk_monitor=debug`.
    pub log_level: String,
    /// Load demo users into an empty database at `serve`.
    pub demo_data: bool,
    /// Weights and thresholds of the risk model (SPEC §3.3).
    pub scoring: ScoringConfig,
    /// How often the background refresher looks for scores whose
    /// next-change instant has passed (SPEC §3.4).
    pub rescore_interval: Duration,
    /// Credentials, hosts, origins.
    pub access: AccessSettings,
    /// Time budgets and rate limits.
    pub limits: LimitSettings,
    /// Explorer, introspection, logs, metrics.
    pub operations: OperationSettings,
    /// Automatic alerts, deliveries, the digest.
    pub alerts: AlertSettings,
}

impl Settings {
    /// Reads `config_path` if it exists (a missing file is fine: every setting
    /// has a default), then the process environment, which wins.
    pub fn load(config_path: &Path) -> Result<Self, ConfigError> {
        let mut file = HashMap::new();
        if config_path.exists() {
            let file_error = |reason: String| ConfigError::File {
                path: config_path.display().to_string(),
                reason,
            };
            let iter =
                dotenvy::from_filename_iter(config_path).map_err(|e| file_error(e.to_string()))?;
            for item in iter {
                let (key, value) = item.map_err(|e| file_error(e.to_string()))?;
                file.insert(key, value);
            }
        }
        Self::from_lookup(|var| std::env::var(var).ok().or_else(|| file.get(var).cloned()))
    }

    /// Builds the settings from a variable lookup (environment first, then
    /// file, in [`Settings::load`]); tests pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                value: url,
                expected: "a sqlite://… or postgres://… URL",
            });
        }

        let database_read = match get("DATABASE_READ_URL") {
            None => None,
            Some(read) if url.starts_with("postgres") && read.starts_with("postgres") => {
                Some(DatabaseSettings { url: read })
            }
            Some(read) => {
                return Err(ConfigError::Invalid {
                    var: "DATABASE_READ_URL",
                    value: read,
                    expected: "a postgres://… URL of a streaming replica of the PostgreSQL \
                               DATABASE_URL",
                });
            }
        };

        let host = parse(
            &get,
            "API_HOST",
            "127.0.0.1",
            "an IP address such as 127.0.0.1 or 0.0.0.0",
        )?;
        let port = parse(&get, "API_PORT", "8000", "a port number from 0 to 65535")?;

        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::Invalid {
                var: "LOG_LEVEL",
                value: log_level,
                expected: "a tracing filter such as info, debug or risk_monitor=debug",
            });
        }

        let demo_data = parse_bool(&get, "DEMO_DATA", true)?;

        const UNIT: &str = "a number from 0 to 1";
        let high = parse(&get, "HIGH_RISK_THRESHOLD", "0.4", UNIT)?;
        let critical = parse(&get, "CRITICAL_RISK_THRESHOLD", "0.7", UNIT)?;
        let weights = Weights::new(
            parse(&get, "RISK_WEIGHT_RECENT_FAILURES", "0.50", UNIT)?,
            parse(&get, "RISK_WEIGHT_AMOUNT", "0.20", UNIT)?,
            parse(&get, "RISK_WEIGHT_OVERALL_FAILURES", "0.15", UNIT)?,
            parse(&get, "RISK_WEIGHT_PATTERN", "0.10", UNIT)?,
            parse(&get, "RISK_WEIGHT_ACCOUNT_AGE", "0.05", UNIT)?,
        )?;
        let thresholds = Thresholds::new(high, critical)?;
        let interval: u64 = parse(
            &get,
            "RESCORE_INTERVAL_SECONDS",
            "60",
            "a whole number of seconds from 1 to 86400",
        )?;
        if !(1..=86_400).contains(&interval) {
            return Err(ConfigError::Invalid {
                var: "RESCORE_INTERVAL_SECONDS",
                value: interval.to_string(),
                expected: "a whole number of seconds from 1 to 86400",
            });
        }

        let access = access(&get, host)?;
        let limits = LimitSettings {
            rate_limit_per_minute: ranged(&get, "RATE_LIMIT_PER_MINUTE", 600, 0..=1_000_000)?,
            request_timeout: Duration::from_secs(ranged(
                &get,
                "REQUEST_TIMEOUT_SECONDS",
                10,
                1..=3_600,
            )?),
            shutdown_grace: Duration::from_secs(ranged(
                &get,
                "SHUTDOWN_GRACE_SECONDS",
                10,
                0..=3_600,
            )?),
        };
        let operations = OperationSettings {
            explorer: parse_bool(&get, "EXPLORER", true)?,
            introspection: parse_bool(&get, "INTROSPECTION", true)?,
            log_format: match get("LOG_FORMAT").as_deref().unwrap_or("text") {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid {
                        var: "LOG_FORMAT",
                        value: other.to_owned(),
                        expected: "text or json",
                    });
                }
            },
            metrics_addr: get("METRICS_ADDR")
                .map(|v| {
                    v.parse().map_err(|_| ConfigError::Invalid {
                        var: "METRICS_ADDR",
                        value: v,
                        expected: "an address and port such as 127.0.0.1:9100",
                    })
                })
                .transpose()?,
        };

        let alerts = alert_settings(&get, host, port)?;

        Ok(Self {
            database: DatabaseSettings { url },
            database_read,
            http: HttpSettings { host, port },
            log_level,
            demo_data,
            scoring: ScoringConfig {
                weights,
                thresholds,
            },
            rescore_interval: Duration::from_secs(interval),
            access,
            limits,
            operations,
            alerts,
        })
    }
}

/// The alerting settings; `host` and `port` make the default `PUBLIC_URL`.
fn alert_settings(
    get: &impl Fn(&str) -> Option<String>,
    host: IpAddr,
    port: u16,
) -> Result<AlertSettings, ConfigError> {
    let auto_level = match get("AUTO_ALERT_LEVEL").map(|v| v.to_ascii_lowercase()) {
        None => Some(RiskLevel::Critical),
        Some(v) if v == "off" => None,
        Some(v) => Some(RiskLevel::from_name(&v).ok_or(ConfigError::Invalid {
            var: "AUTO_ALERT_LEVEL",
            value: v,
            expected: "LOW, MEDIUM, HIGH, CRITICAL or off",
        })?),
    };
    let hours = |var, default, max| -> Result<Duration, ConfigError> {
        let hours: u64 = ranged(get, var, default, 0..=max)?;
        Ok(Duration::from_secs(hours * 3_600))
    };
    let digest_time = match get("DIGEST_TIME") {
        None => NaiveTime::from_hms_opt(8, 0, 0),
        Some(v) if v.eq_ignore_ascii_case("off") => None,
        Some(v) => {
            Some(
                NaiveTime::parse_from_str(&v, "%H:%M").map_err(|_| ConfigError::Invalid {
                    var: "DIGEST_TIME",
                    value: v,
                    expected: "a UTC time such as 08:00, or off",
                })?,
            )
        }
    };
    let public_url = match get("PUBLIC_URL") {
        None if host.is_ipv6() => format!("http://[{host}]:{port}"),
        None => format!("http://{host}:{port}"),
        Some(v) => {
            let valid = (v.starts_with("http://") || v.starts_with("https://"))
                && v.len() > "https://".len()
                && !v.chars().any(char::is_whitespace);
            if !valid {
                return Err(ConfigError::Invalid {
                    var: "PUBLIC_URL",
                    value: v,
                    expected: "an http or https URL such as https://risk.example.com",
                });
            }
            v.trim_end_matches('/').to_owned()
        }
    };
    Ok(AlertSettings {
        auto_level,
        cooldown: hours("AUTO_ALERT_COOLDOWN_HOURS", 24, 24 * 365)?,
        storm_per_minute: ranged(get, "STORM_THRESHOLD_PER_MINUTE", 30, 1..=1_000_000)?,
        delivery_timeout: seconds(get, "DELIVERY_TIMEOUT_SECONDS", 5.0, 0.1..=300.0)?,
        delivery_max_age: hours("DELIVERY_MAX_AGE_HOURS", 24, 24 * 30)?,
        retry_base: seconds(get, "DELIVERY_RETRY_BASE_SECONDS", 1.0, 0.01..=3_600.0)?,
        retry_cap: seconds(get, "DELIVERY_RETRY_CAP_SECONDS", 3_600.0, 0.01..=86_400.0)?,
        digest_time,
        public_url,
    })
}

/// A duration in (possibly fractional) seconds within `range`.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Duration, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(Duration::from_secs_f64(default));
    };
    match value.parse::<f64>() {
        Ok(n) if range.contains(&n) => Ok(Duration::from_secs_f64(n)),
        _ => Err(ConfigError::Invalid {
            var,
            value,
            expected: "a number of seconds in the documented range",
        }),
    }
}

/// The access settings; `host` is the address the service listens on.
fn access(
    get: &impl Fn(&str) -> Option<String>,
    host: IpAddr,
) -> Result<AccessSettings, ConfigError> {
    let auth = match get("AUTH").map(|v| v.to_ascii_lowercase()).as_deref() {
        None if host.is_loopback() => AuthMode::Off,
        None | Some("required") => AuthMode::Required,
        Some("off") if host.is_loopback() => AuthMode::Off,
        Some("off") => {
            return Err(ConfigError::Invalid {
                var: "AUTH",
                value: "off".to_owned(),
                expected: "required while API_HOST is not a loopback address (off is allowed \
                           only on 127.0.0.1 or ::1)",
            });
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: "AUTH",
                value: other.to_owned(),
                expected: "required or off",
            });
        }
    };
    let mut allowed_hosts = list(get, "ALLOWED_HOSTS");
    if allowed_hosts.is_empty() {
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]", "::1"]
            .map(str::to_owned)
            .to_vec();
    }
    let allowed_hosts = allowed_hosts
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let cors_origins = list(get, "CORS_ORIGINS");
    for origin in &cors_origins {
        let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.ends_with('/');
        if !valid {
            return Err(ConfigError::Invalid {
                var: "CORS_ORIGINS",
                value: origin.clone(),
                expected: "origins such as https://console.example.com, comma-separated",
            });
        }
    }
    let legacy_anonymous_networks = list(get, "LEGACY_ANONYMOUS_NETWORKS")
        .into_iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    var: "LEGACY_ANONYMOUS_NETWORKS",
                    value: n.clone(),
                    expected: "networks such as 10.0.0.0/8 or 192.168.1.20, comma-separated",
                })
        })
        .collect::<Result<_, _>>()?;
    let hours: u64 = ranged(get, "SESSION_HOURS", 12, 1..=24 * 90)?;
    Ok(AccessSettings {
        auth,
        allowed_hosts,
        cors_origins,
        legacy_anonymous_networks,
        session_lifetime: Duration::from_secs(hours * 3_600),
    })
}

/// A comma-separated list, blanks dropped.
fn list(get: &impl Fn(&str) -> Option<String>, var: &str) -> Vec<String> {
    get(var)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A whole number in `range`, `default` when unset.
fn ranged<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = get(var) else {
        return Ok(default);
    };
    match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value,
            expected: "a whole number in the documented range",
        }),
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let value = get(var).unwrap_or_else(|| default.to_owned());
    value.parse().map_err(|_| ConfigError::Invalid {
        var,
        value,
        expected,
    })
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(default);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            var,
            value,
            expected: "true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|var| map.get(var).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        match settings(vars) {
            Ok(_) => panic!("{vars:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_setting_has_a_default() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.database.url, DEFAULT_DATABASE_URL);
        assert_eq!(s.http.port, 8000);
        assert_eq!(s.http.host.to_string(), "127.0.0.1");
        assert!(s.demo_data);
        assert_eq!(s.log_level, "info");
        assert_eq!(s.scoring.thresholds.high(), 0.4);
        assert_eq!(s.scoring.thresholds.critical(), 0.7);
    }

    #[test]
    fn a_threshold_that_is_not_a_number_names_the_variable() {
        let message = error(&[("HIGH_RISK_THRESHOLD", "banana")]);
        assert!(message.contains("HIGH_RISK_THRESHOLD"), "{message}");
        assert!(message.contains("banana"), "{message}");
        assert!(message.contains("number"), "{message}");
    }

    #[test]
    fn a_read_replica_needs_postgresql_on_both_sides() {
        let pg = "postgres://db/risk";
        let read = "postgres://replica/risk";
        let both = settings(&[("DATABASE_URL", pg), ("DATABASE_READ_URL", read)])
            .expect("a replica of PostgreSQL");
        assert_eq!(both.database_read.map(|r| r.url).as_deref(), Some(read));
        assert!(
            settings(&[("DATABASE_URL", pg)])
                .expect("no replica")
                .database_read
                .is_none()
        );
        let sqlite = error(&[("DATABASE_READ_URL", read)]);
        assert!(sqlite.contains("DATABASE_READ_URL"), "{sqlite}");
        let not_pg = error(&[("DATABASE_URL", pg), ("DATABASE_READ_URL", "sqlite://x.db")]);
        assert!(not_pg.contains("DATABASE_READ_URL"), "{not_pg}");
    }

    #[test]
    fn thresholds_out_of_order_are_refused() {
        let message = error(&[
            ("HIGH_RISK_THRESHOLD", "0.8"),
            ("CRITICAL_RISK_THRESHOLD", "0.7"),
        ]);
        assert!(message.contains("HIGH_RISK_THRESHOLD"), "{message}");
    }

    #[test]
    fn weights_that_do_not_sum_to_one_are_refused() {
        let message = error(&[("RISK_WEIGHT_AMOUNT", "0.3")]);
        assert!(message.contains("sum"), "{message}");
    }

    #[test]
    fn a_negative_weight_names_the_variable() {
        let message = error(&[
            ("RISK_WEIGHT_PATTERN", "-0.1"),
            ("RISK_WEIGHT_RECENT_FAILURES", "0.70"),
        ]);
        assert!(message.contains("RISK_WEIGHT_PATTERN"), "{message}");
    }

    #[test]
    fn a_bad_port_host_flag_or_url_names_the_variable() {
        assert!(error(&[("API_PORT", "99999")]).contains("API_PORT"));
        assert!(error(&[("API_HOST", "not an ip")]).contains("API_HOST"));
        assert!(error(&[("DEMO_DATA", "perhaps")]).contains("DEMO_DATA"));
        assert!(error(&[("DATABASE_URL", "mysql://x")]).contains("DATABASE_URL"));
        assert!(error(&[("LOG_LEVEL", "info,[")]).contains("LOG_LEVEL"));
        assert!(error(&[("RESCORE_INTERVAL_SECONDS", "0")]).contains("RESCORE_INTERVAL_SECONDS"));
    }

    #[test]
    fn auth_is_off_on_loopback_and_required_elsewhere_by_default() {
        assert_eq!(settings(&[]).expect("valid").access.auth, AuthMode::Off);
        let public = settings(&[("API_HOST", "0.0.0.0")]).expect("valid");
        assert_eq!(public.access.auth, AuthMode::Required);
        let message = error(&[("API_HOST", "0.0.0.0"), ("AUTH", "off")]);
        assert!(message.contains("AUTH"), "{message}");
        assert!(error(&[("AUTH", "maybe")]).contains("AUTH"));
    }

    #[test]
    fn access_lists_are_parsed_and_checked() {
        let s = settings(&[
            ("ALLOWED_HOSTS", "Risk.Example.com, localhost"),
            ("CORS_ORIGINS", "https://console.example.com"),
            ("LEGACY_ANONYMOUS_NETWORKS", "10.0.0.0/8, 192.168.1.20"),
        ])
        .expect("valid");
        assert_eq!(s.access.allowed_hosts, ["risk.example.com", "localhost"]);
        assert_eq!(s.access.legacy_anonymous_networks.len(), 2);
        assert!(error(&[("CORS_ORIGINS", "console.example.com")]).contains("CORS_ORIGINS"));
        assert!(
            error(&[("LEGACY_ANONYMOUS_NETWORKS", "10.0.0.0/33")])
                .contains("LEGACY_ANONYMOUS_NETWORKS")
        );
        assert!(error(&[("REQUEST_TIMEOUT_SECONDS", "0")]).contains("REQUEST_TIMEOUT_SECONDS"));
        assert!(error(&[("LOG_FORMAT", "xml")]).contains("LOG_FORMAT"));
        assert!(error(&[("METRICS_ADDR", "nowhere")]).contains("METRICS_ADDR"));
        assert!(error(&[("EXPLORER", "maybe")]).contains("EXPLORER"));
    }

    #[test]
    fn alert_settings_have_defaults_and_name_bad_values() {
        let s = settings(&[]).expect("valid").alerts;
        assert_eq!(s, AlertSettings::default());
        assert_eq!(s.auto_level, Some(RiskLevel::Critical));
        assert_eq!(s.cooldown, Duration::from_secs(24 * 3_600));
        assert_eq!(s.storm_per_minute, 30);
        assert_eq!(s.delivery_timeout, Duration::from_secs(5));
        assert_eq!(s.delivery_max_age, Duration::from_secs(24 * 3_600));
        assert_eq!(s.digest_time, NaiveTime::from_hms_opt(8, 0, 0));
        assert_eq!(s.public_url, "http://127.0.0.1:8000");
        let off = settings(&[("AUTO_ALERT_LEVEL", "off"), ("DIGEST_TIME", "off")])
            .expect("valid")
            .alerts;
        assert_eq!((off.auto_level, off.digest_time), (None, None));
        let high = settings(&[
            ("AUTO_ALERT_LEVEL", "HIGH"),
            ("PUBLIC_URL", "https://r.example/"),
        ])
        .expect("valid")
        .alerts;
        assert_eq!(high.auto_level, Some(RiskLevel::High));
        assert_eq!(high.public_url, "https://r.example");
        for (var, value) in [
            ("AUTO_ALERT_LEVEL", "severe"),
            ("DIGEST_TIME", "25:00"),
            ("PUBLIC_URL", "ftp://x"),
            ("DELIVERY_TIMEOUT_SECONDS", "0"),
            ("STORM_THRESHOLD_PER_MINUTE", "0"),
            ("AUTO_ALERT_COOLDOWN_HOURS", "-1"),
        ] {
            assert!(error(&[(var, value)]).contains(var), "{var}={value}");
        }
    }

    #[test]
    fn empty_values_fall_back_to_defaults() {
        let s = settings(&[("API_PORT", ""), ("DEMO_DATA", " ")]).expect("valid");
        assert_eq!(s.http.port, 8000);
        assert!(s.demo_data);
    }
}
