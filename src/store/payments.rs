//! `subscription_payments`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::subscription_payments::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TryInsertResult,
};

use crate::domain::{Cents, PaymentStatus};
use crate::risk::{Outcome, PaymentFact};
use crate::store::copy::{self, EnumTexts, binary_i64, binary_timestamptz, present};

/// A payment to write: every column but the id, as it will be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentFields {
    /// The payer.
    pub user_id: i64,
    /// The plan version paid for.
    pub subscription_id: Option<i64>,
    /// The billing system's id (unique).
    pub external_id: Option<String>,
    /// Amount.
    pub amount: Cents,
    /// ISO 4217 code.
    pub currency: String,
    /// Outcome.
    pub status: PaymentStatus,
    /// When it was attempted, cut to microseconds (as both databases store it).
    pub payment_date: DateTime<Utc>,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

impl PaymentFields {
    fn active_model(&self) -> ActiveModel {
        ActiveModel {
            external_id: Set(self.external_id.clone()),
            subscription_id: Set(self.subscription_id),
            user_id: Set(self.user_id),
            amount_cents: Set(self.amount.get()),
            currency: Set(self.currency.clone()),
            status: Set(self.status),
            payment_date: Set(self.payment_date),
            payment_method: Set(self.payment_method.clone()),
            failure_reason: Set(self.failure_reason.clone()),
            ..Default::default()
        }
    }

    /// Whether `stored` is this payment: how rows that `RETURNING` gave back
    /// are told apart without relying on their order, which PostgreSQL does
    /// not promise (identical payments are interchangeable).
    pub fn is_stored_as(&self, stored: &Model) -> bool {
        stored.external_id == self.external_id
            && stored.subscription_id == self.subscription_id
            && stored.user_id == self.user_id
            && stored.amount_cents == self.amount.get()
            && stored.currency == self.currency
            && stored.status == self.status
            && stored.payment_date == self.payment_date
            && stored.payment_method == self.payment_method
            && stored.failure_reason == self.failure_reason
    }
}

/// Inserts `payments` in one statement and returns the rows written; a
/// payment whose external id is already recorded (by a concurrent request)
/// is skipped, not an error.
pub async fn insert_new<C: ConnectionTrait>(
    conn: &C,
    payments: &[PaymentFields],
) -> Result<Vec<Model>, DbErr> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    let models = payments.iter().map(PaymentFields::active_model);
    if payments.iter().all(|p| p.external_id.is_none()) {
        // Nothing can conflict: a plain insert, without the speculative
        // insertion (and its WAL record a row) that ON CONFLICT costs.
        return Entity::insert_many(models).exec_with_returning(conn).await;
    }
    // The predicate names migration 16's partial index on PostgreSQL; a full
    // unique index (SQLite's) answers it too.
    let inserted = Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(Column::ExternalId)
                .target_and_where(Expr::col(Column::ExternalId).is_not_null())
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec_with_returning_many(conn)
        .await?;
    Ok(match inserted {
        TryInsertResult::Inserted(models) => models,
        TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
    })
}

/// The payments already recorded under `external_ids`, by external id.
pub async fn by_external_ids<C: ConnectionTrait>(
    conn: &C,
    external_ids: &[&str],
) -> Result<HashMap<String, Model>, DbErr> {
    if external_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(Entity::find()
        .filter(Column::ExternalId.is_in(external_ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|model| Some((model.external_id.clone()?, model)))
        .collect())
}

pub(super) type FactRow = (i64, DateTime<Utc>, i64, PaymentStatus);

pub(super) fn fact((_, paid_at, cents, status): &FactRow) -> PaymentFact {
    PaymentFact {
        paid_at: *paid_at,
        amount: Cents::new(*cents).units(),
        outcome: Outcome::from(*status),
    }
}

/// A stored payment as the model reads it.
pub fn fact_of(model: &Model) -> PaymentFact {
    fact(&(
        model.user_id,
        model.payment_date,
        model.amount_cents,
        model.status,
    ))
}

fn facts_query() -> sea_orm::Select<Entity> {
    Entity::find().select_only().columns([
        Column::UserId,
        Column::PaymentDate,
        Column::AmountCents,
        Column::Status,
    ])
}

/// Every payment of `user_id`, as the model reads them (any order).
pub async fn facts<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Vec<PaymentFact>, DbErr> {
    let rows: Vec<FactRow> = facts_query()
        .filter(Column::UserId.eq(user_id))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.iter().map(fact).collect())
}

/// The payments of a range of users, grouped by user in one allocation.
#[derive(Debug, Default)]
pub struct Histories {
    /// Every payment, grouped by user in ascending user id.
    facts: Vec<PaymentFact>,
    /// Each user with payments, in ascending id, and where their payments
    /// end in `facts`.
    ends: Vec<(i64, usize)>,
}

impl Histories {
    /// The payments of `user_id` (none when they have none), in any order.
    pub fn of(&self, user_id: i64) -> &[PaymentFact] {
        match self.ends.binary_search_by_key(&user_id, |&(id, _)| id) {
            Ok(i) => {
                let start = i.checked_sub(1).map_or(0, |before| self.ends[before].1);
                &self.facts[start..self.ends[i].1]
            }
            Err(_) => &[],
        }
    }

    /// Adds a payment of `user_id`, who is the last user added or comes
    /// after them.
    fn push(&mut self, user_id: i64, fact: PaymentFact) -> Result<(), DbErr> {
        self.facts.push(fact);
        let end = self.facts.len();
        match self.ends.last_mut() {
            Some((last, last_end)) if *last == user_id => *last_end = end,
            Some((last, _)) if *last > user_id => {
                return Err(DbErr::Type("payments not grouped by user".into()));
            }
            _ => self.ends.push((user_id, end)),
        }
        Ok(())
    }
}

/// The payments of every user with an id in `from..=to`, grouped by user.
///
/// On PostgreSQL they arrive through `COPY … TO STDOUT (FORMAT binary)` on a
/// connection of `db`'s pool beside the caller's transaction `conn`: a full
/// rescore reads every payment, and decoding each value through the driver
/// cost more than the scoring. When the caller holds these users' locks, no
/// payment of theirs commits between its transaction's reads and this one;
/// a first look without them (`conn` being `db`) may see a later instant
/// than its other reads.
pub async fn facts_in_range<C: ConnectionTrait>(
    db: &DatabaseConnection,
    conn: &C,
    from: i64,
    to: i64,
) -> Result<Histories, DbErr> {
    let mut histories = Histories::default();
    if db.get_database_backend() != DatabaseBackend::Postgres {
        let rows: Vec<FactRow> = facts_query()
            .filter(Column::UserId.between(from, to))
            .order_by_asc(Column::UserId)
            .into_tuple()
            .all(conn)
            .await?;
        for row in &rows {
            histories.push(row.0, fact(row))?;
        }
        return Ok(histories);
    }
    // The bounds are integers formatted here: COPY takes no parameters.
    let statement = format!(
        "COPY (SELECT user_id, payment_date, amount_cents, status FROM subscription_payments \
         WHERE user_id BETWEEN {from} AND {to} ORDER BY user_id) TO STDOUT (FORMAT binary)"
    );
    let statuses = EnumTexts::<PaymentStatus>::default();
    copy::copy_out(
        db.get_postgres_connection_pool(),
        &statement,
        |[user_id, paid_at, cents, status]| {
            let row = (
                binary_i64(present(user_id)?)?,
                binary_timestamptz(present(paid_at)?)?,
                binary_i64(present(cents)?)?,
                statuses.of(present(status)?)?,
            );
            histories.push(row.0, fact(&row))
        },
    )
    .await?;
    Ok(histories)
}

/// The payments of the users `ids`, grouped by user.
pub async fn facts_of<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<PaymentFact>>, DbErr> {
    let rows: Vec<FactRow> = facts_query()
        .filter(Column::UserId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(group(rows))
}

fn group(rows: Vec<FactRow>) -> HashMap<i64, Vec<PaymentFact>> {
    let mut by_user: HashMap<i64, Vec<PaymentFact>> = HashMap::new();
    for row in &rows {
        by_user.entry(row.0).or_default().push(fact(row));
    }
    by_user
}

/// The `limit` newest payments of `user_id` made at or before `until` (all
/// when `None`), newest first.
pub async fn newest<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    until: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    super::of_user_until::<Entity>(Column::UserId, Column::PaymentDate, user_id, until)
        .order_by_desc(Column::PaymentDate)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await
}
