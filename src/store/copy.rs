//! PostgreSQL's `COPY` formats, for the bulk paths where one statement per
//! row, or one decoded value at a time, would dominate the run time:
//! - [`CopyBinary`] writes `COPY … FROM STDIN (FORMAT binary)` (the bulk
//!   loader: no timestamp formatted by the service nor parsed by the
//!   server);
//! - [`BinaryCopyReader`] reads `COPY … TO STDOUT (FORMAT binary)` (a full
//!   rescore reads every payment this way: fixed-width fields taken straight
//!   from the server's bytes, nothing allocated per row).

use chrono::{DateTime, Utc};

/// One `COPY … FROM STDIN (FORMAT binary)` payload being built: each field
/// in its column's binary form, so that neither side formats or parses text
/// (timestamps above all). Each method must match its column's type
/// exactly (`i64` an `int8`, `i32` an `int4`…): the server rejects a field
/// of another width.
pub struct CopyBinary {
    bytes: Vec<u8>,
    /// Where the current row's field count goes, once a field is written.
    row_start: Option<usize>,
    /// Fields in the current row.
    fields: i16,
    /// Whether a field too long for the format (2 GB) was left out: the
    /// payload is then refused by [`CopyBinary::send`].
    oversized: bool,
}

impl Default for CopyBinary {
    fn default() -> Self {
        Self::new()
    }
}

/// The header of a binary COPY: signature, flags, no extension.
const BINARY_HEADER_LEN: usize = BINARY_SIGNATURE.len() + 8;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC), from
/// which a binary `timestamptz` counts.
const UNIX_TO_POSTGRES_MICROS: i64 = 946_684_800_000_000;

impl CopyBinary {
    /// An empty payload.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(1 << 20);
        bytes.extend_from_slice(BINARY_SIGNATURE);
        bytes.extend_from_slice(&[0; 8]);
        Self {
            bytes,
            row_start: None,
            fields: 0,
            oversized: false,
        }
    }

    /// Counts a field of the current row, opening the row (its field count
    /// written at [`CopyBinary::end_row`]) on its first field.
    fn start_field(&mut self) {
        if self.row_start.is_none() {
            self.row_start = Some(self.bytes.len());
            self.bytes.extend_from_slice(&[0; 2]);
        }
        self.fields += 1;
    }

    fn field(&mut self, value: &[u8]) -> &mut Self {
        let Ok(len) = i32::try_from(value.len()) else {
            self.oversized = true;
            return self;
        };
        self.start_field();
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(value);
        self
    }

    /// An `int8` field.
    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// An `int4` field.
    pub fn i32(&mut self, value: i32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// A `float8` field.
    pub fn f64(&mut self, value: f64) -> &mut Self {
        self.field(&value.to_bits().to_be_bytes())
    }

    /// A `bool` field.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.field(&[u8::from(value)])
    }

    /// A text field (`text`, `varchar`, `char(n)`).
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    /// A `timestamptz` field, to the microsecond (as the text format
    /// wrote it: the nanoseconds below are cut).
    pub fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.i64(value.timestamp_micros() - UNIX_TO_POSTGRES_MICROS)
    }

    /// NULL.
    pub fn null(&mut self) -> &mut Self {
        self.start_field();
        self.bytes.extend_from_slice(&(-1_i32).to_be_bytes());
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
        self.bytes.len()
    }

    /// Whether no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == BINARY_HEADER_LEN
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        if let Some(start) = self.row_start.take() {
            self.bytes[start..start + 2].copy_from_slice(&self.fields.to_be_bytes());
        }
        self.fields = 0;
    }

    /// Sends the payload with `statement` (a `COPY … FROM STDIN (FORMAT
    /// binary)`) on `conn`, in messages of [`SEND_CHUNK_BYTES`]: the driver
    /// copies each message into its connection's write buffer, which would
    /// otherwise grow to the whole payload and keep that size.
    pub async fn send(
        mut self,
        conn: &mut sqlx::PgConnection,
        statement: &str,
    ) -> Result<u64, sqlx::Error> {
        if self.oversized {
            return Err(sqlx::Error::Protocol(
                "a COPY field of 2 GB or more".to_owned(),
            ));
        }
        self.bytes.extend_from_slice(&(-1_i16).to_be_bytes());
        let mut copy = conn.copy_in_raw(statement).await?;
        for chunk in self.bytes.chunks(SEND_CHUNK_BYTES) {
            copy.send(chunk).await?;
        }
        copy.finish().await
    }
}

/// Bytes of a COPY payload sent per message.
const SEND_CHUNK_BYTES: usize = 1 << 20;

/// The signature that opens a binary COPY stream.
const BINARY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Reads a `COPY … TO STDOUT (FORMAT binary)` stream whose tuples have `N`
/// fields (`None` for NULL), fed in chunks as the server sends them (a chunk
/// may end anywhere: what is left of a tuple waits for the next one).
#[derive(Debug, Default)]
pub struct BinaryCopyReader<const N: usize> {
    /// Bytes received but not yet read: the start of an unfinished tuple.
    pending: Vec<u8>,
    /// Whether the header was read.
    started: bool,
    /// Whether the trailer was read.
    ended: bool,
}

/// What made a binary COPY stream unreadable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unreadable binary COPY stream: {0}")]
pub struct CopyFormatError(&'static str);

impl<const N: usize> BinaryCopyReader<N> {
    /// Reads the tuples `chunk` completes, handing each one's fields to
    /// `tuple`; stops at the first error `tuple` returns.
    pub fn feed<E: From<CopyFormatError>>(
        &mut self,
        chunk: &[u8],
        mut tuple: impl FnMut([Option<&[u8]>; N]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.pending.is_empty() {
            let read = self.read(chunk, &mut tuple)?;
            self.pending.extend_from_slice(&chunk[read..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            let read = self.read(&pending, &mut tuple)?;
            pending.drain(..read);
            self.pending = pending;
        }
        Ok(())
    }

    /// Checks that the stream ended with its trailer, nothing after it.
    pub fn finish(self) -> Result<(), CopyFormatError> {
        match (self.ended, self.pending.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => Err(CopyFormatError("data after the trailer")),
            (false, _) => Err(CopyFormatError("the stream ended inside a tuple")),
        }
    }

    /// Reads every complete part of `bytes`; returns how many bytes it read.
    fn read<E: From<CopyFormatError>>(
        &mut self,
        bytes: &[u8],
        tuple: &mut impl FnMut([Option<&[u8]>; N]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut at = 0;
        if !self.started {
            let Some(header) = header_len(bytes)? else {
                return Ok(0);
            };
            self.started = true;
            at = header;
        }
        while !self.ended {
            let rest = &bytes[at..];
            let Some(count) = be_i16(rest) else { break };
            if count == -1 {
                self.ended = true;
                at += 2;
                break;
            }
            if usize::try_from(count) != Ok(N) {
                return Err(CopyFormatError("a tuple with an unexpected number of fields").into());
            }
            let mut fields: [Option<&[u8]>; N] = [None; N];
            let mut offset = 2;
            let mut complete = true;
            for field in &mut fields {
                let Some(len) = be_i32(&rest[offset..]) else {
                    complete = false;
                    break;
                };
                if len == -1 {
                    offset += 4;
                    continue;
                }
                let len =
                    usize::try_from(len).map_err(|_| CopyFormatError("a negative field length"))?;
                let Some(value) = rest.get(offset + 4..offset + 4 + len) else {
                    complete = false;
                    break;
                };
                *field = Some(value);
                offset += 4 + len;
            }
            if !complete {
                break;
            }
            tuple(fields)?;
            at += offset;
        }
        Ok(at)
    }
}

impl From<CopyFormatError> for sea_orm::DbErr {
    fn from(e: CopyFormatError) -> Self {
        Self::Type(e.to_string())
    }
}

/// Runs `statement`, a `COPY (…) TO STDOUT (FORMAT binary)` whose tuples
/// have `N` fields, on a connection of `pool`, handing each tuple's fields
/// to `tuple`; stops at the first error.
pub async fn copy_out<const N: usize>(
    pool: &sqlx::PgPool,
    statement: &str,
    mut tuple: impl FnMut([Option<&[u8]>; N]) -> Result<(), sea_orm::DbErr>,
) -> Result<(), sea_orm::DbErr> {
    use futures::TryStreamExt;
    let mut connection = CopyConnection {
        conn: pool.acquire().await.map_err(super::driver_error)?,
        read_to_end: false,
    };
    let mut reader = BinaryCopyReader::<N>::default();
    {
        let mut stream = connection
            .conn
            .copy_out_raw(statement)
            .await
            .map_err(super::driver_error)?;
        while let Some(chunk) = stream.try_next().await.map_err(super::driver_error)? {
            reader.feed(&chunk, &mut tuple)?;
        }
    }
    connection.read_to_end = true;
    Ok(reader.finish()?)
}

/// A pool connection carrying a COPY out, closed rather than returned to
/// the pool unless the COPY was read to its end (an error or a cancelled
/// future stops it midway): the server's remaining replies would otherwise
/// wait on it, and the next query there would read them as its own.
struct CopyConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    read_to_end: bool,
}

impl Drop for CopyConnection {
    fn drop(&mut self) {
        if !self.read_to_end {
            self.conn.close_on_drop();
        }
    }
}

/// The length of the header at the start of `bytes`, `None` if it is not
/// all there yet.
fn header_len(bytes: &[u8]) -> Result<Option<usize>, CopyFormatError> {
    let fixed = BINARY_HEADER_LEN;
    if bytes.len() < fixed {
        return Ok(None);
    }
    if &bytes[..BINARY_SIGNATURE.len()] != BINARY_SIGNATURE {
        return Err(CopyFormatError("not a binary COPY stream"));
    }
    // Bits 16 to 31 of the flags change the format (16: each tuple carries
    // its OID): a reader must refuse what it does not know.
    let flags = be_i32(&bytes[BINARY_SIGNATURE.len()..]).unwrap_or_default();
    if flags & !0xffff != 0 {
        return Err(CopyFormatError("unknown format flags"));
    }
    let extension = be_i32(&bytes[fixed - 4..])
        .and_then(|len| usize::try_from(len).ok())
        .ok_or(CopyFormatError("a negative header extension"))?;
    Ok((bytes.len() >= fixed + extension).then_some(fixed + extension))
}

fn be_i16(bytes: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(..2)?.try_into().ok()?))
}

fn be_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// The values of a text-stored enumeration `E` by their stored spelling,
/// to read them from binary fields without building a string per row.
pub struct EnumTexts<E>(Vec<(String, E)>);

impl<E> Default for EnumTexts<E>
where
    E: sea_orm::ActiveEnum<Value = String> + sea_orm::Iterable,
{
    /// Every value of `E` with its spelling.
    fn default() -> Self {
        Self(E::iter().map(|e| (e.to_value(), e)).collect())
    }
}

impl<E> EnumTexts<E>
where
    E: sea_orm::ActiveEnum<Value = String> + Copy,
{
    /// The value spelled `field`.
    pub fn of(&self, field: &[u8]) -> Result<E, sea_orm::DbErr> {
        self.0
            .iter()
            .find(|(text, _)| text.as_bytes() == field)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                sea_orm::DbErr::Type(format!(
                    "unknown {} {:?}",
                    E::name(),
                    String::from_utf8_lossy(field)
                ))
            })
    }
}

/// A field that may not be NULL.
pub fn present(field: Option<&[u8]>) -> Result<&[u8], CopyFormatError> {
    field.ok_or(CopyFormatError("a NULL where a value is required"))
}

/// A binary `int8` field.
pub fn binary_i64(field: &[u8]) -> Result<i64, CopyFormatError> {
    field
        .try_into()
        .map(i64::from_be_bytes)
        .map_err(|_| CopyFormatError("an int8 field not 8 bytes long"))
}

/// A binary `int4` field.
pub fn binary_i32(field: &[u8]) -> Result<i32, CopyFormatError> {
    field
        .try_into()
        .map(i32::from_be_bytes)
        .map_err(|_| CopyFormatError("an int4 field not 4 bytes long"))
}

/// A binary `float8` field.
pub fn binary_f64(field: &[u8]) -> Result<f64, CopyFormatError> {
    field
        .try_into()
        .map(|bytes| f64::from_bits(u64::from_be_bytes(bytes)))
        .map_err(|_| CopyFormatError("a float8 field not 8 bytes long"))
}

/// A binary `bool` field.
pub fn binary_bool(field: &[u8]) -> Result<bool, CopyFormatError> {
    match field {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(CopyFormatError("a bool field not 0 or 1")),
    }
}

/// A binary text field (`text`, `varchar`, `char(n)`): its UTF-8 bytes.
pub fn binary_text(field: &[u8]) -> Result<&str, CopyFormatError> {
    std::str::from_utf8(field).map_err(|_| CopyFormatError("a text field not UTF-8"))
}

/// A binary `timestamptz` field: microseconds since 2000-01-01 UTC.
pub fn binary_timestamptz(field: &[u8]) -> Result<DateTime<Utc>, CopyFormatError> {
    binary_i64(field)?
        .checked_add(UNIX_TO_POSTGRES_MICROS)
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(CopyFormatError("a timestamp out of range (infinity?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary COPY stream of `tuples` of int8 and text fields (NULL for
    /// `None`).
    fn binary_stream(tuples: &[(i64, Option<&str>)]) -> Vec<u8> {
        let mut bytes = BINARY_SIGNATURE.to_vec();
        bytes.extend(0_i32.to_be_bytes()); // flags
        bytes.extend(3_i32.to_be_bytes()); // a header extension, skipped
        bytes.extend(b"ext");
        for (n, text) in tuples {
            bytes.extend(2_i16.to_be_bytes());
            bytes.extend(8_i32.to_be_bytes());
            bytes.extend(n.to_be_bytes());
            match text {
                Some(text) => {
                    bytes.extend(i32::try_from(text.len()).unwrap().to_be_bytes());
                    bytes.extend(text.as_bytes());
                }
                None => bytes.extend((-1_i32).to_be_bytes()),
            }
        }
        bytes.extend((-1_i16).to_be_bytes());
        bytes
    }

    type Tuple = (i64, Option<String>);

    fn read_all(chunks: &[&[u8]]) -> Result<Vec<Tuple>, CopyFormatError> {
        let mut reader = BinaryCopyReader::<2>::default();
        let mut tuples = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, |[n, text]| {
                let text = text.map(binary_text).transpose()?.map(str::to_owned);
                tuples.push((binary_i64(present(n)?)?, text));
                Ok::<_, CopyFormatError>(())
            })?;
        }
        reader.finish()?;
        Ok(tuples)
    }

    #[test]
    fn a_binary_stream_reads_the_same_however_it_is_cut() {
        let tuples = [
            (1, Some("success")),
            (-7, None),
            (i64::MAX, Some("")),
            (0, Some("é")),
        ];
        let expected: Vec<Tuple> = tuples
            .iter()
            .map(|(n, t)| (*n, t.map(str::to_owned)))
            .collect();
        let stream = binary_stream(&tuples);
        assert_eq!(read_all(&[&stream]).unwrap(), expected);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(read_all(&[a, b]).unwrap(), expected, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(read_all(&bytes).unwrap(), expected);
    }

    #[test]
    fn a_broken_binary_stream_is_an_error() {
        let stream = binary_stream(&[(1, Some("success"))]);
        let truncated = read_all(&[&stream[..stream.len() - 3]]).unwrap_err();
        assert_eq!(
            truncated,
            CopyFormatError("the stream ended inside a tuple")
        );
        let mut trailing = stream.clone();
        trailing.push(0);
        assert_eq!(
            read_all(&[&trailing]).unwrap_err(),
            CopyFormatError("data after the trailer")
        );
        let mut oids = stream.clone();
        oids[BINARY_SIGNATURE.len() + 1] = 1; // bit 16: OIDs included
        assert_eq!(
            read_all(&[&oids]).unwrap_err(),
            CopyFormatError("unknown format flags")
        );
        let mut text = stream.clone();
        text[0] = b'1';
        assert_eq!(
            read_all(&[&text]).unwrap_err(),
            CopyFormatError("not a binary COPY stream")
        );
        let mut null = stream;
        let first_field = BINARY_SIGNATURE.len() + 8 + 3 + 2;
        null[first_field..first_field + 4].copy_from_slice(&(-1_i32).to_be_bytes());
        assert_eq!(
            read_all(&[&null]).unwrap_err(),
            CopyFormatError("a NULL where a value is required")
        );
    }

    #[test]
    fn a_binary_payload_reads_back_field_for_field() {
        let when = "2026-11-27T08:00:00.123456789Z"
            .parse::<DateTime<Utc>>()
            .unwrap();
        let micros = "2026-11-27T08:00:00.123456Z"
            .parse::<DateTime<Utc>>()
            .unwrap();
        let mut copy = CopyBinary::new();
        assert!(copy.is_empty());
        copy.i64(-3)
            .i32(7)
            .f64(0.1)
            .bool(true)
            .text("é")
            .time(when)
            .null()
            .end_row();
        copy.i64(i64::MAX)
            .i32(0)
            .f64(-0.0)
            .bool(false)
            .opt_text(None)
            .opt_time(Some(when));
        copy.opt_text(Some("")).end_row();
        assert!(!copy.is_empty());
        let mut bytes = copy.bytes;
        bytes.extend_from_slice(&(-1_i16).to_be_bytes());

        let mut reader = BinaryCopyReader::<7>::default();
        let mut rows = Vec::new();
        reader
            .feed(&bytes, |f| {
                rows.push((
                    binary_i64(present(f[0])?)?,
                    binary_i32(present(f[1])?)?,
                    binary_f64(present(f[2])?)?,
                    binary_bool(present(f[3])?)?,
                    f[4].map(binary_text).transpose()?.map(str::to_owned),
                    binary_timestamptz(present(f[5])?)?,
                    f[6].map(binary_text).transpose()?.map(str::to_owned),
                ));
                Ok::<_, CopyFormatError>(())
            })
            .unwrap();
        reader.finish().unwrap();
        assert_eq!(
            rows,
            [
                (-3, 7, 0.1, true, Some("é".into()), micros, None),
                (i64::MAX, 0, -0.0, false, None, micros, Some(String::new())),
            ]
        );
    }

    #[test]
    fn binary_timestamps_count_from_2000() {
        assert_eq!(
            binary_timestamptz(&0_i64.to_be_bytes()).unwrap(),
            "2000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            binary_timestamptz(&(-1_i64).to_be_bytes()).unwrap(),
            "1999-12-31T23:59:59.999999Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
        );
        assert!(binary_timestamptz(&i64::MAX.to_be_bytes()).is_err());
        assert!(binary_i64(&[0; 4]).is_err());
    }

    #[test]
    fn a_stored_spelling_reads_as_its_enum_value() {
        use crate::domain::PaymentStatus;
        let statuses = EnumTexts::<PaymentStatus>::default();
        assert_eq!(statuses.of(b"declined"), Ok(PaymentStatus::Declined));
        let unknown = statuses.of(b"Failed").unwrap_err().to_string();
        assert!(unknown.contains("\"Failed\""), "{unknown}");
    }

    #[test]
    fn binary_scalars_read_as_postgres_sends_them() {
        assert_eq!(binary_i32(&(-5_i32).to_be_bytes()), Ok(-5));
        assert_eq!(binary_f64(&0.1_f64.to_bits().to_be_bytes()), Ok(0.1));
        assert_eq!(binary_bool(&[1]), Ok(true));
        assert_eq!(binary_bool(&[0]), Ok(false));
        assert!(binary_bool(&[2]).is_err());
        assert_eq!(binary_text(b"EUR"), Ok("EUR"));
        assert!(binary_text(&[0xff]).is_err());
        assert!(present(None).is_err());
    }
}
