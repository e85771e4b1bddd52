//! Exports of the risky list (SPEC §12): the whole filtered list, in score
//! order, as CSV (RFC 4180) or one JSON array, streamed. The list is read
//! a page at a time by its keyset cursor as the client takes the body, so
//! memory stays at one page whatever the list's length, no statement runs
//! longer than a page's query, and a slow client slows only its own export.

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::domain::{Cents, ListCursor, RiskyFilter};
use crate::error::AppError;
use crate::service::queries::{self, RiskyUser};

/// Rows read per query.
pub const PAGE: u64 = 1_000;

/// The export's columns, in order (SPEC §12).
pub const COLUMNS: [&str; 12] = [
    "id",
    "name",
    "email",
    "risk_score",
    "risk_level",
    "patterns",
    "failure_rate",
    "failed_payments",
    "total_payments",
    "subscription_type",
    "monthly_amount",
    "created_at",
];

/// CSV or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180, CRLF line ends, a header row.
    Csv,
    /// One array of objects.
    Json,
}

impl Format {
    /// The `content-type` of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }

    /// The file name offered to a browser.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Csv => "risky-users.csv",
            Self::Json => "risky-users.json",
        }
    }
}

/// Where the stream stands.
enum Step {
    /// Nothing sent yet.
    Start,
    /// The next page starts after this row (none: the first page); whether
    /// a row was sent already (JSON separates rows with commas).
    After(Option<ListCursor>, bool),
    /// The closing bytes were sent.
    Done,
}

/// The export of `filter` as `format`, a chunk per page.
pub fn risky_users(
    db: DatabaseConnection,
    filter: RiskyFilter,
    format: Format,
) -> impl Stream<Item = Result<Bytes, AppError>> + Send + 'static {
    futures::stream::try_unfold(Step::Start, move |step| {
        let db = db.clone();
        let filter = filter.clone();
        async move {
            match step {
                Step::Start => {
                    let opening = match format {
                        Format::Csv => {
                            let mut line = COLUMNS.join(",");
                            line.push_str("\r\n");
                            line
                        }
                        Format::Json => "[".to_owned(),
                    };
                    Ok(Some((Bytes::from(opening), Step::After(None, false))))
                }
                Step::After(after, mut sent) => {
                    let page = queries::risky_users(&db, &filter, PAGE, after).await?;
                    let mut chunk = String::with_capacity(page.rows.len() * 160);
                    for row in &page.rows {
                        match format {
                            Format::Csv => csv_row(&mut chunk, row),
                            Format::Json => {
                                if sent {
                                    chunk.push(',');
                                }
                                chunk.push('\n');
                                chunk.push_str(&json_row(row).to_string());
                            }
                        }
                        sent = true;
                    }
                    let next = match (page.has_next_page, page.rows.last()) {
                        (true, Some(last)) => Step::After(Some(last.cursor()), sent),
                        _ => {
                            if format == Format::Json {
                                chunk.push_str("\n]\n");
                            }
                            Step::Done
                        }
                    };
                    Ok(Some((Bytes::from(chunk), next)))
                }
                Step::Done => Ok(None),
            }
        }
    })
    .inspect_err(|error: &AppError| {
        tracing::warn!(
            ?error,
            "an export stopped early: its client got a truncated body"
        );
    })
}

/// The cells of `row`, as text, in [`COLUMNS`] order (`None`: empty).
fn cells(row: &RiskyUser) -> [Option<String>; 12] {
    let s = &row.score;
    let patterns: Vec<&str> = row.patterns().iter().map(|p| p.as_str()).collect();
    [
        Some(row.user.id.to_string()),
        Some(row.user.name.clone()),
        Some(row.user.email.clone()),
        Some(s.score.to_string()),
        Some(row.level().as_str().to_owned()),
        Some(patterns.join(";")),
        Some(s.failure_rate.to_string()),
        Some(s.failed_payments.to_string()),
        Some(s.total_payments.to_string()),
        s.subscription_type.clone(),
        s.monthly_amount_cents
            .map(|c| format!("{:.2}", Cents::new(c).units())),
        Some(
            row.user
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ]
}

/// Appends `row` as one CSV record.
fn csv_row(out: &mut String, row: &RiskyUser) {
    for (i, cell) in cells(row).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(value) = cell {
            csv_cell(out, value);
        }
    }
    out.push_str("\r\n");
}

/// Appends one CSV cell: a value a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a
/// leading `'`; a cell with a comma, a quote or a line break is quoted,
/// its quotes doubled (RFC 4180).
pub fn csv_cell(out: &mut String, value: &str) {
    let formula = matches!(
        value.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    let quoted = value.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quoted {
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// `row` as a JSON object with the [`COLUMNS`] keys.
fn json_row(row: &RiskyUser) -> Value {
    let s = &row.score;
    json!({
        "id": row.user.id,
        "name": row.user.name,
        "email": row.user.email,
        "risk_score": s.score,
        "risk_level": row.level().as_str(),
        "patterns": row.patterns().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "failure_rate": s.failure_rate,
        "failed_payments": s.failed_payments,
        "total_payments": s.total_payments,
        "subscription_type": s.subscription_type,
        "monthly_amount": s.monthly_amount_cents.map(|c| Cents::new(c).units()),
        "created_at": row.user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: &str) -> String {
        let mut out = String::new();
        csv_cell(&mut out, value);
        out
    }

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(cell("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tcmd"), "'\tcmd");
        assert_eq!(cell("\rcmd"), "\"'\rcmd\"");
        assert_eq!(cell("a=b"), "a=b");
    }
}
