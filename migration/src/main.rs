//! Stand-alone migration command (`cargo run -p migration -- up`), the one
//! sea-orm-cli expects. The service's own `risk-monitor migrate` does the same.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
