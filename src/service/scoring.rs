//! Keeping the materialized scores fresh (SPEC §3.4), and scoring on demand.
//!
//! - [`assess`] and [`assess_stored`]: one user's score now or as of a past
//!   instant, from a history in hand or from the stored payments.
//! - [`rescore_user`]: inside a caller's write transaction, after the caller
//!   recorded a user, plan or payment (the user's row is locked first).
//!   Writes and the refresher score from [`summaries_of`]: the stored counts
//!   and the newest and oldest payments, whatever the history's length.
//! - [`rescore_due`]: the background refresher's step: users whose score
//!   changes by time alone; [`refresh_lag`]: how far behind it is.
//! - [`rescore_all`]: every user, in batches of id ranges, a few at once,
//!   never the whole table in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::db;
use crate::progress::Progress;
use crate::risk::{self, Assessment, PaymentFact, RiskLevel, ScoringConfig, Summary, UserFacts};
use crate::service::Rules;
use crate::service::alerts;
use crate::service::events::{self, LiveEvent};
use crate::store::ranges::{self, Lock, RangeUser};
use crate::store::risk_scores::{CurrentPlan, ScoreRow};
use crate::store::users::ScoringUser;
use crate::store::{digest, maintenance, payments, risk_scores, summaries, users};

/// Users per batch of a full rescore.
pub const BATCH_USERS: i64 = 5_000;

/// Batches of a full rescore in flight at once: one computes while another
/// waits on the database.
const PARALLEL_BATCHES: usize = 3;

/// The instant a score describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// The current instant: every stored payment counts.
    Now(DateTime<Utc>),
    /// A past instant (SPEC §3.4 "as of"): only the payments up to it count,
    /// and the account's age is taken then.
    AsOf(DateTime<Utc>),
}

impl When {
    /// The instant itself.
    pub fn instant(self) -> DateTime<Utc> {
        match self {
            Self::Now(at) | Self::AsOf(at) => at,
        }
    }
}

/// The assessment of `user` from `history` (every payment they made, in any
/// order) at `when`.
pub fn assess(
    user: &ScoringUser,
    history: &[PaymentFact],
    config: &ScoringConfig,
    when: When,
) -> Assessment {
    let facts = UserFacts::from(*user);
    match when {
        When::Now(now) => risk::assess(&facts, history, config, now),
        When::AsOf(at) => risk::assess_as_of(&facts, history, config, at),
    }
}

/// Assesses `user` at `when` from the stored data, without writing: now,
/// from the summary of their history ([`summaries_of`], a cost that does
/// not grow with it); as of a past instant, from every payment (the counts
/// up to an instant are not stored).
pub async fn assess_stored<C: ConnectionTrait>(
    conn: &C,
    config: &ScoringConfig,
    user: &ScoringUser,
    when: When,
) -> Result<Assessment, DbErr> {
    match when {
        When::Now(now) => {
            let summaries = summaries_of(conn, &[user.id]).await?;
            let empty = Summary::default();
            let summary = summaries.get(&user.id).unwrap_or(&empty);
            Ok(assess_summary(user, summary, config, now))
        }
        When::AsOf(_) => {
            let history = payments::facts(conn, user.id).await?;
            Ok(assess(user, &history, config, when))
        }
    }
}

/// Rescores `user` inside the caller's transaction `conn` and writes the
/// row (with what a change of level sets off, see [`write_scores`]). The
/// caller must hold the user's lock ([`users::lock`]) so that concurrent
/// writes for one user serialize.
pub async fn rescore_user<C: ConnectionTrait>(
    conn: &C,
    rules: &Rules,
    user: &ScoringUser,
    now: DateTime<Utc>,
) -> Result<Assessment, DbErr> {
    let read = rescoring_of(conn, &[user.id]).await?;
    let rows = score_rows(
        std::slice::from_ref(user),
        &read.summaries,
        read.plans,
        &rules.scoring,
        now,
    );
    let assessment = rows
        .first()
        .map(|scored| scored.assessment.clone())
        .ok_or_else(|| DbErr::Custom("a rescored user has no score".into()))?;
    write_scores_read(conn, rules, rows, &read.before, now).await?;
    Ok(assessment)
}

/// The summaries of the histories of the locked `user_ids` (SPEC §3.1:
/// what the model reads of them), at a cost that does not grow with their
/// length: the counts stored with each score, and the newest and oldest
/// payments from the end of the index. A user without stored counts (never
/// scored, or scored before migration 10), or whose counts disagree with
/// their payments, is summed up from every payment instead; a full rescore
/// ([`rescore_all`]) rewrites any count that drifted.
pub(crate) async fn summaries_of<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
) -> Result<HashMap<i64, Summary>, DbErr> {
    let parts = summaries::parts_of(conn, user_ids).await?;
    summaries_from(conn, user_ids, parts).await
}

/// What rescoring users reads before it scores them: their summaries (see
/// [`summaries_of`]), current plans and stored levels, and the digest
/// generation their rows are written in.
pub(crate) struct Rescoring {
    /// Each user's summary.
    pub summaries: HashMap<i64, Summary>,
    /// Each user's newest plan version.
    pub plans: HashMap<i64, CurrentPlan>,
    /// What [`write_scores_read`] needs: the levels before and the generation.
    pub before: Before,
}

/// What a score write needs to know of the rows it replaces.
pub(crate) struct Before {
    levels: HashMap<i64, entity::sea_orm_active_enums::RiskLevel>,
    generation: i64,
}

/// What rescoring the locked `user_ids` (distinct) reads, in one round trip
/// on PostgreSQL ([`summaries::rescoring_of`]).
pub(crate) async fn rescoring_of<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
) -> Result<Rescoring, DbErr> {
    let read = summaries::rescoring_of(conn, user_ids).await?;
    Ok(Rescoring {
        summaries: summaries_from(conn, user_ids, read.parts).await?,
        plans: read.plans,
        before: Before {
            levels: read.levels,
            generation: read.generation,
        },
    })
}

/// The summaries of `user_ids` from their stored `parts` (see
/// [`summaries_of`]).
async fn summaries_from<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
    mut parts: HashMap<i64, summaries::SummaryParts>,
) -> Result<HashMap<i64, Summary>, DbErr> {
    let mut summaries = HashMap::with_capacity(user_ids.len());
    let mut uncounted = Vec::new();
    for id in user_ids {
        match stored_summary(*id, parts.remove(id).unwrap_or_default()) {
            Some(summary) => {
                summaries.insert(*id, summary);
            }
            None => uncounted.push(*id),
        }
    }
    if !uncounted.is_empty() {
        let histories = payments::facts_of(conn, &uncounted).await?;
        for id in uncounted {
            let history = histories.get(&id).map_or(&[][..], Vec::as_slice);
            summaries.insert(id, Summary::of(history));
        }
    }
    Ok(summaries)
}

/// The summary of user `id`'s history from its stored `parts`; `None` when
/// they hold no counts, or counts that disagree with the payments (the
/// history is then summed up from every payment).
fn stored_summary(id: i64, stored: summaries::SummaryParts) -> Option<Summary> {
    let counts = stored.counts?;
    let summary = Summary::from_parts(counts, stored.newest, stored.oldest);
    if summary.is_none() {
        tracing::warn!(
            user_id = id,
            "stored payment counts disagree with the payments"
        );
    }
    summary
}

/// The user `user_id` and their assessment now from their summary, read
/// together in one round trip (see [`summaries_of`]); `None` for an
/// unknown user.
pub async fn user_assessed_now(
    conn: &DatabaseConnection,
    config: &ScoringConfig,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<(entity::users::Model, Assessment)>, DbErr> {
    let Some((user, parts)) = summaries::user_and_parts(conn, user_id).await? else {
        return Ok(None);
    };
    let summary = match stored_summary(user_id, parts) {
        Some(summary) => summary,
        None => {
            let histories = payments::facts_of(conn, &[user_id]).await?;
            Summary::of(histories.get(&user_id).map_or(&[][..], Vec::as_slice))
        }
    };
    let assessment = assess_summary(&ScoringUser::from(&user), &summary, config, now);
    Ok(Some((user, assessment)))
}

/// A user's new score row, with the assessment it came from.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The row to write.
    pub row: ScoreRow,
    /// Its factors, for the messages of an automatic alert.
    pub assessment: Assessment,
}

/// Scores the locked `users` at `now` from the summaries of their
/// histories and their plans.
pub(crate) fn score_rows(
    users: &[ScoringUser],
    summaries: &HashMap<i64, Summary>,
    mut plans: HashMap<i64, CurrentPlan>,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Vec<Scored> {
    let empty = Summary::default();
    users
        .iter()
        .map(|user| {
            let summary = summaries.get(&user.id).unwrap_or(&empty);
            let assessment = assess_summary(user, summary, config, now);
            let row = ScoreRow::new(
                user.id,
                user.is_active,
                plans.remove(&user.id),
                &assessment,
                now,
            );
            Scored { row, assessment }
        })
        .collect()
}

/// The assessment of `user` at `now` from the summary of their history.
pub fn assess_summary(
    user: &ScoringUser,
    summary: &Summary,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> Assessment {
    risk::assess_summary(&UserFacts::from(*user), summary, config, now)
}

/// A user whose level changed with a write.
#[derive(Clone, Debug)]
pub struct LevelChange {
    /// The user.
    pub user_id: i64,
    /// The level before (low for a user scored for the first time).
    pub from: RiskLevel,
    /// The new score and its factors.
    pub scored: Scored,
}

/// Writes `scored` (users locked by the caller, in its transaction), and
/// what a change of level sets off, in the same transaction: a
/// `riskLevelChanged` event for each user whose level changed, and an
/// automatic alert for each who rose to `AUTO_ALERT_LEVEL` or above. Every
/// path that writes scores comes through here: the writes, the refresher
/// and a full rescore.
pub async fn write_scores<C: ConnectionTrait>(
    conn: &C,
    rules: &Rules,
    scored: Vec<Scored>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if scored.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = scored.iter().map(|s| s.row.user_id).collect();
    let before = Before {
        levels: risk_scores::levels_of(conn, &ids).await?,
        generation: digest::writing_generation(conn).await?,
    };
    write_scores_read(conn, rules, scored, &before, now).await
}

/// [`write_scores`], knowing `before` (read with the users' summaries by
/// [`rescoring_of`]).
pub(crate) async fn write_scores_read<C: ConnectionTrait>(
    conn: &C,
    rules: &Rules,
    scored: Vec<Scored>,
    before: &Before,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows = scored.iter().map(|s| s.row.clone()).collect();
    let stored = |user: i64| before.levels.contains_key(&user);
    risk_scores::write_many(conn, rows, before.generation, stored).await?;
    let changes: Vec<LevelChange> = scored
        .into_iter()
        .filter_map(|scored| {
            let from = before
                .levels
                .get(&scored.row.user_id)
                .map_or(RiskLevel::Low, |level| RiskLevel::from(*level));
            (from != scored.assessment.level).then_some(LevelChange {
                user_id: scored.row.user_id,
                from,
                scored,
            })
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let live: Vec<LiveEvent> = changes
        .iter()
        .map(|c| LiveEvent::RiskLevelChanged {
            user_id: c.user_id,
            from: c.from,
            to: c.scored.assessment.level,
            score: c.scored.assessment.score,
            at: now,
        })
        .collect();
    events::emit(conn, &live).await?;
    alerts::raise_automatic(conn, rules, changes, now).await
}

/// What a full rescore did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rescored {
    /// Users scored.
    pub users: u64,
    /// Of them, those whose stored row changed (the others were left as
    /// they were: same score, level, counts, plan and next change).
    pub changed: u64,
}

impl std::ops::Add for Rescored {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            users: self.users + other.users,
            changed: self.changed + other.changed,
        }
    }
}

/// The users of a range whose stored row would change, with what writing
/// their new rows needs: their summaries and plans.
#[derive(Default)]
struct Changing {
    users: Vec<ScoringUser>,
    summaries: HashMap<i64, Summary>,
    plans: HashMap<i64, CurrentPlan>,
}

/// Which of `users` (with their payments `facts`) would get a stored row
/// other than theirs: the brief assessment of each, with no text built.
fn changing(
    users: Vec<RangeUser>,
    facts: &payments::Histories,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Changing {
    let mut changing = Changing::default();
    for RangeUser { user, plan, stored } in users {
        let summary = Summary::of(facts.of(user.id));
        let brief =
            risk::assess_summary_brief(&UserFacts::from(user), &summary, &rules.scoring, now);
        let row = ScoreRow::of_brief(user.id, user.is_active, plan, &brief, now);
        if stored.is_some_and(|stored| row.same_values(&stored)) {
            continue;
        }
        changing.summaries.insert(user.id, summary);
        if let Some(plan) = row.plan {
            changing.plans.insert(user.id, plan);
        }
        changing.users.push(user);
    }
    changing
}

/// Rescores the users with ids in `from..=to`, writing only the rows whose
/// values change: a rescore under unchanged rules costs reads, not a
/// rewrite of every row and its five indexes.
///
/// With `look_first`, a first look without locks finds the users whose
/// rows would change, and only they are locked, read again and rescored,
/// in one transaction (none when none would change). A row lock is a write
/// on PostgreSQL (the row's page and the WAL), so a rescore under unchanged
/// rules then writes nothing at all. Leaving a user out on the first
/// look's word is safe: their stored row is what scoring what it read
/// gives, and whatever a write changes since, the write rescores itself.
/// Without `look_first` (when most rows change, as after new weights, and
/// always on SQLite) the whole range is locked and read once.
async fn rescore_range(
    db: &DatabaseConnection,
    rules: &Rules,
    from: i64,
    to: i64,
    now: DateTime<Utc>,
    look_first: bool,
) -> Result<Rescored, DbErr> {
    // The first look's finds: the users whose rows would change, and how
    // many it read.
    let first_look = if look_first {
        let users = ranges::range_users(db, db, from, to, Lock::Nothing).await?;
        let facts = payments::facts_in_range(db, db, from, to).await?;
        let looked = users.len() as u64;
        let ids: Vec<i64> = changing(users, &facts, rules, now)
            .users
            .iter()
            .map(|user| user.id)
            .collect();
        if ids.is_empty() {
            return Ok(Rescored {
                users: looked,
                changed: 0,
            });
        }
        Some((ids, looked))
    } else {
        None
    };
    let lock = first_look
        .as_ref()
        .map_or(Lock::Range, |(ids, _)| Lock::Only(ids));
    let txn = db::begin_write(db).await?;
    let users = ranges::range_users(db, &txn, from, to, lock).await?;
    let read = users.len() as u64;
    let facts = payments::facts_in_range(db, &txn, from, to).await?;
    let Changing {
        users,
        summaries,
        plans,
    } = changing(users, &facts, rules, now);
    let rows = score_rows(&users, &summaries, plans, &rules.scoring, now);
    let done = Rescored {
        users: first_look.map_or(read, |(_, looked)| looked),
        changed: rows.len() as u64,
    };
    if !rows.is_empty() {
        write_scores(&txn, rules, rows, now).await?;
    }
    txn.commit().await?;
    Ok(done)
}

/// Recomputes every stored score at `now` (after a change of weights or
/// thresholds), in batches of `batch_users` ids, each batch's changes
/// written in a transaction of its own holding those users' locks (see
/// [`rescore_range`]); `progress` is told the users of each batch done.
pub async fn rescore_all(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
    batch_users: i64,
    mut progress: impl FnMut(u64),
) -> Result<Rescored, DbErr> {
    let batch_users = batch_users.max(1);
    let Some((min, max)) = users::id_bounds(db).await? else {
        return Ok(Rescored::default());
    };
    let ranges = (0..)
        .map(move |i| min + i * batch_users)
        .take_while(move |from| *from <= max)
        .map(move |from| (from, (from + batch_users - 1).min(max)));
    // Whether the next ranges look first: on PostgreSQL, while at most half
    // the rows of the last range finished changed (an empty range, a gap in
    // the ids, changes none). SQLite locks nothing per row (its write
    // transactions exclude each other), so a first look would only add
    // reads there.
    let postgres = db::is_postgres(db);
    let look_first = AtomicBool::new(postgres);
    let look_first = &look_first;
    futures::stream::iter(ranges)
        .map(|(from, to)| async move {
            let done =
                rescore_range(db, rules, from, to, now, look_first.load(Ordering::Relaxed)).await?;
            look_first.store(
                postgres && done.changed * 2 <= done.users,
                Ordering::Relaxed,
            );
            Ok::<_, DbErr>(done)
        })
        .buffer_unordered(PARALLEL_BATCHES)
        .try_fold(Rescored::default(), |total, done| {
            progress(done.users);
            futures::future::ready(Ok(total + done))
        })
        .await
}

/// [`rescore_all`] with a progress bar or lines, sized by the users present.
pub async fn rescore_all_with_progress(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Result<Rescored, DbErr> {
    let total = users::count(db).await?;
    let mut progress = Progress::new("rescore", total);
    let done = rescore_all(db, rules, now, BATCH_USERS, |n| progress.inc(n)).await?;
    // Rows were rewritten: clear the old versions, refresh statistics.
    if done.changed > 0 {
        maintenance::refresh_statistics(db, &["risk_scores"]).await?;
    }
    progress.finish();
    Ok(done)
}

/// One step of the background refresher: rescores up to `limit` users whose
/// stored score changes by time alone at or before `now`; returns how many.
pub async fn rescore_due(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    if risk_scores::due(db, now, 1).await?.is_empty() {
        return Ok(0);
    }
    let txn = db::begin_write(db).await?;
    // Claimed under the users' locks, skipping users another process holds,
    // then checked again: a user another process rescored meanwhile is no
    // longer due. So each due user is rescored once across processes.
    let claimed = users::lock_due(&txn, now, limit).await?;
    let ids: Vec<i64> = claimed.iter().map(|u| u.id).collect();
    let still_due = risk_scores::due_among(&txn, &ids, now).await?;
    let locked: Vec<_> = claimed
        .into_iter()
        .filter(|u| still_due.contains(&u.id))
        .collect();
    if locked.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let ids: Vec<i64> = locked.iter().map(|u| u.id).collect();
    let read = rescoring_of(&txn, &ids).await?;
    let rows = score_rows(&locked, &read.summaries, read.plans, &rules.scoring, now);
    let count = rows.len() as u64;
    write_scores_read(&txn, rules, rows, &read.before, now).await?;
    txn.commit().await?;
    Ok(count)
}

/// How far behind the background refresher is at `now`: the time since the
/// most overdue score should have changed, zero when none is due.
pub async fn refresh_lag(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<std::time::Duration, DbErr> {
    let oldest = risk_scores::oldest_due(db, now).await?;
    Ok(oldest
        .and_then(|due| (now - due).to_std().ok())
        .unwrap_or_default())
}
