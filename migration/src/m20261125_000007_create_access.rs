//! Access (SPEC §9): `api_keys` (only a hash of each key is kept),
//! `sessions` (server-side, so a session can be revoked and expires), and
//! `audit_log` (who did what to which object, when, with what outcome).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(string_len_uniq(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Role, 16))
                    // The key's first characters, shown by `keys list`.
                    .col(string_len(ApiKeys::Prefix, 16))
                    // SHA-256 of the whole key, hex: the key itself is never stored.
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(big_pk_auto(Sessions::Id))
                    .col(string_len_uniq(Sessions::TokenHash, 64))
                    .col(big_integer(Sessions::KeyId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_key")
                            .from(Sessions::Table, Sessions::KeyId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len(AuditLog::Actor, 200))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len_null(AuditLog::ObjectType, 32))
                    .col(string_len_null(AuditLog::ObjectId, 64))
                    .col(string_len_null(AuditLog::RequestId, 64))
                    .col(string_len(AuditLog::Outcome, 32))
                    .col(text_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_actor", [AuditLog::Actor, AuditLog::Id]),
            ("idx_audit_action", [AuditLog::Action, AuditLog::Id]),
            (
                "idx_audit_object",
                [AuditLog::ObjectType, AuditLog::ObjectId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditLog::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            Sessions::Table.into_iden(),
            ApiKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Role,
    Prefix,
    KeyHash,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    KeyId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    Actor,
    Action,
    ObjectType,
    ObjectId,
    RequestId,
    Outcome,
    Detail,
}
