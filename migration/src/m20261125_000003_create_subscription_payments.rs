//! `subscription_payments`: every payment attempt (SPEC §2).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users::Users;
use crate::m20261125_000002_create_user_subscriptions::UserSubscriptions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SubscriptionPayments::Table)
                    .col(big_pk_auto(SubscriptionPayments::Id))
                    // Unique when present: makes ingestion idempotent.
                    .col(string_null(SubscriptionPayments::ExternalId).unique_key())
                    .col(big_integer_null(SubscriptionPayments::SubscriptionId))
                    .col(big_integer(SubscriptionPayments::UserId))
                    .col(big_integer(SubscriptionPayments::AmountCents))
                    .col(char_len(SubscriptionPayments::Currency, 3))
                    // success | failed | declined | pending | refunded
                    .col(string_len(SubscriptionPayments::Status, 16))
                    .col(timestamp_with_time_zone(SubscriptionPayments::PaymentDate))
                    .col(string(SubscriptionPayments::PaymentMethod))
                    .col(text_null(SubscriptionPayments::FailureReason))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscription_payments_user")
                            .from(SubscriptionPayments::Table, SubscriptionPayments::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscription_payments_subscription")
                            .from(
                                SubscriptionPayments::Table,
                                SubscriptionPayments::SubscriptionId,
                            )
                            .to(UserSubscriptions::Table, UserSubscriptions::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // SPEC §2 hot path: one user's payments, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_subscription_payments_user_date")
                    .table(SubscriptionPayments::Table)
                    .col(SubscriptionPayments::UserId)
                    .col(SubscriptionPayments::PaymentDate)
                    .to_owned(),
            )
            .await?;
        // The daily failure trend of the statistics reads a date range.
        manager
            .create_index(
                Index::create()
                    .name("idx_subscription_payments_date")
                    .table(SubscriptionPayments::Table)
                    .col(SubscriptionPayments::PaymentDate)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SubscriptionPayments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SubscriptionPayments {
    Table,
    Id,
    ExternalId,
    SubscriptionId,
    UserId,
    AmountCents,
    Currency,
    Status,
    PaymentDate,
    PaymentMethod,
    FailureReason,
}
