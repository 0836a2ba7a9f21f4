//! Streaming readers: JSONL, JSON arrays, CSV/TSV and Parquet, each yielding one JSON object per
//! record together with its [`Location`].
//!
//! Every format is read record by record, so memory does not grow with the file (Parquet holds one
//! record batch at a time). Typed records are built from these raw objects by [`FromRecord`]
//! implementations, which name the field that is wrong.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{FieldError, Location, ReadError};

/// The file formats gavel reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`); also what `-` (stdin) is read as.
    Jsonl,
    /// A JSON array of objects (`.json`).
    Json,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Tab-separated values with a header row (`.tsv`).
    Tsv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
}

impl Format {
    /// The format named by a path's extension; `-` means JSONL on stdin.
    pub fn from_path(path: &Path) -> Option<Format> {
        if path.as_os_str() == "-" {
            return Some(Format::Jsonl);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Whether values in this format arrive as untyped text (CSV/TSV), so that typed readers
    /// should accept numbers and lists written as text.
    pub fn is_text_table(self) -> bool {
        matches!(self, Format::Csv | Format::Tsv)
    }
}

/// One record as read from a file: a JSON object and where it came from.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Where the record is.
    pub location: Location,
    /// The format it was read from (CSV cells are all strings, for instance).
    pub format: Format,
    /// The record's fields, in file order.
    pub fields: Map<String, Value>,
}

/// A type that can be built from one [`RawRecord`].
pub trait FromRecord: Sized + Send {
    /// Builds the value, or says which field is wrong.
    fn from_record(record: RawRecord) -> Result<Self, FieldError>;

    /// Whether [`FromRecord::from_json_line`] is implemented: JSONL records are then read
    /// straight into the type, with no intermediate map.
    const JSON_FAST_PATH: bool = false;

    /// Builds the value straight from one JSONL line (the bytes of one JSON object), for a
    /// well-formed record whose fields are all valid; `None` for anything else, and the reader
    /// then goes the generic way ([`RawRecord`], then [`FromRecord::from_record`]) so that
    /// every error is exactly the generic one. Must give the value `from_record` gives
    /// whenever it returns `Some`.
    fn from_json_line(_line: &[u8]) -> Option<Self> {
        None
    }
}

/// An iterator over the raw records of one file.
pub struct RecordReader {
    pub(crate) inner: Inner,
}

pub(crate) enum Inner {
    /// JSONL, kept apart so that typed readers can parse its lines themselves.
    Jsonl(JsonlRecords),
    Other(Box<dyn Iterator<Item = Result<RawRecord, ReadError>> + Send>),
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordReader")
    }
}

impl Iterator for RecordReader {
    type Item = Result<RawRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Jsonl(j) => j.next(),
            Inner::Other(o) => o.next(),
        }
    }
}

impl RecordReader {
    /// Opens a file, choosing the format by its extension; `-` reads JSONL from stdin.
    pub fn open(path: &Path) -> Result<RecordReader, ReadError> {
        let format = Format::from_path(path).ok_or_else(|| ReadError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        RecordReader::open_as(path, format)
    }

    /// Opens a file in the given format; `-` reads from stdin.
    pub fn open_as(path: &Path, format: Format) -> Result<RecordReader, ReadError> {
        if path.as_os_str() == "-" {
            return RecordReader::from_reader("<stdin>", format, Box::new(io::stdin()));
        }
        let name: Arc<str> = Arc::from(path.display().to_string());
        if format == Format::Parquet {
            return open_parquet(path, name);
        }
        let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        let mut reader = RecordReader::from_reader(name, format, Box::new(file))?;
        if let Inner::Jsonl(j) = &mut reader.inner {
            j.size = size;
        }
        Ok(reader)
    }

    /// Reads records in the given format from any byte stream (Parquet needs a file: use
    /// [`RecordReader::open`]).
    pub fn from_reader(
        name: impl Into<Arc<str>>,
        format: Format,
        reader: Box<dyn Read + Send>,
    ) -> Result<RecordReader, ReadError> {
        let name = name.into();
        let inner: Box<dyn Iterator<Item = Result<RawRecord, ReadError>> + Send> = match format {
            Format::Jsonl => {
                return Ok(RecordReader {
                    inner: Inner::Jsonl(JsonlRecords::new(name, reader)),
                });
            }
            Format::Json => Box::new(JsonArrayRecords::new(name, reader)),
            Format::Csv => Box::new(CsvRecords::new(name, reader, b',')),
            Format::Tsv => Box::new(CsvRecords::new(name, reader, b'\t')),
            Format::Parquet => {
                return Err(ReadError::Syntax {
                    location: Location::new(name, None, 0),
                    message: "Parquet can only be read from a file, not a stream".into(),
                });
            }
        };
        Ok(RecordReader {
            inner: Inner::Other(inner),
        })
    }

    /// Turns raw records into typed ones, attaching the location to any field error.
    ///
    /// JSONL lines are parsed straight into `T` when it has a fast path
    /// ([`FromRecord::JSON_FAST_PATH`]); the values and errors are the same either way.
    pub fn typed<T: FromRecord>(self) -> impl Iterator<Item = Result<T, ReadError>> + Send {
        self.typed_located::<T>().map(|r| r.map(|(value, _)| value))
    }

    /// [`RecordReader::typed`], with where each record came from.
    pub fn typed_located<T: FromRecord>(
        self,
    ) -> impl Iterator<Item = Result<(T, Location), ReadError>> + Send {
        match self.inner {
            Inner::Jsonl(j) if T::JSON_FAST_PATH => Typed::Fast(FastJsonl::new(j)),
            inner => Typed::Generic(RecordReader { inner }, std::marker::PhantomData),
        }
    }
}

/// The typed records of a reader: JSONL through the type's fast path, or any format through
/// raw records.
enum Typed<T> {
    Fast(FastJsonl<T>),
    Generic(RecordReader, std::marker::PhantomData<fn() -> T>),
}

impl<T: FromRecord> Iterator for Typed<T> {
    type Item = Result<(T, Location), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Typed::Fast(f) => f.next(),
            Typed::Generic(reader, _) => reader.next().map(|raw| {
                let raw = raw?;
                let location = raw.location.clone();
                match T::from_record(raw) {
                    Ok(value) => Ok((value, location)),
                    Err(error) => Err(ReadError::Field { location, error }),
                }
            }),
        }
    }
}

/// Reads every record of a file into typed values, stopping at the first error.
pub fn read_all<T: FromRecord>(path: &Path) -> Result<Vec<T>, ReadError> {
    RecordReader::open(path)?.typed::<T>().collect()
}

fn syntax(
    name: &Arc<str>,
    line: Option<u64>,
    record: u64,
    message: impl Into<String>,
) -> ReadError {
    ReadError::Syntax {
        location: Location::new(name.clone(), line, record),
        message: message.into(),
    }
}

pub(crate) fn io_error(name: &Arc<str>, source: io::Error) -> ReadError {
    ReadError::Io {
        path: PathBuf::from(&**name),
        source,
    }
}

pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Names the JSON type of a value ("a string", "an array"...), for error messages.
pub fn json_type_name(value: &Value) -> &'static str {
    describe(value)
}

// ---------------------------------------------------------------------------------------------
// JSONL

pub(crate) struct JsonlRecords {
    pub(crate) name: Arc<str>,
    pub(crate) reader: BufReader<Box<dyn Read + Send>>,
    /// The file's size, when known (for readers that size their buffers by it).
    pub(crate) size: Option<u64>,
    line: u64,
    record: u64,
    buf: Vec<u8>,
    done: bool,
}

impl JsonlRecords {
    fn new(name: Arc<str>, reader: Box<dyn Read + Send>) -> JsonlRecords {
        JsonlRecords {
            name,
            reader: BufReader::with_capacity(1 << 16, reader),
            size: None,
            line: 0,
            record: 0,
            buf: Vec::new(),
            done: false,
        }
    }
}

impl Iterator for JsonlRecords {
    type Item = Result<RawRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(io_error(&self.name, e)));
                }
            }
            self.line += 1;
            let mut bytes = &self.buf[..];
            if self.line == 1 {
                bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.record += 1;
            return Some(parse_json_object(&self.name, self.line, self.record, bytes));
        }
        None
    }
}

/// Lines read and parsed at a time by the typed fast path.
const FAST_BATCH_BYTES: usize = 1 << 20;

/// JSONL read in batches of lines, each line parsed straight into `T`
/// ([`FromRecord::from_json_line`]), falling back to the generic way for any line the fast
/// path does not take. Batches of many lines are parsed on two threads.
struct FastJsonl<T> {
    lines: JsonlRecords,
    /// The current batch's lines, back to back, and each line's (start, end, line number).
    text: Vec<u8>,
    spans: Vec<(usize, usize, u64)>,
    /// The current batch's records, in two halves (not joined, to spare moving them).
    parsed: std::iter::Chain<Records<T>, Records<T>>,
}

type Records<T> = std::vec::IntoIter<Result<(T, Location), ReadError>>;

impl<T: FromRecord> FastJsonl<T> {
    fn new(lines: JsonlRecords) -> FastJsonl<T> {
        FastJsonl {
            lines,
            text: Vec::new(),
            spans: Vec::new(),
            parsed: Vec::new().into_iter().chain(Vec::new()),
        }
    }

    /// Reads the next batch of lines; an IO error ends the file.
    fn fill(&mut self) -> Option<ReadError> {
        self.text.clear();
        self.spans.clear();
        let j = &mut self.lines;
        while !j.done && self.text.len() < FAST_BATCH_BYTES {
            let start = self.text.len();
            match j.reader.read_until(b'\n', &mut self.text) {
                Ok(0) => j.done = true,
                Ok(_) => {
                    j.line += 1;
                    let mut from = start;
                    if j.line == 1 && self.text[start..].starts_with(UTF8_BOM) {
                        from += UTF8_BOM.len();
                    }
                    if self.text[from..].iter().all(u8::is_ascii_whitespace) {
                        self.text.truncate(start);
                    } else {
                        self.spans.push((from, self.text.len(), j.line));
                    }
                }
                Err(e) => {
                    j.done = true;
                    return Some(io_error(&j.name, e));
                }
            }
        }
        None
    }

    /// Parses the batch's lines: the records of its first and second half.
    #[allow(clippy::type_complexity)]
    fn parse_batch(
        &mut self,
    ) -> (
        Vec<Result<(T, Location), ReadError>>,
        Vec<Result<(T, Location), ReadError>>,
    ) {
        let name = &self.lines.name;
        let first_record = self.lines.record + 1;
        self.lines.record += self.spans.len() as u64;
        let text = &self.text;
        let parse = |k: usize, &(start, end, line): &(usize, usize, u64)| {
            let record = first_record + k as u64;
            parse_typed::<T>(name, line, record, &text[start..end])
        };
        let n = self.spans.len();
        // Two threads for a batch of many lines; the halves are joined in order.
        if n >= 4096 && std::thread::available_parallelism().is_ok_and(|p| p.get() > 1) {
            let (front, back) = self.spans.split_at(n / 2);
            let parse = &parse;
            std::thread::scope(|scope| {
                let back = scope.spawn(move || {
                    back.iter()
                        .enumerate()
                        .map(|(k, s)| parse(n / 2 + k, s))
                        .collect::<Vec<_>>()
                });
                let front: Vec<_> = front.iter().enumerate().map(|(k, s)| parse(k, s)).collect();
                match back.join() {
                    Ok(back) => (front, back),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            let all = self
                .spans
                .iter()
                .enumerate()
                .map(|(k, s)| parse(k, s))
                .collect();
            (all, Vec::new())
        }
    }
}

impl<T: FromRecord> Iterator for FastJsonl<T> {
    type Item = Result<(T, Location), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.parsed.next() {
                return Some(r);
            }
            if self.lines.done {
                return None;
            }
            let io = self.fill();
            let (front, mut back) = self.parse_batch();
            if let Some(e) = io {
                back.push(Err(e));
            }
            self.parsed = front.into_iter().chain(back);
        }
    }
}

/// One JSONL line (not blank) as a typed record: the type's fast path, else the generic way.
pub(crate) fn parse_typed<T: FromRecord>(
    name: &Arc<str>,
    line: u64,
    record: u64,
    bytes: &[u8],
) -> Result<(T, Location), ReadError> {
    if let Some(value) = T::from_json_line(bytes) {
        return Ok((value, Location::new(name.clone(), Some(line), record)));
    }
    let raw = parse_json_object(name, line, record, bytes)?;
    let location = raw.location.clone();
    match T::from_record(raw) {
        Ok(value) => Ok((value, location)),
        Err(error) => Err(ReadError::Field { location, error }),
    }
}

fn parse_json_object(
    name: &Arc<str>,
    line: u64,
    record: u64,
    bytes: &[u8],
) -> Result<RawRecord, ReadError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(syntax(
            name,
            Some(line),
            record,
            format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(fields)) => Ok(RawRecord {
            location: Location::new(name.clone(), Some(line), record),
            format: Format::Jsonl,
            fields,
        }),
        Ok(other) => Err(syntax(
            name,
            Some(line),
            record,
            format!("expected a JSON object, found {}", describe(&other)),
        )),
        Err(e) => Err(syntax(
            name,
            Some(line),
            record,
            format!("invalid JSON: {}", json_error_text(&e)),
        )),
    }
}

/// serde_json's message without its own "at line 1 column N" suffix, which would be wrong
/// for a file (the line is ours to report); the column is kept.
fn json_error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let trimmed = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    if e.column() == 0 {
        trimmed.to_string()
    } else {
        format!("{trimmed} (column {})", e.column())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON array, streamed element by element

/// Counts newlines in the bytes that pass through, so errors can name a line.
struct LineCounter<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.newlines += out[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(n)
    }
}

impl<R: BufRead> LineCounter<R> {
    /// The next byte that is not JSON whitespace, without consuming it.
    fn peek_non_ws(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let skip = buf
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            let newlines = buf[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
            let first = buf.get(skip).copied();
            self.newlines += newlines;
            self.inner.consume(skip);
            if let Some(b) = first {
                return Ok(Some(b));
            }
        }
    }

    fn consume_byte(&mut self) {
        self.inner.consume(1);
    }
}

enum ArrayState {
    Start,
    FirstElement,
    AfterElement,
    Done,
}

struct JsonArrayRecords {
    name: Arc<str>,
    reader: LineCounter<BufReader<Box<dyn Read + Send>>>,
    state: ArrayState,
    record: u64,
}

impl JsonArrayRecords {
    fn new(name: Arc<str>, reader: Box<dyn Read + Send>) -> JsonArrayRecords {
        JsonArrayRecords {
            name,
            reader: LineCounter {
                inner: BufReader::with_capacity(1 << 16, reader),
                newlines: 0,
            },
            state: ArrayState::Start,
            record: 0,
        }
    }

    fn line(&self) -> u64 {
        self.reader.newlines + 1
    }

    fn fail(&mut self, message: impl Into<String>) -> Option<Result<RawRecord, ReadError>> {
        self.state = ArrayState::Done;
        let line = self.line();
        Some(Err(syntax(
            &self.name,
            Some(line),
            self.record + 1,
            message,
        )))
    }

    fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        self.reader
            .peek_non_ws()
            .map_err(|e| io_error(&self.name, e))
    }
}

impl Iterator for JsonArrayRecords {
    type Item = Result<RawRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.state {
                ArrayState::Done => return None,
                ArrayState::Start => {
                    // A UTF-8 byte-order mark may precede the array.
                    if let Ok(buf) = self.reader.inner.fill_buf()
                        && buf.starts_with(UTF8_BOM)
                    {
                        self.reader.inner.consume(UTF8_BOM.len());
                    }
                    match self.peek() {
                        Err(e) => {
                            self.state = ArrayState::Done;
                            return Some(Err(e));
                        }
                        Ok(Some(b'[')) => {
                            self.reader.consume_byte();
                            self.state = ArrayState::FirstElement;
                        }
                        Ok(None) => {
                            self.state = ArrayState::Done;
                            return None;
                        }
                        Ok(Some(_)) => {
                            return self.fail("expected a JSON array of objects (the file does not start with `[`)");
                        }
                    }
                }
                ArrayState::FirstElement | ArrayState::AfterElement => {
                    let first = matches!(self.state, ArrayState::FirstElement);
                    match self.peek() {
                        Err(e) => {
                            self.state = ArrayState::Done;
                            return Some(Err(e));
                        }
                        Ok(Some(b']')) => {
                            self.reader.consume_byte();
                            self.state = ArrayState::Done;
                            return match self.peek() {
                                Ok(None) => None,
                                Ok(Some(_)) => self.fail("unexpected text after the closing `]`"),
                                Err(e) => Some(Err(e)),
                            };
                        }
                        Ok(Some(b',')) if !first => {
                            self.reader.consume_byte();
                            return self.element();
                        }
                        Ok(Some(_)) if first => return self.element(),
                        Ok(Some(_)) => {
                            return self.fail("expected `,` or `]` between array elements");
                        }
                        Ok(None) => {
                            return self.fail("unexpected end of file inside the JSON array");
                        }
                    }
                }
            }
        }
    }
}

impl JsonArrayRecords {
    fn element(&mut self) -> Option<Result<RawRecord, ReadError>> {
        match self.peek() {
            Err(e) => {
                self.state = ArrayState::Done;
                return Some(Err(e));
            }
            Ok(Some(b'{')) => {}
            Ok(Some(_)) => return self.fail("expected a JSON object as array element"),
            Ok(None) => return self.fail("unexpected end of file inside the JSON array"),
        }
        let line = self.line();
        self.record += 1;
        // An object ends with `}`, so serde_json stops exactly there without reading ahead.
        let mut de = serde_json::Deserializer::from_reader(&mut self.reader);
        match <Map<String, Value> as serde::Deserialize>::deserialize(&mut de) {
            Ok(fields) => {
                self.state = ArrayState::AfterElement;
                Some(Ok(RawRecord {
                    location: Location::new(self.name.clone(), Some(line), self.record),
                    format: Format::Json,
                    fields,
                }))
            }
            Err(e) => {
                self.state = ArrayState::Done;
                let message = if e.is_io() {
                    if e.to_string().contains("UTF-8") {
                        "invalid UTF-8".to_string()
                    } else {
                        format!("read error: {e}")
                    }
                } else {
                    format!("invalid JSON: {}", json_error_text(&e))
                };
                Some(Err(syntax(&self.name, Some(line), self.record, message)))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSV / TSV

struct CsvRecords {
    name: Arc<str>,
    reader: csv::Reader<Box<dyn Read + Send>>,
    headers: Option<Vec<String>>,
    record: u64,
    row: csv::ByteRecord,
    done: bool,
}

impl CsvRecords {
    fn new(name: Arc<str>, reader: Box<dyn Read + Send>, delimiter: u8) -> CsvRecords {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        CsvRecords {
            name,
            reader,
            headers: None,
            record: 0,
            row: csv::ByteRecord::new(),
            done: false,
        }
    }

    fn csv_error(&self, e: csv::Error) -> ReadError {
        let line = e.position().map(|p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("expected {expected_len} fields as in the header, found {len}")
            }
            csv::ErrorKind::Io(io) => format!("read error: {io}"),
            _ => e.to_string(),
        };
        syntax(&self.name, line, self.record + 1, message)
    }
}

impl Iterator for CsvRecords {
    type Item = Result<RawRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.headers.is_none() {
            let headers = match self.reader.byte_headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.csv_error(e)));
                }
            };
            let mut names = Vec::with_capacity(headers.len());
            for (i, raw) in headers.iter().enumerate() {
                let raw = if i == 0 {
                    raw.strip_prefix(UTF8_BOM).unwrap_or(raw)
                } else {
                    raw
                };
                match std::str::from_utf8(raw) {
                    Ok(s) => names.push(s.trim().to_string()),
                    Err(_) => {
                        self.done = true;
                        return Some(Err(syntax(
                            &self.name,
                            Some(1),
                            0,
                            format!("header column {} is not valid UTF-8", i + 1),
                        )));
                    }
                }
            }
            self.headers = Some(names);
        }
        match self.reader.read_byte_record(&mut self.row) {
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.csv_error(e)))
            }
            Ok(true) => {
                self.record += 1;
                let line = self.row.position().map(|p| p.line());
                let headers = self.headers.as_deref().unwrap_or_default();
                let mut fields = Map::with_capacity(headers.len());
                for (i, (name, cell)) in headers.iter().zip(self.row.iter()).enumerate() {
                    match std::str::from_utf8(cell) {
                        Ok(s) => {
                            fields.insert(name.clone(), Value::String(s.to_string()));
                        }
                        Err(_) => {
                            let _ = i;
                            return Some(Err(ReadError::Field {
                                location: Location::new(self.name.clone(), line, self.record),
                                error: FieldError::new(name.clone(), "is not valid UTF-8"),
                            }));
                        }
                    }
                }
                Some(Ok(RawRecord {
                    location: Location::new(self.name.clone(), line, self.record),
                    format: Format::Csv,
                    fields,
                }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet

#[cfg(not(feature = "parquet"))]
fn open_parquet(path: &Path, _name: Arc<str>) -> Result<RecordReader, ReadError> {
    Err(ReadError::FormatNotCompiled {
        path: path.to_path_buf(),
        format: "Parquet",
        feature: "parquet",
    })
}

#[cfg(feature = "parquet")]
fn open_parquet(path: &Path, name: Arc<str>) -> Result<RecordReader, ReadError> {
    let records = crate::parquet_io::ParquetRecords::open(path, name)?;
    Ok(RecordReader {
        inner: Inner::Other(Box::new(records)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: Format, text: &str) -> Vec<Result<RawRecord, ReadError>> {
        RecordReader::from_reader(
            "t",
            format,
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
        )
        .unwrap()
        .collect()
    }

    fn errors(format: Format, text: &str) -> Vec<String> {
        read(format, text)
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn jsonl_skips_blank_lines_and_counts_lines() {
        let recs = read(Format::Jsonl, "{\"a\":1}\n\n  \n{\"a\":2}\r\n");
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].location.line, Some(4));
        assert_eq!(recs[1].location.record, 2);
    }

    #[test]
    fn jsonl_bad_line_names_line() {
        assert_eq!(
            errors(Format::Jsonl, "{\"a\":1}\n{\"a\":\n"),
            vec!["t:2: invalid JSON: EOF while parsing a value".to_string()]
        );
        assert_eq!(
            errors(Format::Jsonl, "[1,2]\n"),
            vec!["t:1: expected a JSON object, found an array".to_string()]
        );
    }

    #[test]
    fn jsonl_invalid_utf8_is_an_error() {
        let bytes = b"{\"a\":\"\xff\"}\n".to_vec();
        let recs: Vec<_> =
            RecordReader::from_reader("t", Format::Jsonl, Box::new(io::Cursor::new(bytes)))
                .unwrap()
                .collect();
        assert_eq!(
            recs[0].as_ref().unwrap_err().to_string(),
            "t:1: invalid UTF-8 at byte 7 of the line"
        );
    }

    #[test]
    fn jsonl_bom_is_ignored() {
        let recs = read(Format::Jsonl, "\u{feff}{\"a\":1}\n");
        assert!(recs[0].is_ok());
    }

    #[test]
    fn json_array_streams_elements_with_lines() {
        let recs = read(Format::Json, "[\n {\"a\": 1},\n {\"a\": \"x\\ny\"}\n]\n");
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].location.line, Some(2));
        assert_eq!(recs[1].location.line, Some(3));
        assert_eq!(recs[1].fields["a"], "x\ny");
    }

    #[test]
    fn json_array_errors() {
        assert_eq!(
            errors(Format::Json, "{\"a\": 1}"),
            vec![
                "t:1: expected a JSON array of objects (the file does not start with `[`)"
                    .to_string()
            ]
        );
        assert_eq!(
            errors(Format::Json, "[{\"a\":1} {\"a\":2}]"),
            vec!["t:1: expected `,` or `]` between array elements".to_string()]
        );
        assert_eq!(
            errors(Format::Json, "[{\"a\":1},\n3]"),
            vec!["t:2: expected a JSON object as array element".to_string()]
        );
        assert_eq!(
            errors(Format::Json, "[{\"a\":1},\n"),
            vec!["t:2: unexpected end of file inside the JSON array".to_string()]
        );
        assert!(read(Format::Json, "[]").is_empty());
        assert!(read(Format::Json, "").is_empty());
    }

    #[test]
    fn csv_reads_header_and_lines() {
        let recs = read(Format::Csv, "id,hypothesis\ns1,\"a, \"\"b\"\"\nc\"\ns2,x\n");
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        assert_eq!(recs[0].fields["hypothesis"], "a, \"b\"\nc");
        assert_eq!(recs[0].location.line, Some(2));
        assert_eq!(recs[1].location.line, Some(4));
    }

    #[test]
    fn csv_ragged_row_is_an_error() {
        assert_eq!(
            errors(Format::Csv, "a,b\n1,2\n3\n"),
            vec!["t:3: expected 2 fields as in the header, found 1".to_string()]
        );
    }

    #[test]
    fn tsv_uses_tabs() {
        let recs = read(Format::Tsv, "a\tb\n1,2\t3\n");
        assert_eq!(recs[0].as_ref().unwrap().fields["a"], "1,2");
    }

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path(Path::new("x.JSONL")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("-")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("x.txt")), None);
    }
}
