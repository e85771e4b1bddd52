//! `user_subscriptions`: one row per version of a user's plan (SPEC §2).

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
                    .table(UserSubscriptions::Table)
                    .col(big_pk_auto(UserSubscriptions::Id))
                    .col(big_integer(UserSubscriptions::UserId))
                    .col(string(UserSubscriptions::SubscriptionType))
                    .col(string(UserSubscriptions::Status))
                    .col(big_integer(UserSubscriptions::MonthlyAmountCents))
                    .col(char_len(UserSubscriptions::Currency, 3))
                    .col(timestamp_with_time_zone(UserSubscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(UserSubscriptions::UpdatedAt))
                    .col(timestamp_with_time_zone(UserSubscriptions::EffectiveFrom))
                    .col(timestamp_with_time_zone_null(
                        UserSubscriptions::EffectiveUntil,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_subscriptions_user")
                            .from(UserSubscriptions::Table, UserSubscriptions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A user's plan history, newest version last.
        manager
            .create_index(
                Index::create()
                    .name("idx_user_subscriptions_user_from")
                    .table(UserSubscriptions::Table)
                    .col(UserSubscriptions::UserId)
                    .col(UserSubscriptions::EffectiveFrom)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserSubscriptions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum UserSubscriptions {
    Table,
    Id,
    UserId,
    SubscriptionType,
    Status,
    MonthlyAmountCents,
    Currency,
    CreatedAt,
    UpdatedAt,
    EffectiveFrom,
    EffectiveUntil,
}
