//! PostgreSQL's `COPY … FROM STDIN` text format, for the bulk paths (seeding
//! and full rescoring) where row-by-row INSERTs would dominate the run time.

use chrono::{DateTime, Utc};

/// One COPY payload being built: tab-separated fields, `\N` for NULL, one row
/// per line.
pub struct CopyText(String);

impl Default for CopyText {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyText {
    /// An empty payload.
    pub fn new() -> Self {
        Self(String::with_capacity(1 << 20))
    }

    /// A text field, escaped.
    pub fn text(&mut self, value: &str) -> &mut Self {
        for c in value.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '\t' => self.0.push_str("\\t"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                c => self.0.push(c),
            }
        }
        self.0.push('\t');
        self
    }

    /// A field whose `Display` needs no escaping (numbers, booleans).
    pub fn display(&mut self, value: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.0, "{value}\t");
        self
    }

    /// A UTC timestamp, for a `timestamptz` column.
    pub fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.display(value.format("%Y-%m-%d %H:%M:%S%.6f+00"))
    }

    /// NULL.
    pub fn null(&mut self) -> &mut Self {
        self.0.push_str("\\N\t");
        self
    }

    /// Text or NULL.
    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A timestamp or NULL.
    pub fn opt_time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }

    /// Bytes buffered so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.0.pop();
        self.0.push('\n');
    }

    /// Sends the payload with `statement` (a `COPY … FROM STDIN`) on `conn`.
    pub async fn send(
        self,
        conn: &mut sqlx::PgConnection,
        statement: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(self.0.into_bytes()).await?;
        copy.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped_and_nulls_spelled() {
        let mut copy = CopyText::new();
        copy.text("a\tb\\c\nd").null().display(3).end_row();
        assert_eq!(copy.0, "a\\tb\\\\c\\nd\t\\N\t3\n");
    }
}
