//! The command line (SPEC §7, §9): `serve` (the default), `migrate`, `seed`,
//! `rescore`, `digest`, `keys`. Parsing only; `main` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Risk Monitor: payment-failure risk of subscribers, over GraphQL and REST.
#[derive(Debug, Parser)]
#[command(name = "risk-monitor", version, about)]
pub struct Cli {
    /// Configuration file (dotenv format); real environment variables win.
    #[arg(long, global = true, default_value = "config.env", value_name = "FILE")]
    pub config: PathBuf,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, load demo data into an empty one (DEMO_DATA),
    /// and serve the API until SIGINT or SIGTERM.
    Serve,
    /// Apply, revert or inspect the database migrations.
    Migrate {
        /// up: apply all pending; down: revert the last one (or --steps);
        /// status: list; fresh: drop every table, then apply all.
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
        /// With `down`: how many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// Load demo users with their plans and payments (SPEC §7.1), scored.
    Seed {
        /// How many users to add.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
        users: u64,
        /// Random seed: the same seed gives the same rows (on the same day).
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Recompute every stored risk score (after a change of weights or thresholds).
    Rescore,
    /// Print the daily digest as Markdown: the one made on --date, or
    /// today's (a preview while today's is not made yet).
    Digest {
        /// The day, YYYY-MM-DD (UTC); today when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// Create, list or revoke API keys (SPEC §9).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// What `keys` does.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print it, once, on its own line (only its hash is kept).
    Create {
        /// Who holds it: a person (one key each) or a system; unique.
        #[arg(long)]
        name: String,
        /// viewer, agent, ingest or admin.
        #[arg(long)]
        role: String,
    },
    /// List the keys: name, role, first characters, created, revoked.
    List,
    /// Revoke a key and end its console sessions.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// What `migrate` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration(s).
    Down,
    /// Show which migrations are applied.
    Status,
    /// Drop everything and apply every migration.
    Fresh,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default() {
        let cli = Cli::parse_from(["risk-monitor"]);
        assert!(cli.command.is_none());
    }

    #[test]
    fn keys_take_a_name_and_a_role() {
        let cli = Cli::parse_from([
            "risk-monitor",
            "keys",
            "create",
            "--name",
            "ann",
            "--role",
            "agent",
        ]);
        assert!(matches!(
            cli.command,
            Some(Command::Keys {
                action: KeysAction::Create { .. }
            })
        ));
        assert!(Cli::try_parse_from(["risk-monitor", "keys", "create", "--name", "ann"]).is_err());
        assert!(Cli::try_parse_from(["risk-monitor", "keys", "revoke", "ann"]).is_ok());
    }

    #[test]
    fn seed_requires_a_positive_user_count() {
        assert!(Cli::try_parse_from(["risk-monitor", "seed", "--users", "0"]).is_err());
        assert!(Cli::try_parse_from(["risk-monitor", "seed", "--users", "ten"]).is_err());
        assert!(Cli::try_parse_from(["risk-monitor", "seed", "--users", "10"]).is_ok());
    }
}
