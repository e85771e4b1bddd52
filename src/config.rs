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

use crate::risk::{ScoringConfig, Thresholds, Weights};

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

/// Where the HTTP server listens.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind; 0 takes any free port.
    pub port: u16,
}

/// Every setting of the service, typed and validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Database connection.
    pub database: DatabaseSettings,
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

        Ok(Self {
            database: DatabaseSettings { url },
            http: HttpSettings { host, port },
            log_level,
            demo_data,
            scoring: ScoringConfig {
                weights,
                thresholds,
            },
            rescore_interval: Duration::from_secs(interval),
        })
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
    fn empty_values_fall_back_to_defaults() {
        let s = settings(&[("API_PORT", ""), ("DEMO_DATA", " ")]).expect("valid");
        assert_eq!(s.http.port, 8000);
        assert!(s.demo_data);
    }
}
