//! `alerts`: every alert raised, kept as an audit trail (SPEC §2).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(big_pk_auto(Alerts::Id))
                    .col(big_integer(Alerts::UserId))
                    // The score and level at the moment the alert was raised.
                    .col(double(Alerts::RiskScore))
                    .col(string_len(Alerts::RiskLevel, 8))
                    .col(text_null(Alerts::Note))
                    .col(string_len(Alerts::Channel, 32))
                    .col(string_len(Alerts::DeliveryStatus, 16))
                    // A client-chosen key: the same key never makes a second alert.
                    .col(string_null(Alerts::IdempotencyKey).unique_key())
                    .col(string_null(Alerts::CreatedBy))
                    .col(timestamp_with_time_zone(Alerts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_user")
                            .from(Alerts::Table, Alerts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alerts_user_created")
                    .table(Alerts::Table)
                    .col(Alerts::UserId)
                    .col(Alerts::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    UserId,
    RiskScore,
    RiskLevel,
    Note,
    Channel,
    DeliveryStatus,
    IdempotencyKey,
    CreatedBy,
    CreatedAt,
}
