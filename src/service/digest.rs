//! The daily digest (SPEC §10, issue #11): at `DIGEST_TIME` (UTC) each day,
//! one Markdown summary of what changed since the last digest, stored in
//! `digests` and queued to every channel that wants `DIGEST`.
//!
//! Exactly once per day across restarts and replicas, without holding the
//! score writes: [`make`] first closes the current digest generation
//! (migration 13) by inserting the day's row, in a write transaction that
//! waits only for the score writes in flight. From then on the scores at the
//! digest's instant and at the last one are readable from `risk_scores`'
//! baseline columns, whatever is written meanwhile; the figures are read
//! from them, and the Markdown stored with the deliveries (one per channel,
//! keyed `digest:<day>`) in a second write transaction, which only one
//! process's can do. A digest interrupted between the two (a crash, a
//! restart) is finished by the next [`make`]. The failure rates are
//! [`queries::stats`]'s, so the digest says what the `stats` API says.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use entity::sea_orm_active_enums::EventType;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::clock::SharedClock;
use crate::config::AlertSettings;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::risk::RiskLevel;
use crate::service::queries::{self, SystemStats, TrendDays};
use crate::service::{Rules, outbox};
use crate::store;
use crate::store::digest::{DigestUser, day_key};

/// How many of the users who became high or critical the digest names (it
/// gives the total too).
pub const BECAME_HIGH_SHOWN: u64 = 50;

/// How many risers the digest names.
pub const RISERS_SHOWN: u64 = 10;

/// The days of the failure-rate trend, today included.
pub const TREND_DAYS: i64 = 7;

/// The longest the scheduler sleeps before it reads the clock again (a
/// clock set forward, or a suspended host, is noticed within this).
const NAP: Duration = Duration::from_secs(60);

/// How long the scheduler waits after a failed attempt.
const RETRY: Duration = Duration::from_secs(60);

/// The longest a digest's statements may run (the serving pool's own
/// timeout is a request's budget).
const DIGEST_BUDGET: Duration = Duration::from_secs(600);

/// Everything a digest reports, read at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// The day of the digest (UTC).
    pub day: NaiveDate,
    /// When the figures were read.
    pub at: DateTime<Utc>,
    /// The day of the previous digest, if any.
    pub previous: Option<String>,
    /// The statistics, with a [`TREND_DAYS`]-day trend.
    pub stats: SystemStats,
    /// Active users per level at the last digest (low to critical).
    pub baseline_levels: [u64; 4],
    /// Active users per level at this digest (low to critical).
    pub levels: [u64; 4],
    /// Users now high or critical who were below high (or new), at most
    /// [`BECAME_HIGH_SHOWN`].
    pub became_high: Vec<DigestUser>,
    /// How many users became high or critical in all.
    pub became_high_total: u64,
    /// The biggest rises of score, at most [`RISERS_SHOWN`].
    pub risers: Vec<DigestUser>,
    /// Open and acknowledged cases: level and opening instant of each.
    pub open_cases: Vec<(RiskLevel, DateTime<Utc>)>,
}

/// Reads the figures of `day`'s digest at `now`, reporting the changes
/// during digest `generation`, in a transaction.
async fn gather<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    now: DateTime<Utc>,
    generation: i64,
) -> AppResult<Figures> {
    let stats = queries::stats(conn, TrendDays::parse(TREND_DAYS)?, now).await?;
    let (baseline_levels, levels) = store::digest::levels(conn, generation).await?;
    let (became_high, became_high_total) =
        store::digest::became_high(conn, generation, BECAME_HIGH_SHOWN).await?;
    let risers = store::digest::risers(conn, generation, RISERS_SHOWN).await?;
    let open_cases = store::alerts::open_cases(conn)
        .await?
        .into_iter()
        .map(|(level, at)| (RiskLevel::from(level), at))
        .collect();
    let previous = store::digest::previous_day(conn, day).await?;
    Ok(Figures {
        day,
        at: now,
        previous,
        stats,
        baseline_levels,
        levels,
        became_high,
        became_high_total,
        risers,
        open_cases,
    })
}

/// [`gather`] in one read transaction, whose statements may take a digest's
/// budget rather than a request's, for `generation` (the current one, read
/// in the same snapshot, when `None`).
async fn gather_once(
    db: &DatabaseConnection,
    day: NaiveDate,
    now: DateTime<Utc>,
    generation: Option<i64>,
) -> AppResult<Figures> {
    let read = db::begin_snapshot(db).await?;
    store::maintenance::long_statements(&read, DIGEST_BUDGET).await?;
    let generation = match generation {
        Some(generation) => generation,
        None => store::digest::current_generation(&read).await?,
    };
    let figures = gather(&read, day, now, generation).await?;
    read.commit().await?;
    Ok(figures)
}

/// A level as the digest's tables show it.
fn level_title(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "Low",
        RiskLevel::Medium => "Medium",
        RiskLevel::High => "High",
        RiskLevel::Critical => "Critical",
    }
}

/// Text made safe for a Markdown table cell: no line breaks, and the
/// characters Markdown reads as syntax escaped.
fn cell(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => safe.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '~' => {
                safe.push('\\');
                safe.push(c);
            }
            c if c.is_control() => {}
            c => safe.push(c),
        }
    }
    safe
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn signed(change: i64) -> String {
    match change {
        0 => "0".to_owned(),
        c if c > 0 => format!("+{c}"),
        c => format!("−{}", c.unsigned_abs()),
    }
}

fn user_cell(user: &DigestUser, settings: &AlertSettings) -> String {
    format!(
        "[{}]({})",
        cell(&user.name),
        outbox::user_link(settings, user.user_id)
    )
}

/// The age buckets of open cases: under one day, one to three, three to
/// seven, seven or more.
const AGE_BUCKETS: [&str; 4] = ["< 1 day", "1–3 days", "3–7 days", "≥ 7 days"];

fn age_bucket(age: TimeDelta) -> usize {
    match age.num_hours() {
        h if h < 24 => 0,
        h if h < 72 => 1,
        h if h < 168 => 2,
        _ => 3,
    }
}

/// The digest as Markdown: the title with the day, users per level and
/// their change since the last digest, who became high or critical, the
/// biggest risers, open cases by age, the failure-rate trend. `preview`
/// says it has not been made (nor sent) yet.
pub fn render(figures: &Figures, settings: &AlertSettings, preview: bool) -> String {
    let mut md = format!("# Risk Monitor digest, {}\n\n", day_key(figures.day));
    if preview {
        md.push_str(&format!(
            "_Preview: this day's digest has not been made yet; figures as of {} UTC._\n\n",
            figures.at.format("%H:%M")
        ));
    }
    match &figures.previous {
        Some(day) => md.push_str(&format!("Changes since the digest of {day}.\n\n")),
        None => md.push_str("Changes since scoring began (this is the first digest).\n\n"),
    }

    // Counts per level (SPEC §4 stats: active users).
    md.push_str("## Users per level\n\n| Level | Users | Change |\n| --- | ---: | ---: |\n");
    for (index, (level, _)) in figures.stats.levels.iter().enumerate().rev() {
        let now = figures.levels.get(index).copied().unwrap_or(0);
        let before = figures.baseline_levels.get(index).copied().unwrap_or(0);
        let change =
            i64::try_from(now).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX);
        md.push_str(&format!(
            "| {} | {now} | {} |\n",
            level_title(*level),
            signed(change)
        ));
    }
    md.push_str(&format!(
        "\n{} active users of {}.\n\n",
        figures.stats.active_users, figures.stats.total_users
    ));

    md.push_str(&format!(
        "## Became high or critical ({})\n\n",
        figures.became_high_total
    ));
    if figures.became_high.is_empty() {
        md.push_str("Nobody.\n\n");
    } else {
        md.push_str(
            "| User | Email | Score | Level | Before |\n| --- | --- | ---: | --- | --- |\n",
        );
        for user in &figures.became_high {
            let before = user
                .baseline_level
                .map_or("new", |level| level_title(level.into()));
            md.push_str(&format!(
                "| {} | {} | {:.2} | {} | {before} |\n",
                user_cell(user, settings),
                cell(&user.email),
                user.score,
                level_title(user.level.into()),
            ));
        }
        let shown = figures.became_high.len() as u64;
        if figures.became_high_total > shown {
            md.push_str(&format!(
                "\n… and {} more.\n",
                figures.became_high_total - shown
            ));
        }
        md.push('\n');
    }

    md.push_str("## Biggest risers\n\n");
    if figures.risers.is_empty() {
        md.push_str("No score rose.\n\n");
    } else {
        md.push_str("| User | Email | Score | Rise | Level |\n| --- | --- | ---: | ---: | --- |\n");
        for user in &figures.risers {
            let rise = user.score - user.baseline_score.unwrap_or(0.0);
            md.push_str(&format!(
                "| {} | {} | {:.2} | +{rise:.2} | {} |\n",
                user_cell(user, settings),
                cell(&user.email),
                user.score,
                level_title(user.level.into()),
            ));
        }
        md.push('\n');
    }

    md.push_str(&format!(
        "## Open cases by age ({})\n\n",
        figures.open_cases.len()
    ));
    md.push_str(&format!(
        "| Level | {} | Total |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        AGE_BUCKETS.join(" | ")
    ));
    for level in [
        RiskLevel::Critical,
        RiskLevel::High,
        RiskLevel::Medium,
        RiskLevel::Low,
    ] {
        let mut buckets = [0u64; 4];
        for (_, opened) in figures.open_cases.iter().filter(|(l, _)| *l == level) {
            buckets[age_bucket(figures.at - *opened)] += 1;
        }
        let total: u64 = buckets.iter().sum();
        let cells: Vec<String> = buckets.iter().map(u64::to_string).collect();
        md.push_str(&format!(
            "| {} | {} | {total} |\n",
            level_title(level),
            cells.join(" | ")
        ));
    }
    md.push_str(&format!("\nCases: {}\n\n", outbox::cases_link(settings)));

    md.push_str(&format!(
        "## Failure rate, last {TREND_DAYS} days\n\n| Day | Payments | Failed | Rate |\n| --- | ---: | ---: | ---: |\n"
    ));
    for day in &figures.stats.failure_trend {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            day.day.format("%Y-%m-%d"),
            day.payments,
            day.failed,
            percent(day.failure_rate())
        ));
    }
    md.push_str(&format!(
        "\nOverall: {} of {} payments failed ({}).\n",
        figures.stats.failed_payments,
        figures.stats.total_payments,
        percent(figures.stats.overall_failure_rate)
    ));
    md
}

/// Today's digest as it would be made now, without storing or sending it:
/// the changes during the current generation, until now.
pub async fn preview(
    db: &DatabaseConnection,
    rules: &Rules,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let figures = gather_once(db, now.date_naive(), now, None).await?;
    Ok(render(&figures, &rules.alerts, true))
}

/// The outcome of [`make`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Made {
    /// The day's digest, as stored.
    pub markdown: String,
    /// Whether this call made it (false: it existed already).
    pub made: bool,
    /// Deliveries queued by this call.
    pub queued: usize,
}

impl Made {
    fn existing(markdown: String) -> Self {
        Self {
            markdown,
            made: false,
            queued: 0,
        }
    }
}

/// Makes `day`'s digest at `now`, once: closes the current generation for
/// it, reads what changed during it, then stores the digest and queues it
/// to every channel wanting `DIGEST` in one write transaction. If `day`
/// already has one (another process, or before a restart), changes nothing
/// and returns the stored one. A digest left half-made is finished first:
/// until it is, the next generation cannot be closed.
pub async fn make(
    db: &DatabaseConnection,
    rules: &Rules,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<Made> {
    if let Some(open) = store::digest::being_made(db).await? {
        let (open_day, generation) = closed(&open)?;
        // As of its close, not of this retry.
        let finished = finish(db, rules, open_day, generation, open.created_at).await?;
        if open_day == day {
            return Ok(finished);
        }
    }
    if let Some(stored) = store::digest::stored(db, day).await? {
        return Ok(Made::existing(stored.markdown));
    }
    let txn = db::begin_write(db).await?;
    let closed = store::digest::close(&txn, day, now).await?;
    txn.commit().await?;
    match closed {
        Some(generation) => finish(db, rules, day, generation, now).await,
        // Another process closed a digest between the reads above and the
        // close: finish or return that one.
        None => Box::pin(make(db, rules, day, now)).await,
    }
}

/// The day and the generation of a digest whose generation is closed.
fn closed(row: &entity::digests::Model) -> AppResult<(NaiveDate, i64)> {
    let generation = row
        .generation
        .ok_or_else(|| AppError::bug("a digest being made without its generation"))?;
    Ok((parse_day(&row.day)?, generation))
}

/// Reads the figures of `day`'s digest, whose `generation` was closed at
/// `now`, and stores it with its deliveries, unless another process stored
/// it first.
async fn finish(
    db: &DatabaseConnection,
    rules: &Rules,
    day: NaiveDate,
    generation: i64,
    now: DateTime<Utc>,
) -> AppResult<Made> {
    let figures = gather_once(db, day, now, Some(generation)).await?;
    let markdown = render(&figures, &rules.alerts, false);
    let txn = db::begin_write(db).await?;
    if !store::digest::store(&txn, day, &markdown).await? {
        txn.rollback().await?;
        let stored = store::digest::stored(db, day)
            .await?
            .ok_or_else(|| AppError::bug("a digest neither being made nor stored"))?;
        return Ok(Made::existing(stored.markdown));
    }
    let key = format!("digest:{}", day_key(day));
    let day_text = day_key(day);
    let queued = outbox::queue_to_channels(
        &txn,
        EventType::Digest,
        None,
        Some(&key),
        now,
        |channel, event_id| outbox::digest_body(channel, event_id, &day_text, &markdown, now),
    )
    .await?;
    txn.commit().await?;
    Ok(Made {
        markdown,
        made: true,
        queued,
    })
}

/// `date` as a day: exactly `YYYY-MM-DD`.
fn parse_day(date: &str) -> AppResult<NaiveDate> {
    let refuse = || {
        AppError::bad_input(
            "date",
            format!("{date:?} is not a date in the form YYYY-MM-DD"),
        )
    };
    if date.len() != 10 {
        return Err(refuse());
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| refuse())
}

/// The digest of `date` (`YYYY-MM-DD`, UTC; today when `None`) for the
/// `digest` query and the command line: a made digest as it was stored;
/// today's preview while today's is not made. A malformed or future date,
/// or a past day without a digest, is refused.
pub async fn for_day(
    db: &DatabaseConnection,
    rules: &Rules,
    date: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let today = now.date_naive();
    let day = match date {
        None => today,
        Some(date) => parse_day(date)?,
    };
    if day > today {
        return Err(AppError::bad_input(
            "date",
            format!("{day} is in the future (today is {today}, UTC)"),
        ));
    }
    if let Some(stored) = store::digest::stored(db, day).await? {
        return Ok(stored.markdown);
    }
    // A digest being made: a preview of what it will say.
    if let Some(open) = store::digest::being_made(db).await?
        && open.day == day_key(day)
    {
        let (_, generation) = closed(&open)?;
        let figures = gather_once(db, day, open.created_at, Some(generation)).await?;
        return Ok(render(&figures, &rules.alerts, true));
    }
    if day == today {
        return preview(db, rules, now).await;
    }
    Err(AppError::bad_input(
        "date",
        format!("no digest was made on {day}"),
    ))
}

/// When the scheduler next acts after `now`: today's `at` if still ahead
/// and not done, else tomorrow's.
fn next_run(now: DateTime<Utc>, at: NaiveTime, done: Option<NaiveDate>) -> DateTime<Utc> {
    let today = now.date_naive();
    let due = today.and_time(at).and_utc();
    if now < due || done != Some(today) {
        due
    } else {
        due + TimeDelta::days(1)
    }
}

/// Runs forever in every serving process: at `DIGEST_TIME` each day makes
/// that day's digest. On start, if today's time has passed and today's
/// digest is missing, makes it at once (catch-up after a restart). Replicas
/// all try; [`make`] lets one of them make it. Returns at once when
/// `DIGEST_TIME=off`.
pub async fn run_scheduler(db: DatabaseConnection, rules: Rules, clock: SharedClock) {
    let Some(at) = rules.alerts.digest_time else {
        tracing::info!("DIGEST_TIME=off: no daily digest");
        return;
    };
    let mut done: Option<NaiveDate> = None;
    loop {
        let now = clock.now();
        let next = next_run(now, at, done);
        if next > now {
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO).min(NAP);
            tokio::time::sleep(wait).await;
            continue;
        }
        let day = now.date_naive();
        match make(&db, &rules, day, now).await {
            Ok(made) => {
                done = Some(day);
                if made.made {
                    tracing::info!(
                        digest.day = %day,
                        deliveries = made.queued,
                        "made the daily digest"
                    );
                }
            }
            Err(error) => {
                error.log();
                tracing::warn!(digest.day = %day, %error, "the daily digest failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_scheduler_waits_for_the_time_then_for_tomorrow() {
        let eight = NaiveTime::from_hms_opt(8, 0, 0).expect("time");
        let morning = at("2026-11-26T07:00:00Z");
        assert_eq!(next_run(morning, eight, None), at("2026-11-26T08:00:00Z"));
        // Past the time and not made: now (catch-up).
        let noon = at("2026-11-26T12:00:00Z");
        assert_eq!(next_run(noon, eight, None), at("2026-11-26T08:00:00Z"));
        assert!(next_run(noon, eight, None) <= noon);
        // Made today: tomorrow.
        let today = noon.date_naive();
        assert_eq!(
            next_run(noon, eight, Some(today)),
            at("2026-11-27T08:00:00Z")
        );
    }

    #[test]
    fn dates_must_be_exactly_year_month_day() {
        assert!(parse_day("2026-11-26").is_ok());
        for bad in [
            "2026-11-5",
            "26-11-2026",
            "2026-02-30",
            "yesterday",
            "",
            " 2026-11-26",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cells_escape_markdown_and_line_breaks() {
        assert_eq!(cell("a|b*c\nd"), "a\\|b\\*c d");
        assert_eq!(cell("[x](y)"), "\\[x\\](y)");
    }

    #[test]
    fn open_cases_fall_into_their_age_bucket() {
        assert_eq!(age_bucket(TimeDelta::hours(23)), 0);
        assert_eq!(age_bucket(TimeDelta::hours(24)), 1);
        assert_eq!(age_bucket(TimeDelta::days(3)), 2);
        assert_eq!(age_bucket(TimeDelta::days(7)), 3);
    }
}
