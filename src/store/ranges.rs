//! What a full rescore reads of a range of users besides their payments
//! ([`super::payments::facts_in_range`]): each user, their current plan and
//! their stored score's values: the users locked for the caller's
//! transaction, or a first look without locks.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr};

use super::copy::{
    self, EnumTexts, binary_bool, binary_f64, binary_i32, binary_i64, binary_text,
    binary_timestamptz, present,
};
use super::risk_scores::{self, CurrentPlan, StoredLevel, StoredValues};
use super::subscriptions;
use super::users::{self, ScoringUser};

/// One user of a range, as a full rescore reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeUser {
    /// The user.
    pub user: ScoringUser,
    /// Their newest plan version, if any.
    pub plan: Option<CurrentPlan>,
    /// Their stored score's values, if they were scored.
    pub stored: Option<StoredValues>,
}

/// Which users of a range [`range_users`] locks for the caller's
/// transaction, and reads.
#[derive(Clone, Copy, Debug)]
pub enum Lock<'a> {
    /// None: a first look, read without a transaction. Its reads of the
    /// four tables may each see a different instant, so what it finds is
    /// only a guess of what a locked read would find.
    Nothing,
    /// Every user of the range.
    Range,
    /// These users of the range (ids in increasing order), and only them.
    Only(&'a [i64]),
}

/// Reads the users with ids in `from..=to` (those of them `lock` names)
/// with their plans and stored values, in id order, after locking them for
/// the caller's transaction `conn` (in id order, like [`users::lock_range`])
/// unless `lock` is [`Lock::Nothing`].
///
/// On PostgreSQL the lock returns only the ids, and the rest arrives by
/// binary COPY on a connection of `db`'s pool: a million users decoded
/// value by value through the driver cost more than scoring them. The locks
/// keep what it reads from changing meanwhile (every write to a user's plan
/// or score holds the user's lock).
pub async fn range_users<C: ConnectionTrait>(
    db: &DatabaseConnection,
    conn: &C,
    from: i64,
    to: i64,
    lock: Lock<'_>,
) -> Result<Vec<RangeUser>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        // SQLite's write transactions exclude each other: its "locks" are
        // plain reads.
        let read = match lock {
            Lock::Only(ids) => users::lock_many(conn, ids).await?,
            Lock::Nothing | Lock::Range => users::lock_range(conn, from, to).await?,
        };
        let mut plans = subscriptions::current_plans_in_range(conn, from, to).await?;
        let mut stored = risk_scores::values_in_range(conn, from, to).await?;
        return Ok(read
            .into_iter()
            .map(|user| RangeUser {
                plan: plans.remove(&user.id),
                stored: stored.remove(&user.id),
                user,
            })
            .collect());
    }
    let ids = match lock {
        Lock::Nothing => None,
        Lock::Range => Some(users::lock_range_ids(conn, from, to).await?),
        Lock::Only(ids) => Some(users::lock_ids(conn, ids).await?),
    };
    if ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let pool = db.get_postgres_connection_pool();
    // The bounds are integers formatted here: COPY takes no parameters. One
    // plain range scan per table: a join of the three cost the database more
    // than the three scans (and was planned in parallel, a worker per scan).
    let mut read: Vec<RangeUser> = Vec::with_capacity(ids.as_ref().map_or(0, Vec::len));
    let mut locked = ids.as_ref().map(|ids| ids.iter().copied().peekable());
    copy::copy_out::<3>(
        pool,
        &format!(
            "COPY (SELECT id, created_at, is_active FROM users \
             WHERE id BETWEEN {from} AND {to} ORDER BY id) TO STDOUT (FORMAT binary)"
        ),
        |[id, created_at, is_active]| {
            let id = binary_i64(present(id)?)?;
            // A user the lock did not take (created since, or not asked
            // for) is left out.
            let taken = locked.as_mut().is_none_or(|locked| {
                while locked.next_if(|&l| l < id).is_some() {}
                locked.next_if_eq(&id).is_some()
            });
            if taken {
                read.push(RangeUser {
                    user: ScoringUser {
                        id,
                        created_at: binary_timestamptz(present(created_at)?)?,
                        is_active: binary_bool(present(is_active)?)?,
                    },
                    plan: None,
                    stored: None,
                });
            }
            Ok(())
        },
    )
    .await?;
    // Every plan version in user order, each user's newest last: the latest
    // `effective_from`, ties to the latest id, as
    // `subscriptions::current_plans_in_range` picks it.
    let mut at = 0;
    copy::copy_out::<4>(
        pool,
        &format!(
            "COPY (SELECT user_id, subscription_type, monthly_amount_cents, currency \
             FROM user_subscriptions WHERE user_id BETWEEN {from} AND {to} \
             ORDER BY user_id, effective_from, id) TO STDOUT (FORMAT binary)"
        ),
        |[user_id, kind, cents, currency]| {
            if let Some(user) = find(&mut read, &mut at, binary_i64(present(user_id)?)?) {
                user.plan = Some(CurrentPlan {
                    subscription_type: binary_text(present(kind)?)?.to_owned(),
                    monthly_amount_cents: binary_i64(present(cents)?)?,
                    currency: binary_text(present(currency)?)?.to_owned(),
                });
            }
            Ok(())
        },
    )
    .await?;
    let levels = EnumTexts::<StoredLevel>::default();
    let mut at = 0;
    copy::copy_out::<13>(
        pool,
        &format!(
            "COPY (SELECT user_id, score, level, patterns, total_payments, failed_payments, \
             succeeded_payments, failure_rate, is_active, subscription_type, \
             monthly_amount_cents, currency, next_change_at FROM risk_scores \
             WHERE user_id BETWEEN {from} AND {to} ORDER BY user_id) TO STDOUT (FORMAT binary)"
        ),
        |fields| {
            let user_id = binary_i64(present(fields[0])?)?;
            if let Some(user) = find(&mut read, &mut at, user_id) {
                user.stored = Some(stored_values(user_id, &fields, &levels)?);
            }
            Ok(())
        },
    )
    .await?;
    Ok(read)
}

/// The user `id` of `users` (in id order), searching from `at` on: the rows
/// of each table arrive in id order, so the search only moves forward.
fn find<'u>(users: &'u mut [RangeUser], at: &mut usize, id: i64) -> Option<&'u mut RangeUser> {
    while users.get(*at).is_some_and(|u| u.user.id < id) {
        *at += 1;
    }
    users.get_mut(*at).filter(|u| u.user.id == id)
}

/// Decodes one row of `risk_scores` read by [`range_users`].
fn stored_values(
    user_id: i64,
    fields: &[Option<&[u8]>; 13],
    levels: &EnumTexts<StoredLevel>,
) -> Result<StoredValues, DbErr> {
    let text = |field: Option<&[u8]>| -> Result<Option<String>, DbErr> {
        Ok(field.map(binary_text).transpose()?.map(str::to_owned))
    };
    Ok(StoredValues {
        user_id,
        score: binary_f64(present(fields[1])?)?,
        level: levels.of(present(fields[2])?)?,
        patterns: binary_i32(present(fields[3])?)?,
        total_payments: binary_i32(present(fields[4])?)?,
        failed_payments: binary_i32(present(fields[5])?)?,
        succeeded_payments: fields[6].map(binary_i32).transpose()?,
        failure_rate: binary_f64(present(fields[7])?)?,
        is_active: binary_bool(present(fields[8])?)?,
        subscription_type: text(fields[9])?,
        monthly_amount_cents: fields[10].map(binary_i64).transpose()?,
        currency: text(fields[11])?,
        next_change_at: fields[12].map(binary_timestamptz).transpose()?,
    })
}
