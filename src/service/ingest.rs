//! Recording users, plan versions and payments (SPEC §4 mutations). Each
//! write locks the user, writes, rescores the user (SPEC §3.4) and commits:
//! all of it or none of it. Inputs arrive parsed (the front end turned them
//! into [`crate::domain`] values), so nothing is written for a bad one.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use entity::{subscription_payments, user_subscriptions, users};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

use crate::db;
use crate::domain::{Caller, Cents, CurrencyCode, Email, PaymentStatus, PlanStatus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::risk::{Assessment, ScoringConfig, Summary};
use crate::service::Rules;
use crate::service::audit::{self, Action};
use crate::service::scoring;
use crate::store::audit::EntryFields;
use crate::store::payments::PaymentFields;
use crate::store::subscriptions::PlanFields;
use crate::store::users::{ScoringUser, UserFields};
use crate::store::{payments, risk_scores, subscriptions, users as user_store};

/// A payment to record, parsed.
#[derive(Clone, Debug)]
pub struct NewPayment {
    /// The payer.
    pub user_id: i64,
    /// The plan version paid for; must belong to the user.
    pub subscription_id: Option<i64>,
    /// The billing system's id: recording it twice records it once.
    pub external_id: Option<String>,
    /// Amount.
    pub amount: Cents,
    /// Currency.
    pub currency: CurrencyCode,
    /// Outcome.
    pub status: PaymentStatus,
    /// When it was attempted.
    pub payment_date: DateTime<Utc>,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Who records it (for the audit trail).
    pub caller: Caller,
}

impl From<NewPayment> for PaymentFields {
    fn from(p: NewPayment) -> Self {
        Self {
            user_id: p.user_id,
            subscription_id: p.subscription_id,
            external_id: p.external_id,
            amount: p.amount,
            currency: p.currency.into_string(),
            status: p.status,
            // As stored: both databases keep microseconds.
            payment_date: p.payment_date.trunc_subsecs(6),
            payment_method: p.payment_method,
            failure_reason: p.failure_reason,
        }
    }
}

/// What recording a payment did.
#[derive(Clone, Debug)]
pub struct PaymentRecorded {
    /// The stored payment (the earlier one for a duplicate).
    pub payment: subscription_payments::Model,
    /// The external id was already recorded: nothing new was written.
    pub duplicate: bool,
    /// The user's score after the payment.
    pub assessment: Assessment,
}

/// A plan version to record, parsed.
#[derive(Clone, Debug)]
pub struct NewSubscription {
    /// The subscriber.
    pub user_id: i64,
    /// basic, premium, pro, enterprise, … (stored lower case).
    pub subscription_type: String,
    /// Its status.
    pub status: PlanStatus,
    /// Monthly price.
    pub monthly_amount: Cents,
    /// Currency.
    pub currency: CurrencyCode,
    /// First instant it applies.
    pub effective_from: DateTime<Utc>,
    /// Last instant it applies.
    pub effective_until: Option<DateTime<Utc>>,
}

/// A user to create or update, parsed: matched by external id, else by email.
#[derive(Clone, Debug)]
pub struct UserUpsert {
    /// The billing system's id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Contact email.
    pub email: Email,
    /// Account opening; now for a new user when absent, unchanged otherwise.
    pub created_at: Option<DateTime<Utc>>,
    /// Active flag; true for a new user when absent, unchanged otherwise.
    pub is_active: Option<bool>,
}

/// Records a payment and rescores its user in the same transaction. With an
/// external id already recorded, returns the earlier payment and records
/// nothing (SPEC §2: ingestion is idempotent).
pub async fn record_payment(
    db: &DatabaseConnection,
    rules: &Rules,
    input: NewPayment,
    now: DateTime<Utc>,
) -> AppResult<PaymentRecorded> {
    record_payments(db, rules, vec![input], now)
        .await
        .pop()
        .unwrap_or_else(|| Err(AppError::bug("a payment was recorded without an answer")))
}

/// Records several payments and returns one result per input, in order: as
/// if each had been recorded alone, one after the other. They are written in
/// rounds (see [`rounds`]), each one transaction in which every user is
/// locked, written and rescored together (SPEC §3.4). One refused payment
/// (unknown user, another user's plan or external id) refuses only itself.
/// Should a round's transaction fail as a whole, each of its payments is
/// retried alone, so that one cannot sink the others.
pub async fn record_payments(
    db: &DatabaseConnection,
    rules: &Rules,
    inputs: Vec<NewPayment>,
    now: DateTime<Utc>,
) -> Vec<AppResult<PaymentRecorded>> {
    record_payments_telling(db, rules, inputs, now, &|| {}).await
}

/// [`record_payments`], calling `committing` as each transaction starts
/// its commit: from then on it only waits for the commit's flush (the
/// payment writer starts the next batch then).
pub async fn record_payments_telling(
    db: &DatabaseConnection,
    rules: &Rules,
    inputs: Vec<NewPayment>,
    now: DateTime<Utc>,
    committing: &(dyn Fn() + Send + Sync),
) -> Vec<AppResult<PaymentRecorded>> {
    let mut results = Vec::with_capacity(inputs.len());
    let items = inputs
        .into_iter()
        .map(|input| {
            let caller = input.caller.clone();
            (PaymentFields::from(input), caller)
        })
        .collect();
    for round in rounds(items) {
        let (fields, callers): (Vec<_>, Vec<_>) = round.into_iter().unzip();
        match record_round(db, rules, &fields, &callers, now, committing).await {
            Ok(outcomes) => results.extend(outcomes),
            Err(error) if fields.len() == 1 => results.push(Err(error.into())),
            Err(_) => {
                for (payment, caller) in fields.iter().zip(&callers) {
                    let one = std::slice::from_ref(payment);
                    let callers = std::slice::from_ref(caller);
                    match record_round(db, rules, one, callers, now, committing).await {
                        Ok(outcomes) => results.extend(outcomes),
                        Err(error) => results.push(Err(error.into())),
                    }
                }
            }
        }
    }
    results
}

/// Splits `payments`, in order, into rounds in which no external id appears
/// twice: the second of two payments with one external id must see the
/// first recorded, so it starts the next round.
fn rounds<T>(payments: Vec<(PaymentFields, T)>) -> Vec<Vec<(PaymentFields, T)>> {
    let mut rounds: Vec<Vec<(PaymentFields, T)>> = vec![Vec::new()];
    let mut seen = HashSet::new();
    for payment in payments {
        if let Some(id) = &payment.0.external_id
            && !seen.insert(id.clone())
        {
            seen.clear();
            seen.insert(id.clone());
            rounds.push(Vec::new());
        }
        if let Some(round) = rounds.last_mut() {
            round.push(payment);
        }
    }
    rounds.retain(|round| !round.is_empty());
    rounds
}

/// What a round's transaction found before writing: the locked users, the
/// external ids already recorded, the owners of the plans named, and the
/// histories and current plans of the users.
struct RoundState {
    users: HashMap<i64, ScoringUser>,
    recorded: HashMap<String, subscription_payments::Model>,
    owners: HashMap<i64, i64>,
    summaries: HashMap<i64, Summary>,
    plans: HashMap<i64, risk_scores::CurrentPlan>,
    before: scoring::Before,
}

impl RoundState {
    async fn load(txn: &DatabaseTransaction, items: &[PaymentFields]) -> Result<Self, DbErr> {
        let mut user_ids: Vec<i64> = items.iter().map(|p| p.user_id).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let users: HashMap<i64, ScoringUser> = user_store::lock_many(txn, &user_ids)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect();
        let external_ids: Vec<&str> = items
            .iter()
            .filter_map(|p| p.external_id.as_deref())
            .collect();
        let plan_ids: Vec<i64> = items.iter().filter_map(|p| p.subscription_id).collect();
        // The histories as they stand before this round (the users are
        // locked), summed up: a cost that does not grow with their length.
        let scored: Vec<i64> = users.keys().copied().collect();
        let read = scoring::rescoring_of(txn, &scored).await?;
        Ok(Self {
            recorded: payments::by_external_ids(txn, &external_ids).await?,
            owners: subscriptions::owners(txn, &plan_ids).await?,
            summaries: read.summaries,
            plans: read.plans,
            before: read.before,
            users,
        })
    }
}

/// What the transaction does with one payment.
enum Plan {
    Refused(AppError),
    Duplicate(subscription_payments::Model),
    Insert,
}

/// Decides, from what the round found, what becomes of `p`.
fn classify(p: &PaymentFields, state: &RoundState) -> Plan {
    if !state.users.contains_key(&p.user_id) {
        return Plan::Refused(AppError::user_not_found(p.user_id));
    }
    if let Some(existing) = p.external_id.as_ref().and_then(|id| state.recorded.get(id)) {
        return match duplicate_or_refusal(existing, p) {
            Ok(payment) => Plan::Duplicate(payment),
            Err(error) => Plan::Refused(error),
        };
    }
    if let Some(plan_id) = p.subscription_id
        && state.owners.get(&plan_id) != Some(&p.user_id)
    {
        return Plan::Refused(AppError::bad_input(
            "subscriptionId",
            format!("subscription {plan_id} is not a plan of user {}", p.user_id),
        ));
    }
    Plan::Insert
}

/// Where each payment of a round ended once the inserts ran.
enum Written {
    New(subscription_payments::Model),
    Earlier(subscription_payments::Model),
    Refused(AppError),
}

/// One transaction over `items` (no external id twice), recorded by
/// `callers` (one each): refusals come back as per-item errors; a database
/// failure rolls the whole round back. Each payment recorded, or found
/// recorded already, leaves its audit entry in the same transaction.
/// `committing` is called when only the commit is left.
async fn record_round(
    db: &DatabaseConnection,
    rules: &Rules,
    items: &[PaymentFields],
    callers: &[Caller],
    now: DateTime<Utc>,
    committing: &(dyn Fn() + Send + Sync),
) -> Result<Vec<AppResult<PaymentRecorded>>, DbErr> {
    let txn = db::begin_write(db).await?;
    let mut state = RoundState::load(&txn, items).await?;
    let plans: Vec<Plan> = items.iter().map(|p| classify(p, &state)).collect();
    let to_insert: Vec<PaymentFields> = items
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| matches!(plan, Plan::Insert))
        .map(|(p, _)| p.clone())
        .collect();
    let mut inserted = payments::insert_new(&txn, &to_insert).await?;
    // A payment not among the rows inserted lost the race for its external id
    // to a concurrent request since the round looked: look those up.
    let raced: Vec<&str> = to_insert
        .iter()
        .filter(|p| !inserted.iter().any(|m| p.is_stored_as(m)))
        .filter_map(|p| p.external_id.as_deref())
        .collect();
    state
        .recorded
        .extend(payments::by_external_ids(&txn, &raced).await?);

    let mut written = Vec::with_capacity(items.len());
    for (p, plan) in items.iter().zip(plans) {
        written.push(match plan {
            Plan::Refused(error) => Written::Refused(error),
            Plan::Duplicate(payment) => Written::Earlier(payment),
            Plan::Insert => match inserted.iter().position(|m| p.is_stored_as(m)) {
                Some(found) => Written::New(inserted.swap_remove(found)),
                None => {
                    let earlier = p
                        .external_id
                        .as_ref()
                        .and_then(|id| state.recorded.get(id))
                        .ok_or(DbErr::RecordNotInserted)?;
                    match duplicate_or_refusal(earlier, p) {
                        Ok(payment) => Written::Earlier(payment),
                        Err(error) => Written::Refused(error),
                    }
                }
            },
        });
    }

    let (outcomes, changed) = answer(items, written, &mut state, &rules.scoring, now);
    let changed: Vec<ScoringUser> = changed
        .into_iter()
        .filter_map(|id| state.users.get(&id).copied())
        .collect();
    let rows = scoring::score_rows(&changed, &state.summaries, state.plans, &rules.scoring, now);
    scoring::write_scores_read(&txn, rules, rows, &state.before, now).await?;
    crate::store::audit::insert(&txn, audit_entries(&outcomes, callers, now)).await?;
    committing();
    txn.commit().await?;
    Ok(outcomes)
}

/// The audit entries of a round's recorded payments (refusals are recorded
/// by the front end, which sees every refusal, these included).
fn audit_entries(
    outcomes: &[AppResult<PaymentRecorded>],
    callers: &[Caller],
    now: DateTime<Utc>,
) -> Vec<EntryFields> {
    outcomes
        .iter()
        .zip(callers)
        .filter_map(|(outcome, caller)| {
            let recorded = outcome.as_ref().ok()?;
            let object = Some(("payment", recorded.payment.id.to_string()));
            let action = Action::ok("recordPayment", object);
            let action = match recorded.duplicate {
                true => action.with_outcome("duplicate"),
                false => action,
            };
            Some(action.entry(caller, now))
        })
        .collect()
}

/// Answers each payment from its user's history as it stands after it, in
/// turn; returns the answers and the users whose history grew.
fn answer(
    items: &[PaymentFields],
    written: Vec<Written>,
    state: &mut RoundState,
    config: &ScoringConfig,
    now: DateTime<Utc>,
) -> (Vec<AppResult<PaymentRecorded>>, BTreeSet<i64>) {
    let mut changed = BTreeSet::new();
    let outcomes = items
        .iter()
        .zip(written)
        .map(|(p, written)| {
            let (payment, duplicate) = match written {
                Written::Refused(error) => return Err(error),
                Written::Earlier(payment) => (payment, true),
                Written::New(payment) => {
                    state
                        .summaries
                        .entry(p.user_id)
                        .or_default()
                        .add(payments::fact_of(&payment));
                    changed.insert(p.user_id);
                    (payment, false)
                }
            };
            let user = state
                .users
                .get(&p.user_id)
                .ok_or_else(|| AppError::bug("a payment was written for an unlocked user"))?;
            let empty = Summary::default();
            let summary = state.summaries.get(&p.user_id).unwrap_or(&empty);
            Ok(PaymentRecorded {
                assessment: scoring::assess_summary(user, summary, config, now),
                payment,
                duplicate,
            })
        })
        .collect();
    (outcomes, changed)
}

/// The earlier payment under `p`'s external id when it is the same user's
/// (a duplicate), a refusal otherwise.
fn duplicate_or_refusal(
    existing: &subscription_payments::Model,
    p: &PaymentFields,
) -> AppResult<subscription_payments::Model> {
    if existing.user_id == p.user_id {
        Ok(existing.clone())
    } else {
        Err(AppError::bad_input(
            "externalId",
            format!(
                "{:?} is already recorded for another user",
                p.external_id.as_deref().unwrap_or_default()
            ),
        ))
    }
}

/// Records a plan version and rescores its user in the same transaction.
pub async fn record_subscription(
    db: &DatabaseConnection,
    rules: &Rules,
    input: NewSubscription,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<user_subscriptions::Model> {
    if input
        .effective_until
        .is_some_and(|until| until < input.effective_from)
    {
        return Err(AppError::bad_input(
            "effectiveUntil",
            "must not be before effectiveFrom",
        ));
    }
    let txn = db::begin_write(db).await?;
    let user = user_store::lock(&txn, input.user_id)
        .await?
        .ok_or_else(|| AppError::user_not_found(input.user_id))?;
    let subscription = subscriptions::insert(
        &txn,
        PlanFields {
            user_id: input.user_id,
            subscription_type: input.subscription_type.to_lowercase(),
            status: input.status,
            monthly_amount: input.monthly_amount,
            currency: input.currency.into_string(),
            recorded_at: now,
            effective_from: input.effective_from,
            effective_until: input.effective_until,
        },
    )
    .await?;
    scoring::rescore_user(&txn, rules, &ScoringUser::from(&user), now).await?;
    let object = Some(("subscription", subscription.id.to_string()));
    audit::record(&txn, caller, Action::ok("recordSubscription", object), now).await?;
    txn.commit().await?;
    Ok(subscription)
}

/// Creates or updates a user (matched by external id, else by email) and
/// rescores them in the same transaction.
///
/// Two concurrent upserts of one new user both find no match and both
/// insert; the second insert waits for the first to commit and then breaks
/// the unique index. That upsert is tried once more, in a new transaction,
/// where it finds the first one's user and updates it. A second unique
/// violation is a real one: the email belongs to another user.
pub async fn upsert_user(
    db: &DatabaseConnection,
    rules: &Rules,
    input: UserUpsert,
    caller: &Caller,
    now: DateTime<Utc>,
) -> AppResult<users::Model> {
    let written = match try_upsert_user(db, rules, input.clone(), caller, now).await {
        Err(Upsert::Inserting(error)) if is_unique_violation(&error) => {
            try_upsert_user(db, rules, input, caller, now).await
        }
        other => other,
    };
    written.map_err(|error| match error {
        Upsert::Inserting(error) | Upsert::Updating(error) if is_unique_violation(&error) => {
            AppError::bad_input("email", "is already the email of another user")
        }
        Upsert::Inserting(error) | Upsert::Updating(error) | Upsert::Other(error) => error.into(),
    })
}

/// Where an upsert failed: the insert of a new user (a unique violation
/// there may be a concurrent insert of the same user), the update of an
/// existing one, or elsewhere.
enum Upsert {
    Inserting(DbErr),
    Updating(DbErr),
    Other(DbErr),
}

impl From<DbErr> for Upsert {
    fn from(error: DbErr) -> Self {
        Self::Other(error)
    }
}

/// One transaction of [`upsert_user`].
async fn try_upsert_user(
    db: &DatabaseConnection,
    rules: &Rules,
    input: UserUpsert,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<users::Model, Upsert> {
    let txn = db::begin_write(db).await?;
    let existing = match &input.external_id {
        Some(external_id) => user_store::by_external_id(&txn, external_id).await?,
        None => user_store::by_email(&txn, input.email.as_str()).await?,
    };
    let user = match existing {
        Some(found) => {
            // The row as it stands once locked: a concurrent upsert may
            // have changed it since it was found.
            let user = user_store::lock(&txn, found.id).await?.unwrap_or(found);
            let fields = UserFields {
                external_id: user.external_id,
                name: input.name,
                email: input.email.into_string(),
                created_at: input.created_at.unwrap_or(user.created_at),
                is_active: input.is_active.unwrap_or(user.is_active),
            };
            user_store::update(&txn, user.id, fields)
                .await
                .map_err(Upsert::Updating)?
        }
        None => {
            let fields = UserFields {
                external_id: input.external_id,
                name: input.name,
                email: input.email.into_string(),
                created_at: input.created_at.unwrap_or(now),
                is_active: input.is_active.unwrap_or(true),
            };
            user_store::insert(&txn, fields)
                .await
                .map_err(Upsert::Inserting)?
        }
    };
    scoring::rescore_user(&txn, rules, &ScoringUser::from(&user), now).await?;
    let object = Some(("user", user.id.to_string()));
    let entry = Action::ok("upsertUser", object).entry(caller, now);
    crate::store::audit::insert(&txn, vec![entry]).await?;
    txn.commit().await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(external_id: Option<&str>) -> (PaymentFields, ()) {
        let fields = PaymentFields {
            user_id: 1,
            subscription_id: None,
            external_id: external_id.map(str::to_owned),
            amount: Cents::new(999),
            currency: "EUR".to_owned(),
            status: PaymentStatus::Success,
            payment_date: DateTime::UNIX_EPOCH,
            payment_method: "card".to_owned(),
            failure_reason: None,
        };
        (fields, ())
    }

    #[test]
    fn a_repeated_external_id_starts_the_next_round_and_order_is_kept() {
        let input = vec![
            payment(Some("a")),
            payment(None),
            payment(Some("b")),
            payment(Some("a")),
            payment(None),
            payment(Some("b")),
        ];
        let rounds = rounds(input.clone());
        let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3]);
        assert_eq!(rounds.concat(), input, "every payment once, in order");
        assert!(super::rounds::<()>(Vec::new()).is_empty());
    }
}
