//! `shared_snapshots`: results that every service process on the database
//! shares instead of each computing its own (issue #13): the statistics
//! snapshot, one row by name. `published_at` is when its body was stored
//! (what its freshness is measured from); `lease_until` is the claim of
//! the process computing the next one, and the others serve the row
//! meanwhile.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SharedSnapshots::Table)
                    .col(string_len(SharedSnapshots::Name, 32).primary_key())
                    // JSON; none until the first computation ends.
                    .col(text_null(SharedSnapshots::Body))
                    .col(timestamp_with_time_zone_null(SharedSnapshots::PublishedAt))
                    .col(timestamp_with_time_zone_null(SharedSnapshots::LeaseUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SharedSnapshots::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SharedSnapshots {
    Table,
    Name,
    Body,
    PublishedAt,
    LeaseUntil,
}
