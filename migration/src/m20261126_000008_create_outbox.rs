//! Alerts that reach people (SPEC §10): alerts become cases (kind, status,
//! assignee, version, resolution, a thread of `alert_notes`); `channels` say
//! where events go; `deliveries` is the outbox a background deliverer
//! drains, with every try in `delivery_attempts`; `digests` holds the one
//! digest of each day; `event_queue` carries live events between the
//! writers and the subscribers on SQLite (PostgreSQL uses LISTEN/NOTIFY);
//! `risk_scores` gains the score and level at the last digest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Statements the schema builder does not spell: a partial unique index
/// (one open automatic alert per user) and the severity of existing alerts.
const UP_SQL: [&str; 2] = [
    "CREATE UNIQUE INDEX uq_alerts_open_automatic ON alerts (user_id) \
     WHERE kind = 'automatic' AND status IN ('open', 'acknowledged')",
    "UPDATE alerts SET severity = CASE risk_level \
     WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let alert_columns = [
            string_len(Alerts::Kind, 16).default("manual").to_owned(),
            string_len(Alerts::Status, 16).default("open").to_owned(),
            small_integer(Alerts::Severity).default(0).to_owned(),
            string_len_null(Alerts::Assignee, 200),
            integer(Alerts::Version).default(1).to_owned(),
            string_len_null(Alerts::Resolution, 32),
            timestamp_with_time_zone_null(Alerts::ClosedAt),
        ];
        for column in alert_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Alerts::Channel, Alerts::DeliveryStatus] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for sql in UP_SQL {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_alerts_queue")
                    .table(Alerts::Table)
                    .col(Alerts::Status)
                    .col(Alerts::Severity)
                    .col(Alerts::CreatedAt)
                    .col(Alerts::Id)
                    .to_owned(),
            )
            .await?;
        for column in [
            double_null(RiskScores::BaselineScore),
            string_len_null(RiskScores::BaselineLevel, 8),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RiskScores::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AlertNotes::Table)
                    .col(big_pk_auto(AlertNotes::Id))
                    .col(big_integer(AlertNotes::AlertId))
                    .col(timestamp_with_time_zone(AlertNotes::At))
                    .col(string_len(AlertNotes::Author, 200))
                    .col(text(AlertNotes::Text))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alert_notes_alert")
                            .from(AlertNotes::Table, AlertNotes::AlertId)
                            .to(Alerts::Table, Alerts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_notes_alert")
                    .table(AlertNotes::Table)
                    .col(AlertNotes::AlertId)
                    .col(AlertNotes::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Channels::Table)
                    .col(big_pk_auto(Channels::Id))
                    .col(string_len_uniq(Channels::Name, 100))
                    .col(string_len(Channels::Kind, 16))
                    .col(text(Channels::Url))
                    .col(string_len(Channels::Secret, 100))
                    // The event types it wants, comma-separated.
                    .col(string_len(Channels::Events, 200))
                    .col(string_len(Channels::MinLevel, 8))
                    .col(boolean(Channels::Enabled))
                    .col(timestamp_with_time_zone(Channels::CreatedAt))
                    .col(timestamp_with_time_zone(Channels::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(big_integer(Deliveries::ChannelId))
                    .col(big_integer_null(Deliveries::AlertId))
                    // The event's id: the same on every channel and every try.
                    .col(string_len(Deliveries::EventId, 36))
                    .col(string_len(Deliveries::EventType, 16))
                    // The exact body sent on every try; a storm summary's is
                    // written when it is first sent.
                    .col(text_null(Deliveries::Payload))
                    // Storm summaries and digests: one row per key.
                    .col(string_len_null(Deliveries::BatchKey, 100).unique_key())
                    .col(integer(Deliveries::BatchCount).default(0))
                    .col(string_len(Deliveries::Status, 16))
                    .col(integer(Deliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(Deliveries::NextAttemptAt))
                    // A claim: another process may take it once this passes.
                    .col(timestamp_with_time_zone_null(Deliveries::LockedUntil))
                    .col(integer_null(Deliveries::LastStatusCode))
                    .col(text_null(Deliveries::LastError))
                    .col(timestamp_with_time_zone_null(Deliveries::DeliveredAt))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_channel")
                            .from(Deliveries::Table, Deliveries::ChannelId)
                            .to(Channels::Table, Channels::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_alert")
                            .from(Deliveries::Table, Deliveries::AlertId)
                            .to(Alerts::Table, Alerts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let delivery_indexes = [
            Index::create()
                .name("idx_deliveries_due")
                .table(Deliveries::Table)
                .col(Deliveries::Status)
                .col(Deliveries::NextAttemptAt)
                .to_owned(),
            Index::create()
                .name("idx_deliveries_channel_created")
                .table(Deliveries::Table)
                .col(Deliveries::ChannelId)
                .col(Deliveries::CreatedAt)
                .to_owned(),
            Index::create()
                .name("idx_deliveries_alert")
                .table(Deliveries::Table)
                .col(Deliveries::AlertId)
                .to_owned(),
            Index::create()
                .name("uq_deliveries_channel_event")
                .table(Deliveries::Table)
                .col(Deliveries::ChannelId)
                .col(Deliveries::EventId)
                .unique()
                .to_owned(),
        ];
        for index in delivery_indexes {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(big_integer(DeliveryAttempts::DeliveryId))
                    .col(timestamp_with_time_zone(DeliveryAttempts::At))
                    .col(integer_null(DeliveryAttempts::StatusCode))
                    .col(integer(DeliveryAttempts::LatencyMs))
                    .col(text_null(DeliveryAttempts::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_delivery_attempts_delivery")
                            .from(DeliveryAttempts::Table, DeliveryAttempts::DeliveryId)
                            .to(Deliveries::Table, Deliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_delivery_attempts_delivery")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::DeliveryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Digests::Table)
                    // YYYY-MM-DD: one digest a day, whoever makes it first.
                    .col(string_len(Digests::Day, 10).primary_key())
                    .col(text(Digests::Markdown))
                    .col(timestamp_with_time_zone(Digests::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventQueue::Table)
                    .col(big_pk_auto(EventQueue::Id))
                    .col(text(EventQueue::Payload))
                    .col(timestamp_with_time_zone(EventQueue::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            EventQueue::Table.into_iden(),
            Digests::Table.into_iden(),
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Channels::Table.into_iden(),
            AlertNotes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [RiskScores::BaselineScore, RiskScores::BaselineLevel] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RiskScores::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_alerts_queue")
                    .table(Alerts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_alerts_open_automatic")
                    .table(Alerts::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Alerts::Kind,
            Alerts::Status,
            Alerts::Severity,
            Alerts::Assignee,
            Alerts::Version,
            Alerts::Resolution,
            Alerts::ClosedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            string_len(Alerts::Channel, 32).default("log").to_owned(),
            string_len(Alerts::DeliveryStatus, 16)
                .default("delivered")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alerts::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    Channel,
    DeliveryStatus,
    CreatedAt,
    Kind,
    Status,
    Severity,
    Assignee,
    Version,
    Resolution,
    ClosedAt,
}

#[derive(DeriveIden)]
enum RiskScores {
    Table,
    BaselineScore,
    BaselineLevel,
}

#[derive(DeriveIden)]
enum AlertNotes {
    Table,
    Id,
    AlertId,
    At,
    Author,
    Text,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    Name,
    Kind,
    Url,
    Secret,
    Events,
    MinLevel,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    ChannelId,
    AlertId,
    EventId,
    EventType,
    Payload,
    BatchKey,
    BatchCount,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    At,
    StatusCode,
    LatencyMs,
    Error,
}

#[derive(DeriveIden)]
enum Digests {
    Table,
    Day,
    Markdown,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EventQueue {
    Table,
    Id,
    Payload,
    CreatedAt,
}
