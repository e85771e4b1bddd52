//! `users`: one row per subscriber (SPEC §2).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    // The billing system's id: optional, unique when present.
                    .col(string_null(Users::ExternalId).unique_key())
                    .col(string(Users::Name))
                    .col(string_uniq(Users::Email))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(boolean(Users::IsActive).default(true))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    ExternalId,
    Name,
    Email,
    CreatedAt,
    IsActive,
}
