//! What each subcommand does (SPEC §7); `main` picks one.

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use migration::{Migrator, MigratorTrait};

use crate::app::{self, Application};
use crate::cli::{KeysAction, MigrateAction};
use crate::config::{AuthMode, Settings};
use crate::domain::{self, Actor, Caller};
use crate::progress::Progress;
use crate::service::{self, Rules, access, scoring};
use crate::{db, jobs, seed, store};

/// How many demo users `serve` loads into an empty database.
pub const DEMO_USERS: u64 = 300;

/// Connects to the configured database and applies pending migrations.
async fn open_migrated(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = db::connect(&settings.database)
        .await
        .context("cannot connect to the database")?;
    db::migrate_up(&db)
        .await
        .context("cannot migrate the database")?;
    Ok(db)
}

/// `serve`: migrate, load demo data into an empty database, serve until a
/// signal, drain, exit.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = open_migrated(&settings).await?;
    if settings.demo_data && store::users::none(&db).await? {
        let options = seed::SeedOptions::new(DEMO_USERS, 42, Utc::now());
        let report = seed::run(
            &db,
            &settings.scoring,
            options,
            Progress::hidden("demo data", DEMO_USERS),
        )
        .await?;
        tracing::info!(
            users = report.users,
            payments = report.payments,
            "loaded demo data into the empty database"
        );
    }
    match settings.access.auth {
        AuthMode::Off => tracing::warn!(
            "AUTH=off: every request acts as the local administrator (allowed on loopback only)"
        ),
        AuthMode::Required => {
            if !access::any_live_key(&db).await? {
                anyhow::bail!(
                    "AUTH is required (API_HOST={} is not a loopback address, or AUTH=required) \
                     but no API key exists. Create one, then start again:\n  \
                     risk-monitor keys create --name admin --role admin",
                    settings.http.host
                );
            }
            tracing::info!("AUTH=required: every request needs an API key or a console session");
        }
    }
    // Migrations and demo data may run long; requests get a pool whose
    // statements are bounded by the request budget.
    db.close().await?;
    let app = Application::build(settings).await?;
    let state = app.state();
    let refresher = jobs::refresher(
        state.db.clone(),
        state.rules.clone(),
        state.settings.rescore_interval,
        state.metrics.refreshed.clone(),
    );
    let address = app.address();
    if app.state().settings.operations.explorer {
        tracing::info!(%address, "Risk Monitor listening on http://{address}/ (GraphiQL explorer: http://{address}/graphiql)");
    } else {
        tracing::info!(%address, "Risk Monitor listening on http://{address}/");
    }
    if let Some(metrics) = app.metrics_address() {
        tracing::info!(%metrics, "Prometheus metrics also on http://{metrics}/metrics");
    }
    tokio::select! {
        served = app.run_until(app::shutdown_signal()) => served?,
        () = refresher => tracing::error!("the score refresher stopped"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// `migrate up|down|status|fresh`.
pub async fn migrate(settings: &Settings, action: MigrateAction, steps: u32) -> anyhow::Result<()> {
    let db = db::connect(&settings.database)
        .await
        .context("cannot connect to the database")?;
    match action {
        MigrateAction::Up => db::migrate_up(&db).await?,
        MigrateAction::Down => Migrator::down(&db, Some(steps)).await?,
        MigrateAction::Fresh => Migrator::fresh(&db).await?,
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                println!("{:<8} {}", migration.status().to_string(), migration.name());
            }
        }
    }
    Ok(())
}

/// `seed --users N --seed S`.
pub async fn seed(settings: &Settings, users: u64, seed_value: u64) -> anyhow::Result<()> {
    let db = open_migrated(settings).await?;
    let started = Instant::now();
    let options = seed::SeedOptions::new(users, seed_value, Utc::now());
    let report = seed::run(
        &db,
        &settings.scoring,
        options,
        Progress::new("seed", users),
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {} users, {} subscriptions, {} payments in {elapsed:.1}s",
        report.users, report.subscriptions, report.payments
    );
    Ok(())
}

/// `rescore`: recompute every stored score.
pub async fn rescore(settings: &Settings) -> anyhow::Result<()> {
    let db = open_migrated(settings).await?;
    let started = Instant::now();
    let rules = Rules::new(settings.scoring, settings.alerts.clone());
    let done = scoring::rescore_all_with_progress(&db, &rules, Utc::now()).await?;
    println!(
        "rescored {} users ({} changed) in {:.1}s",
        done.users,
        done.changed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `digest`: print the digest of `date` (today when `None`) as Markdown.
pub async fn digest(settings: &Settings, date: Option<&str>) -> anyhow::Result<()> {
    let db = open_migrated(settings).await?;
    let rules = Rules::new(settings.scoring, settings.alerts.clone());
    let markdown = service::digest::for_day(&db, &rules, date, Utc::now()).await?;
    print!("{markdown}");
    Ok(())
}

/// `keys create|list|revoke`.
pub async fn keys(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    let db = open_migrated(settings).await?;
    let by = Caller::new(Actor::command_line());
    match action {
        KeysAction::Create { name, role } => {
            let role = domain::parse_role(&role)?;
            let key = access::create_key(&db, &name, role, &by, Utc::now()).await?;
            eprintln!(
                "created key {:?} ({}); it is shown once, below: store it now",
                key.info.name,
                domain::role_name(key.info.role)
            );
            println!("{}", key.secret);
        }
        KeysAction::List => {
            println!(
                "{:<24} {:<7} {:<12} {:<26} revoked",
                "name", "role", "key", "created"
            );
            for key in access::list_keys(&db).await? {
                println!(
                    "{:<24} {:<7} {:<12} {:<26} {}",
                    key.name,
                    domain::role_name(key.role),
                    format!("{}…", key.prefix),
                    key.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    key.revoked_at
                        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_else(|| "-".to_owned()),
                );
            }
        }
        KeysAction::Revoke { name } => {
            let key = access::revoke_key(&db, &name, &by, Utc::now()).await?;
            println!("revoked key {:?}", key.name);
        }
    }
    Ok(())
}
