//! Label records as columns: every string field interned to a dense id, one `Vec<u32>` per
//! field, for statistics over millions of labels without a [`Label`] per record.
//!
//! [`LabelColumns::read`] reads any label file. JSONL goes through a byte scanner that takes
//! the common record shape (`{"item": "...", "annotator": "...", "label": ...}` plus the
//! optional fields of [`Label`] and simple extra fields) straight into the columns, in parallel
//! batches; any line the scanner does not fully recognise (escapes, numbers written as ids,
//! nested extra fields, repeated fields, anything malformed) goes through the typed reader
//! ([`Label`]'s JSONL fast path, then the generic reader), so values and errors are exactly
//! those of [`crate::RecordReader::typed_located`]. Other formats are read as [`Label`]s and
//! pushed ([`LabelColumns::push_label`]).
//!
//! Ids are dense and given in order of first appearance. A label's position in the columns is
//! its index; [`LabelColumns::location`] gives back its file, line and record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::sync::Arc;

use crate::error::{Location, ReadError};
use crate::read::{Inner, RecordReader, UTF8_BOM, io_error, parse_typed};
use crate::records::label::{Label, LabelValue};
use crate::time::parse_rfc3339;

/// The id of an absent optional field.
pub const NONE: u32 = u32::MAX;

/// The timestamp of a label without `time`.
pub const NO_TIME: i64 = i64::MIN;

/// Hashes bytes: a multiply-rotate over 8-byte words, then MurmurHash3's 64-bit finaliser, so
/// that ids such as `i1`..`i200000` (which differ in few bits) spread over the whole table.
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Byte by byte: a copy into a word would call `memcpy` and stall the load after it.
        let mut w = 0u64;
        for (k, &c) in rest.iter().enumerate() {
            w |= u64::from(c) << (8 * k);
        }
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether two short byte strings are equal (a loop: ids are short, and a call to `memcmp`
/// costs more than comparing them).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// For keys that already are [`hash_bytes`] hashes.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(self.0, bytes);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Strings numbered in order of first appearance. The table maps a hash to the first string
/// that has it; a different string with the same hash (rare, but possible) goes to a second
/// table keyed by the string itself.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    /// The strings back to back (each valid UTF-8).
    bytes: Vec<u8>,
    starts: Vec<usize>,
    by_hash: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    collided: HashMap<Vec<u8>, u32>,
}

impl Interner {
    /// How many distinct strings.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn raw(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let Some(&a) = self.starts.get(i) else {
            return &[];
        };
        let b = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        self.bytes.get(a..b).unwrap_or(&[])
    }

    /// String `id` (empty if out of range).
    pub fn get(&self, id: u32) -> &str {
        std::str::from_utf8(self.raw(id)).unwrap_or("")
    }

    /// The id of `s`, added if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        self.intern_hashed(hash_bytes(0, s.as_bytes()), s)
    }

    /// [`Interner::intern`] with the string's hash (`hash_bytes(0, s)`) already computed.
    pub fn intern_hashed(&mut self, hash: u64, s: &str) -> u32 {
        self.intern_bytes(hash, s.as_bytes())
    }

    /// [`Interner::intern_hashed`] for a string that is likely `near` or the one after it (as
    /// in files sorted by item, or listing the same items in the same order for each
    /// annotator): those two are compared first, which spares the table lookup.
    fn intern_near(&mut self, near: u32, s: &[u8]) -> u32 {
        for id in [near, near.wrapping_add(1)] {
            if (id as usize) < self.len() && same(self.raw(id), s) {
                return id;
            }
        }
        self.intern_bytes(hash_bytes(0, s), s)
    }

    /// Interns bytes that are valid UTF-8 (the scanner checked them).
    fn intern_bytes(&mut self, hash: u64, s: &[u8]) -> u32 {
        let next = self.starts.len() as u32;
        match self.by_hash.get(&hash) {
            None => {
                self.by_hash.insert(hash, next);
                self.push(s);
                next
            }
            Some(&id) if same(self.raw(id), s) => id,
            Some(_) => {
                if let Some(&id) = self.collided.get(s) {
                    return id;
                }
                self.collided.insert(s.to_vec(), next);
                self.push(s);
                next
            }
        }
    }

    fn push(&mut self, s: &[u8]) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(s);
    }
}

/// Distinct label values, numbered in order of first appearance.
#[derive(Debug, Clone, Default)]
struct ValueDict {
    values: Vec<LabelValue>,
    /// Category text -> interner id -> value id.
    texts: Interner,
    text_ids: Vec<u32>,
    /// Number bits -> value id.
    numbers: HashMap<u64, u32>,
    /// The first few numbers' bits and value ids.
    few_numbers: Vec<(u64, u32)>,
    missing: Option<u32>,
}

/// Values looked up by a scan before the tables (labels have few distinct values).
const FEW: usize = 16;

impl ValueDict {
    /// The value of a category's text, as read (before [`LabelColumns::map_values`]).
    fn text(&mut self, s: &[u8]) -> u32 {
        for t in 0..self.texts.len().min(FEW) {
            if same(self.texts.raw(t as u32), s) {
                return self.text_ids[t];
            }
        }
        self.text_hashed(hash_bytes(0, s), s)
    }

    fn text_hashed(&mut self, hash: u64, s: &[u8]) -> u32 {
        let t = self.texts.intern_bytes(hash, s);
        if let Some(&v) = self.text_ids.get(t as usize) {
            return v;
        }
        let v = self.values.len() as u32;
        self.values.push(LabelValue::Category(
            String::from_utf8_lossy(s).into_owned(),
        ));
        self.text_ids.push(v);
        v
    }

    fn number(&mut self, x: f64) -> u32 {
        let bits = x.to_bits();
        if let Some(&(_, v)) = self.few_numbers.iter().find(|(b, _)| *b == bits) {
            return v;
        }
        let next = self.values.len() as u32;
        if self.few_numbers.len() < FEW && !self.numbers.contains_key(&bits) {
            self.few_numbers.push((bits, next));
        }
        *self.numbers.entry(x.to_bits()).or_insert_with(|| {
            self.values.push(LabelValue::Number(x));
            next
        })
    }

    fn missing(&mut self) -> u32 {
        if let Some(v) = self.missing {
            return v;
        }
        let v = self.values.len() as u32;
        self.values.push(LabelValue::Missing);
        self.missing = Some(v);
        v
    }

    fn value(&mut self, v: &LabelValue) -> u32 {
        match v {
            LabelValue::Missing => self.missing(),
            LabelValue::Number(x) => self.number(*x),
            LabelValue::Category(s) => self.text_hashed(hash_bytes(0, s.as_bytes()), s.as_bytes()),
        }
    }
}

/// Label records as columns (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct LabelColumns {
    /// Item ids, in order of first appearance.
    pub items: Interner,
    /// Annotator names.
    pub annotators: Interner,
    /// Model names (of `model_a`, `model_b` and `model`).
    pub models: Interner,
    /// `round` values.
    pub rounds: Interner,
    /// `guideline_version` values.
    pub guidelines: Interner,
    dict: ValueDict,
    /// Per label: the item.
    pub item: Vec<u32>,
    /// Per label: the annotator.
    pub annotator: Vec<u32>,
    /// Per label: the value (an index into [`LabelColumns::values`]).
    pub value: Vec<u32>,
    /// Per label: `model_a` ([`NONE`] when absent); empty when no label has one.
    pub model_a: Vec<u32>,
    /// Per label: `model_b`, as `model_a`.
    pub model_b: Vec<u32>,
    /// Per label: `model`, as `model_a`.
    pub model: Vec<u32>,
    /// Per label: `time` in seconds since the epoch ([`NO_TIME`] when absent); empty when no
    /// label has one.
    pub time: Vec<i64>,
    /// Per label: `round` ([`NONE`] when absent); empty when no label has one.
    pub round: Vec<u32>,
    /// Per label: `guideline_version`, as `round`.
    pub guideline: Vec<u32>,
    /// Where labels came from: (first index, location of that label); the labels after it
    /// follow on consecutive lines and records until the next entry.
    anchors: Vec<(u32, Location)>,
    /// Whether any optional column exists.
    has_optional: bool,
}

/// Pushes `v` for label `n` into an optional column, creating it when `v` is the first value.
fn push_opt<T: Copy>(col: &mut Vec<T>, n: usize, v: T, absent: T, is_absent: bool) -> bool {
    if col.is_empty() {
        if is_absent {
            return false;
        }
        col.resize(n, absent);
    }
    col.push(v);
    true
}

impl LabelColumns {
    /// Number of labels.
    pub fn len(&self) -> usize {
        self.item.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.item.is_empty()
    }

    /// The distinct values; labels point into it.
    pub fn values(&self) -> &[LabelValue] {
        &self.dict.values
    }

    /// Rewrites every value (e.g. `--map 1=A,garbage=null`); labels keep their value ids.
    pub fn map_values(&mut self, f: impl Fn(&LabelValue) -> LabelValue) {
        for v in &mut self.dict.values {
            *v = f(v);
        }
    }

    /// Whether any label has `model_a`, `model_b` or `model`.
    pub fn has_models(&self) -> bool {
        !(self.model_a.is_empty() && self.model_b.is_empty() && self.model.is_empty())
    }

    /// Where label `index` came from, when it was read from a file.
    pub fn location(&self, index: usize) -> Option<Location> {
        let at = self
            .anchors
            .partition_point(|(first, _)| *first as usize <= index);
        let (first, loc) = self.anchors.get(at.checked_sub(1)?)?;
        let step = (index - *first as usize) as u64;
        Some(Location::new(
            loc.source.clone(),
            loc.line.map(|l| l + step),
            loc.record + step,
        ))
    }

    /// Notes that label `index` (the next one) comes from this place.
    fn note_location(&mut self, source: &Arc<str>, line: Option<u64>, record: u64) {
        let index = self.item.len();
        if let Some((first, loc)) = self.anchors.last() {
            let step = (index - *first as usize) as u64;
            if Arc::ptr_eq(&loc.source, source)
                && loc.line.map(|l| l + step) == line
                && loc.record + step == record
            {
                return;
            }
        }
        self.anchors
            .push((index as u32, Location::new(source.clone(), line, record)));
    }

    fn check_room(&self, location: &Location) -> Result<(), ReadError> {
        if self.item.len() >= (u32::MAX - 1) as usize {
            return Err(ReadError::Syntax {
                location: location.clone(),
                message: format!("more than {} labels: too many to hold", u32::MAX - 1),
            });
        }
        Ok(())
    }

    /// Builds columns from labels (without locations: an index is the label's position).
    pub fn from_labels(labels: &[Label]) -> LabelColumns {
        let mut c = LabelColumns::default();
        for l in labels {
            c.push_fields(l);
        }
        c
    }

    /// Adds one label read from `location`.
    pub fn push_label(&mut self, label: &Label, location: &Location) -> Result<(), ReadError> {
        self.check_room(location)?;
        self.note_location(&location.source, location.line, location.record);
        self.push_fields(label);
        Ok(())
    }

    fn push_fields(&mut self, l: &Label) {
        let n = self.item.len();
        let item = self.items.intern(&l.item);
        let annotator = self.annotators.intern(&l.annotator);
        let value = self.dict.value(&l.label);
        self.item.push(item);
        self.annotator.push(annotator);
        self.value.push(value);
        let opt = |col: &mut Vec<u32>, interner: &mut Interner, s: &Option<String>| {
            let id = s.as_deref().map_or(NONE, |s| interner.intern(s));
            push_opt(col, n, id, NONE, id == NONE)
        };
        let t = l.timestamp();
        let any = [
            opt(&mut self.model_a, &mut self.models, &l.model_a),
            opt(&mut self.model_b, &mut self.models, &l.model_b),
            opt(&mut self.model, &mut self.models, &l.model),
            opt(&mut self.round, &mut self.rounds, &l.round),
            opt(
                &mut self.guideline,
                &mut self.guidelines,
                &l.guideline_version,
            ),
            push_opt(
                &mut self.time,
                n,
                t.unwrap_or(NO_TIME),
                NO_TIME,
                t.is_none(),
            ),
        ];
        self.has_optional |= any.contains(&true);
    }

    /// Pads the optional columns that exist to the number of labels.
    fn pad(&mut self) {
        let n = self.item.len();
        for col in [
            &mut self.model_a,
            &mut self.model_b,
            &mut self.model,
            &mut self.round,
            &mut self.guideline,
        ] {
            if !col.is_empty() {
                col.resize(n, NONE);
            }
        }
        if !self.time.is_empty() {
            self.time.resize(n, NO_TIME);
        }
    }

    /// Reads every label of a reader (any format) and appends them; stops at the first error,
    /// which is the error [`RecordReader::typed_located`] gives.
    pub fn read(&mut self, reader: RecordReader) -> Result<(), ReadError> {
        match reader.inner {
            Inner::Jsonl(j) => {
                let name = j.name.clone();
                let result = scan::read_jsonl(self, &name, j.reader, j.size);
                self.pad();
                result
            }
            inner => {
                for r in (RecordReader { inner }).typed_located::<Label>() {
                    let (label, location) = r?;
                    self.push_label(&label, &location)?;
                }
                Ok(())
            }
        }
    }
}

/// The JSONL scanner.
mod scan {
    use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

    use super::*;

    /// Bytes read at a time.
    const BATCH_BYTES: usize = 1 << 20;

    /// A string field: where it is in the batch.
    #[derive(Debug, Clone, Copy, Default)]
    struct Str {
        start: u32,
        len: u32,
    }

    impl Str {
        const ABSENT: Str = Str {
            start: 0,
            len: u32::MAX,
        };

        fn is_absent(&self) -> bool {
            self.len == u32::MAX
        }

        fn bytes<'t>(&self, text: &'t [u8]) -> &'t [u8] {
            let a = self.start as usize;
            text.get(a..a + self.len as usize).unwrap_or(&[])
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Val {
        Missing,
        Text(Str),
        Number(f64),
        Bool(bool),
    }

    /// One non-blank line of a batch, scanned; the fields most labels lack, and lines left to
    /// the typed reader, are in [`Part::rare`].
    #[derive(Debug, Clone, Copy)]
    struct Scanned {
        item: Str,
        annotator: Str,
        value: Val,
        /// Line number within the part (from 0).
        line: u32,
        /// Index in [`Part::rare`], or [`NONE`].
        rare: u32,
        /// Index in [`Part::annotators`], or [`LOCAL_NONE`] (more than a few in the part).
        ann_local: u16,
        /// Index in [`Part::values`], or [`LOCAL_NONE`].
        value_local: u16,
    }

    const LOCAL_NONE: u16 = u16::MAX;

    /// The optional fields of a label, or a line left to the typed reader.
    #[derive(Debug, Clone, Copy)]
    struct Rare {
        /// `(start, end)` of a line the scanner left to the typed reader.
        fallback: Option<(u32, u32)>,
        model_a: Str,
        model_b: Str,
        model: Str,
        time: i64,
        round: Str,
        guideline: Str,
    }

    const NO_RARE: Rare = Rare {
        fallback: None,
        model_a: Str::ABSENT,
        model_b: Str::ABSENT,
        model: Str::ABSENT,
        time: NO_TIME,
        round: Str::ABSENT,
        guideline: Str::ABSENT,
    };

    const NO_SCAN: Scanned = Scanned {
        ann_local: LOCAL_NONE,
        value_local: LOCAL_NONE,
        item: Str::ABSENT,
        annotator: Str::ABSENT,
        value: Val::Missing,
        line: 0,
        rare: NONE,
    };

    /// What one part of a batch gives: its lines and how many lines it spans.
    #[derive(Default)]
    struct Part {
        records: Vec<Scanned>,
        rare: Vec<Rare>,
        lines: u32,
        /// The first few distinct annotators and values of the part, so that the merge looks
        /// each up once per part rather than once per label.
        annotators: Vec<Str>,
        values: Vec<Val>,
    }

    /// Whether two scanned values are the same value.
    fn same_val(a: &Val, b: &Val, text: &[u8]) -> bool {
        match (a, b) {
            (Val::Missing, Val::Missing) => true,
            (Val::Number(x), Val::Number(y)) => x.to_bits() == y.to_bits(),
            (Val::Bool(x), Val::Bool(y)) => x == y,
            (Val::Text(x), Val::Text(y)) => same(x.bytes(text), y.bytes(text)),
            _ => false,
        }
    }

    /// The index of `x` among the part's few distinct ones (added if there is room).
    fn local<T: Copy>(few: &mut Vec<T>, last: &mut u16, x: T, eq: impl Fn(&T, &T) -> bool) -> u16 {
        if let Some(prev) = few.get(*last as usize)
            && eq(prev, &x)
        {
            return *last;
        }
        let found = match few.iter().position(|y| eq(y, &x)) {
            Some(k) => k as u16,
            None if few.len() < FEW => {
                few.push(x);
                few.len() as u16 - 1
            }
            None => return LOCAL_NONE,
        };
        *last = found;
        found
    }

    /// A batch of whole lines, scanned.
    struct Batch {
        text: Vec<u8>,
        /// The batch is `text[..end]`; the rest starts the next one.
        end: usize,
        parts: Vec<Part>,
        /// A read error after the batch.
        error: Option<std::io::Error>,
    }

    /// Reads JSONL into the columns: one thread reads and scans batches (in parallel parts)
    /// while this one adds the previous batch's labels to the columns.
    pub(super) fn read_jsonl(
        cols: &mut LabelColumns,
        name: &Arc<str>,
        reader: impl Read + Send,
        size: Option<u64>,
    ) -> Result<(), ReadError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .clamp(1, 8);
        std::thread::scope(|scope| {
            let (tx, rx) = sync_channel::<Batch>(1);
            let (back_tx, back_rx) = channel::<(Vec<u8>, Vec<Part>)>();
            let producer = scope.spawn(move || produce(reader, tx, back_rx, threads));
            let mut line = 0;
            let mut record = 0;
            let mut result = Ok(());
            let mut sized = false;
            for batch in rx.iter() {
                let text = batch.text.get(..batch.end).unwrap_or(&[]);
                if !sized && let Some(size) = size {
                    // The columns sized once for the whole file, from the first batch's lines
                    // per byte (growing them by doubling would copy them several times).
                    sized = true;
                    let lines: usize = batch.parts.iter().map(|p| p.records.len()).sum();
                    let estimate =
                        (size as f64 * lines as f64 / text.len().max(1) as f64 * 1.05) as usize;
                    let more = estimate.saturating_sub(cols.item.len()).min(1 << 28);
                    for col in [&mut cols.item, &mut cols.annotator, &mut cols.value] {
                        col.reserve_exact(more);
                    }
                }
                match merge(cols, name, text, &batch.parts, line, record) {
                    Ok((l, r)) => (line, record) = (l, r),
                    Err(e) => result = Err(e),
                }
                if result.is_ok()
                    && let Some(e) = batch.error
                {
                    result = Err(io_error(name, e));
                }
                if result.is_err() {
                    break;
                }
                // The buffers go back to be filled again (if the producer still runs).
                let _ = back_tx.send((batch.text, batch.parts));
            }
            // Ends the producer if it still runs: its next send fails.
            drop(rx);
            if let Err(panic) = producer.join() {
                std::panic::resume_unwind(panic);
            }
            result
        })
    }

    /// Reads and scans batches until the input ends, a read fails or the receiver is gone.
    fn produce(
        mut reader: impl Read,
        tx: SyncSender<Batch>,
        back: Receiver<(Vec<u8>, Vec<Part>)>,
        threads: usize,
    ) {
        let mut cap = BATCH_BYTES;
        let mut carry: Vec<u8> = Vec::new();
        let mut first = true;
        loop {
            let (mut buf, mut parts) = back
                .try_recv()
                .unwrap_or_else(|_| (Vec::with_capacity(cap), Vec::new()));
            buf.clear();
            buf.append(&mut carry);
            let (end, eof, error) = loop {
                let want = cap.saturating_sub(buf.len());
                let (eof, error) = match (&mut reader).take(want as u64).read_to_end(&mut buf) {
                    Ok(n) => (n < want, None),
                    Err(e) => (true, Some(e)),
                };
                let end = complete_lines(&buf, eof && error.is_none());
                if end == 0 && !eof {
                    // A line longer than the buffer: read on.
                    cap = cap.saturating_mul(2);
                    continue;
                }
                break (end, eof, error);
            };
            carry.extend_from_slice(buf.get(end..).unwrap_or(&[]));
            scan_batch(buf.get(..end).unwrap_or(&[]), threads, first, &mut parts);
            first = false;
            let batch = Batch {
                text: buf,
                end,
                parts,
                error,
            };
            if tx.send(batch).is_err() || eof {
                return;
            }
            cap = BATCH_BYTES.max(carry.len() * 2);
        }
    }

    /// The length of the whole lines at the start of `buf` (all of it at the end of the input).
    fn complete_lines(buf: &[u8], eof: bool) -> usize {
        if eof {
            return buf.len();
        }
        buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
    }

    /// Splits `text` into about `n` parts at line ends.
    fn split_lines(text: &[u8], n: usize) -> Vec<(usize, usize)> {
        let mut parts = Vec::with_capacity(n);
        let mut start = 0;
        for k in 1..n {
            let target = (text.len() * k / n).max(start);
            let end = match text
                .get(target..)
                .and_then(|t| t.iter().position(|&b| b == b'\n'))
            {
                Some(p) => target + p + 1,
                None => text.len(),
            };
            if end > start {
                parts.push((start, end));
                start = end;
            }
        }
        if start < text.len() || parts.is_empty() {
            parts.push((start, text.len()));
        }
        parts
    }

    /// Scans one batch of whole lines, in parallel parts, into `parts`.
    fn scan_batch(batch: &[u8], threads: usize, first_batch: bool, parts: &mut Vec<Part>) {
        let n_parts = if batch.len() >= (256 << 10) {
            threads
        } else {
            1
        };
        let ranges = split_lines(batch, n_parts);
        parts.resize_with(ranges.len(), Part::default);
        parts.truncate(ranges.len());
        let first = first_batch;
        std::thread::scope(|scope| {
            let mut jobs = ranges.iter().zip(parts.iter_mut());
            let head = jobs.next();
            let handles: Vec<_> = jobs
                .map(|(&(a, b), part)| scope.spawn(move || scan_part(batch, a, b, false, part)))
                .collect();
            if let Some((&(a, b), part)) = head {
                scan_part(batch, a, b, first, part);
            }
            for h in handles {
                if let Err(panic) = h.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
    }

    /// Adds the labels of a scanned batch; returns the lines and records read so far.
    fn merge(
        cols: &mut LabelColumns,
        name: &Arc<str>,
        text: &[u8],
        parts: &[Part],
        mut line: u64,
        mut record: u64,
    ) -> Result<(u64, u64), ReadError> {
        let mut last_ann: Option<(Str, u32)> = None;
        // The line of the last label added here, and the number of labels after it: the next
        // label's place is then known without asking (see `note_location`).
        let mut last_at: Option<(u64, usize)> = None;
        for part in parts {
            // The part's few annotators and values, as ids in the columns (found on first use).
            let mut ann_ids = [NONE; FEW];
            let mut value_ids = [NONE; FEW];
            for s in &part.records {
                record += 1;
                let at = line + u64::from(s.line) + 1;
                let rare = part.rare.get(s.rare as usize).unwrap_or(&NO_RARE);
                if let Some((a, b)) = rare.fallback {
                    let bytes = text.get(a as usize..b as usize).unwrap_or(&[]);
                    let (label, location) = parse_typed::<Label>(name, at, record, bytes)?;
                    cols.push_label(&label, &location)?;
                    last_at = None;
                    continue;
                }
                let n = cols.item.len();
                if n >= (u32::MAX - 1) as usize {
                    cols.check_room(&Location::new(name.clone(), Some(at), record))?;
                }
                if last_at != Some((at.wrapping_sub(1), n)) {
                    cols.note_location(name, Some(at), record);
                }
                last_at = Some((at, n + 1));
                let annotator = match ann_ids.get_mut(s.ann_local as usize) {
                    Some(id) if *id != NONE => *id,
                    Some(id) => {
                        *id = annotator_id(cols, s.annotator, text, &mut last_ann);
                        *id
                    }
                    None => annotator_id(cols, s.annotator, text, &mut last_ann),
                };
                let value = match value_ids.get_mut(s.value_local as usize) {
                    Some(id) if *id != NONE => *id,
                    Some(id) => {
                        *id = value_id(cols, s.value, text);
                        *id
                    }
                    None => value_id(cols, s.value, text),
                };
                push_scanned(cols, s, annotator, value, rare, text);
            }
            line += u64::from(part.lines);
        }
        Ok((line, record))
    }

    fn annotator_id(
        cols: &mut LabelColumns,
        annotator: Str,
        text: &[u8],
        last_ann: &mut Option<(Str, u32)>,
    ) -> u32 {
        // Annotators come in runs, or in turns among a few: the last one is checked first,
        // then the first few.
        let name = annotator.bytes(text);
        match *last_ann {
            Some((prev, id)) if same(prev.bytes(text), name) => id,
            _ => {
                let few = (0..cols.annotators.len().min(FEW) as u32)
                    .find(|&a| same(cols.annotators.raw(a), name));
                let id = match few {
                    Some(id) => id,
                    None => cols.annotators.intern_bytes(hash_bytes(0, name), name),
                };
                *last_ann = Some((annotator, id));
                id
            }
        }
    }

    fn value_id(cols: &mut LabelColumns, value: Val, text: &[u8]) -> u32 {
        match value {
            Val::Missing => cols.dict.missing(),
            Val::Number(x) => cols.dict.number(x),
            Val::Text(t) => cols.dict.text(t.bytes(text)),
            Val::Bool(b) => cols.dict.text(if b { b"true" } else { b"false" }),
        }
    }

    fn push_scanned(
        cols: &mut LabelColumns,
        s: &Scanned,
        annotator: u32,
        value: u32,
        rare: &Rare,
        text: &[u8],
    ) {
        let n = cols.item.len();
        let near = cols.item.last().copied().unwrap_or(NONE);
        let item = cols.items.intern_near(near, s.item.bytes(text));
        cols.item.push(item);
        cols.annotator.push(annotator);
        cols.value.push(value);
        if s.rare == NONE && !cols.has_optional {
            return;
        }
        let opt = |col: &mut Vec<u32>, interner: &mut Interner, f: Str| {
            let id = if f.is_absent() {
                NONE
            } else {
                let b = f.bytes(text);
                interner.intern_bytes(hash_bytes(0, b), b)
            };
            push_opt(col, n, id, NONE, f.is_absent())
        };
        let any = [
            opt(&mut cols.model_a, &mut cols.models, rare.model_a),
            opt(&mut cols.model_b, &mut cols.models, rare.model_b),
            opt(&mut cols.model, &mut cols.models, rare.model),
            opt(&mut cols.round, &mut cols.rounds, rare.round),
            opt(&mut cols.guideline, &mut cols.guidelines, rare.guideline),
            push_opt(&mut cols.time, n, rare.time, NO_TIME, rare.time == NO_TIME),
        ];
        cols.has_optional |= any.contains(&true);
    }

    /// Scans the lines of `text[a..b]` into `out`.
    fn scan_part(text: &[u8], a: usize, b: usize, first_batch: bool, out: &mut Part) {
        out.records.clear();
        out.rare.clear();
        out.annotators.clear();
        out.values.clear();
        let text = text.get(..b).unwrap_or(text);
        let (mut last_ann, mut last_value) = (0u16, 0u16);
        let mut line: u32 = 0;
        let mut pos = a;
        while pos < b {
            let mut from = pos;
            if first_batch && pos == 0 && text[pos..].starts_with(UTF8_BOM) {
                from += UTF8_BOM.len();
            }
            let mut rare = NO_RARE;
            let scanned = match scan_common(text, from) {
                Some(found) => Some(found),
                None => scan_line(text, from, &mut rare),
            };
            let (mut s, end) = match scanned {
                Some((mut s, end)) => {
                    s.ann_local = local(&mut out.annotators, &mut last_ann, s.annotator, |x, y| {
                        same(x.bytes(text), y.bytes(text))
                    });
                    s.value_local = local(&mut out.values, &mut last_value, s.value, |x, y| {
                        same_val(x, y, text)
                    });
                    (s, end)
                }
                None => {
                    let end = match text[pos..].iter().position(|&c| c == b'\n') {
                        Some(p) => pos + p + 1,
                        None => b,
                    };
                    if text[from..end].iter().all(u8::is_ascii_whitespace) {
                        line += 1;
                        pos = end;
                        continue;
                    }
                    rare = Rare {
                        fallback: Some((from as u32, end as u32)),
                        ..NO_RARE
                    };
                    (NO_SCAN, end)
                }
            };
            s.line = line;
            let has_rare = rare.fallback.is_some()
                || rare.time != NO_TIME
                || [
                    rare.model_a,
                    rare.model_b,
                    rare.model,
                    rare.round,
                    rare.guideline,
                ]
                .iter()
                .any(|f| !f.is_absent());
            if has_rare {
                s.rare = out.rare.len() as u32;
                out.rare.push(rare);
            }
            out.records.push(s);
            line += 1;
            pos = end;
        }
        out.lines = line;
    }

    /// JSON whitespace within a line (a line feed ends the line).
    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while let Some(c) = b.get(i) {
            if !matches!(c, b' ' | b'\t' | b'\r') {
                break;
            }
            i += 1;
        }
        i
    }

    /// A string starting at `b[i] == '"'` with no escapes and no control characters, valid
    /// UTF-8: its content's range and the position after it.
    fn plain_string(b: &[u8], i: usize) -> Option<(usize, usize, usize)> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let mut j = start;
        // Eight bytes at a time, to the first byte that is a quote, a backslash, a control
        // character or not ASCII (the lowest byte these bit tests flag is always a true one).
        while let Some(chunk) = b.get(j..j + 8) {
            let w = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
            let quote = w ^ (ONES * u64::from(b'"'));
            let backslash = w ^ (ONES * u64::from(b'\\'));
            let special = (quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash)
                | (w.wrapping_sub(ONES * 0x20) & !w)
                | w;
            let special = special & HIGH;
            if special != 0 {
                j += (special.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        let mut ascii = true;
        loop {
            let c = *b.get(j)?;
            if c == b'"' {
                break;
            }
            if c == b'\\' || c < 0x20 {
                return None;
            }
            ascii &= c < 0x80;
            j += 1;
        }
        if !ascii {
            std::str::from_utf8(&b[start..j]).ok()?;
        }
        Some((start, j, j + 1))
    }

    /// A JSON number at `b[i]`: its end, and its value when it is a plain integer of at most
    /// 15 digits other than `-0` (exact as an `f64`, so it reads as serde_json reads it).
    fn number(b: &[u8], i: usize) -> Option<(usize, Option<f64>)> {
        let mut j = i;
        let negative = b.get(j) == Some(&b'-');
        if negative {
            j += 1;
        }
        let digits_start = j;
        match b.get(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => {
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
            }
            _ => return None,
        }
        let int_digits = j - digits_start;
        let mut plain = true;
        if b.get(j) == Some(&b'.') {
            plain = false;
            j += 1;
            let f = j;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == f {
                return None;
            }
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            // Exponents can overflow, which serde_json reports: left to the typed reader.
            return None;
        }
        if int_digits > 15 {
            return None;
        }
        let value = if plain {
            let mut x: i64 = 0;
            for &d in &b[digits_start..j] {
                x = x * 10 + i64::from(d - b'0');
            }
            if negative && x == 0 {
                None
            } else {
                Some(if negative { -x } else { x } as f64)
            }
        } else {
            None
        };
        Some((j, value))
    }

    /// `true`, `false` or `null` at `b[i]`.
    fn literal(b: &[u8], i: usize) -> Option<(usize, &'static str)> {
        for lit in ["true", "false", "null"] {
            if b.get(i..i + lit.len()) == Some(lit.as_bytes()) {
                return Some((i + lit.len(), lit));
            }
        }
        None
    }

    /// A string or null for an optional text field.
    fn opt_str(b: &[u8], i: usize) -> Option<(Str, usize)> {
        if let Some((s, e, next)) = plain_string(b, i) {
            return Some((
                Str {
                    start: s as u32,
                    len: (e - s) as u32,
                },
                next,
            ));
        }
        match literal(b, i) {
            Some((next, "null")) => Some((Str::ABSENT, next)),
            _ => None,
        }
    }

    /// Whether `b[i..]` starts with `prefix` (compared eight bytes at a time).
    fn starts(b: &[u8], i: usize, prefix: &[u8]) -> bool {
        let Some(got) = b.get(i..i + prefix.len()) else {
            return false;
        };
        let word = |s: &[u8]| {
            let mut w = 0u64;
            for (k, &c) in s.iter().enumerate() {
                w |= u64::from(c) << (8 * k);
            }
            w
        };
        got.chunks(8)
            .zip(prefix.chunks(8))
            .all(|(x, y)| word(x) == word(y))
    }

    /// The most common line exactly: `{"item":"…","annotator":"…","label":…}` with no spaces
    /// and nothing else (what gavel itself writes); `None` for anything else, which
    /// [`scan_line`] then reads.
    fn scan_common(b: &[u8], start: usize) -> Option<(Scanned, usize)> {
        let mut s = NO_SCAN;
        if !starts(b, start, b"{\"item\":") {
            return None;
        }
        let (st, e, i) = plain_string(b, start + 8)?;
        s.item = Str {
            start: st as u32,
            len: (e - st) as u32,
        };
        if !starts(b, i, b",\"annotator\":") {
            return None;
        }
        let (st, e, i) = plain_string(b, i + 13)?;
        s.annotator = Str {
            start: st as u32,
            len: (e - st) as u32,
        };
        if !starts(b, i, b",\"label\":") {
            return None;
        }
        let i = i + 9;
        let i = match b.get(i)? {
            b'"' => {
                let (st, e, next) = plain_string(b, i)?;
                s.value = Val::Text(Str {
                    start: st as u32,
                    len: (e - st) as u32,
                });
                next
            }
            b'-' | b'0'..=b'9' => {
                let (next, x) = number(b, i)?;
                s.value = Val::Number(x?);
                next
            }
            _ => {
                let (next, lit) = literal(b, i)?;
                s.value = match lit {
                    "null" => Val::Missing,
                    other => Val::Bool(other == "true"),
                };
                next
            }
        };
        if b.get(i) != Some(&b'}') {
            return None;
        }
        let end = skip_ws(b, i + 1);
        let next = match b.get(end) {
            None => end,
            Some(b'\n') => end + 1,
            Some(_) => return None,
        };
        Some((s, next))
    }

    /// The line of `b` that starts at `start` as a label, and where the next line starts; or
    /// `None` to leave the line to the typed reader.
    fn scan_line(b: &[u8], start: usize, r: &mut Rare) -> Option<(Scanned, usize)> {
        let mut s = NO_SCAN;
        let mut seen: u16 = 0;
        let mut i = skip_ws(b, start);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(b, i + 1);
        loop {
            let (ks, ke, next) = plain_string(b, i)?;
            let key = &b[ks..ke];
            i = skip_ws(b, next);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            // Element patterns compare in registers (a byte-string pattern calls `memcmp`).
            let bit = match key {
                [b'i', b't', b'e', b'm'] => 0,
                [b'a', b'n', b'n', b'o', b't', b'a', b't', b'o', b'r'] => 1,
                [b'l', b'a', b'b', b'e', b'l'] => 2,
                [b'm', b'o', b'd', b'e', b'l', b'_', b'a'] => 3,
                [b'm', b'o', b'd', b'e', b'l', b'_', b'b'] => 4,
                [b'm', b'o', b'd', b'e', b'l'] => 5,
                [b't', b'i', b'm', b'e'] => 6,
                [b'r', b'o', b'u', b'n', b'd'] => 7,
                _ if key == b"guideline_version" => 8,
                _ => 15,
            };
            if bit < 15 {
                // A repeated field is left to the typed reader.
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
            }
            i = match bit {
                0 | 1 => {
                    let (st, e, next) = plain_string(b, i)?;
                    let f = Str {
                        start: st as u32,
                        len: (e - st) as u32,
                    };
                    if bit == 0 {
                        s.item = f;
                    } else {
                        s.annotator = f;
                    }
                    next
                }
                2 => match b.get(i)? {
                    b'"' => {
                        let (st, e, next) = plain_string(b, i)?;
                        s.value = Val::Text(Str {
                            start: st as u32,
                            len: (e - st) as u32,
                        });
                        next
                    }
                    b'-' | b'0'..=b'9' => {
                        let (next, x) = number(b, i)?;
                        s.value = Val::Number(x?);
                        next
                    }
                    _ => {
                        let (next, lit) = literal(b, i)?;
                        s.value = match lit {
                            "null" => Val::Missing,
                            other => Val::Bool(other == "true"),
                        };
                        next
                    }
                },
                3..=5 | 7 | 8 => {
                    let (f, next) = opt_str(b, i)?;
                    match bit {
                        3 => r.model_a = f,
                        4 => r.model_b = f,
                        5 => r.model = f,
                        7 => r.round = f,
                        _ => r.guideline = f,
                    }
                    next
                }
                6 => {
                    let (f, next) = opt_str(b, i)?;
                    if !f.is_absent() {
                        let a = f.start as usize;
                        let t = std::str::from_utf8(&b[a..a + f.len as usize]).ok()?;
                        r.time = parse_rfc3339(t).ok()?;
                    }
                    next
                }
                _ => {
                    // An extra field: skipped when its value is simple.
                    match b.get(i)? {
                        b'"' => plain_string(b, i)?.2,
                        b'-' | b'0'..=b'9' => number(b, i)?.0,
                        _ => literal(b, i)?.0,
                    }
                }
            };
            i = skip_ws(b, i);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
        // The line ends here.
        let end = skip_ws(b, i + 1);
        let next = match b.get(end) {
            None => end,
            Some(b'\n') => end + 1,
            Some(_) => return None,
        };
        // The required fields, and both models or neither.
        if seen & 0b111 != 0b111 || r.model_a.is_absent() != r.model_b.is_absent() {
            return None;
        }
        Some((s, next))
    }

    /// Whether the common-shape scanner takes a line, and then reads it as [`scan_line`] does.
    #[cfg(test)]
    pub(super) fn common(line: &str) -> bool {
        let mut r = NO_RARE;
        let Some((s, end)) = scan_common(line.as_bytes(), 0) else {
            return false;
        };
        let (t, end2) = scan_line(line.as_bytes(), 0, &mut r).unwrap();
        let b = line.as_bytes();
        assert_eq!(end, end2);
        assert_eq!(s.item.bytes(b), t.item.bytes(b));
        assert_eq!(s.annotator.bytes(b), t.annotator.bytes(b));
        assert!(same_val(&s.value, &t.value, b));
        true
    }

    #[cfg(test)]
    pub(super) fn scans(line: &str) -> bool {
        let mut r = NO_RARE;
        scan_line(line.as_bytes(), 0, &mut r).is_some_and(|(_, end)| end == line.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Format;

    fn reader(text: &[u8]) -> RecordReader {
        RecordReader::from_reader(
            "l",
            Format::Jsonl,
            Box::new(std::io::Cursor::new(text.to_vec())),
        )
        .unwrap()
    }

    /// The columns built from the typed reader's labels, and the error it stops at.
    fn generic(text: &[u8]) -> (LabelColumns, Option<String>) {
        let mut c = LabelColumns::default();
        for r in reader(text).typed_located::<Label>() {
            match r {
                Ok((l, loc)) => c.push_label(&l, &loc).unwrap(),
                Err(e) => return (c, Some(e.to_string())),
            }
        }
        c.pad();
        (c, None)
    }

    fn scanned(text: &[u8]) -> (LabelColumns, Option<String>) {
        let mut c = LabelColumns::default();
        let e = c.read(reader(text)).err().map(|e| e.to_string());
        (c, e)
    }

    /// Every label of the columns, written out in full.
    fn rows(c: &LabelColumns) -> Vec<String> {
        let opt = |col: &Vec<u32>, i: usize, names: &Interner| {
            col.get(i)
                .filter(|&&v| v != NONE)
                .map(|&v| names.get(v).to_string())
        };
        (0..c.len())
            .map(|i| {
                format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                    c.items.get(c.item[i]),
                    c.annotators.get(c.annotator[i]),
                    c.values()[c.value[i] as usize],
                    opt(&c.model_a, i, &c.models),
                    opt(&c.model_b, i, &c.models),
                    opt(&c.model, i, &c.models),
                    c.time.get(i).filter(|&&t| t != NO_TIME),
                    opt(&c.round, i, &c.rounds),
                    opt(&c.guideline, i, &c.guidelines),
                    c.location(i),
                )
            })
            .collect()
    }

    fn assert_same(text: &[u8]) -> usize {
        let (g, ge) = generic(text);
        let (s, se) = scanned(text);
        assert_eq!(ge, se);
        let (gr, sr) = (rows(&g), rows(&s));
        // The first difference, not the whole listing.
        if let Some(k) = (0..gr.len().max(sr.len())).find(|&k| gr.get(k) != sr.get(k)) {
            panic!("label {k}: {:?} != {:?}", gr.get(k), sr.get(k));
        }
        // Ids in the same order of first appearance.
        assert_eq!(g.item, s.item);
        assert_eq!(g.annotator, s.annotator);
        g.len()
    }

    #[test]
    fn scanner_takes_the_usual_shapes() {
        for l in [
            r#"{"item":"q1","annotator":"a","label":"A"}"#,
            r#"{"item":"q1","annotator":"a","label":4}"#,
            r#"{"item":"q1","annotator":"a","label":-12}"#,
            r#"{"item":"q1","annotator":"a","label":null}"#,
            r#"{"item":"q1","annotator":"a","label":true}"#,
            r#" { "item" : "qé" , "annotator":"a","label":"A", "note": "x", "n": 2.5, "f": false } "#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x","model_b":"y","model":null,"time":"2024-05-01T12:30:00Z","round":"r1","guideline_version":"v2"}"#,
            r#"{"item":"abcdefghijé","annotator":"abcdefghijklmnopqrstuvwxyz","label":"A"}"#,
        ] {
            assert!(scan::scans(l), "{l}");
        }
        for l in [
            r#"{"item":"q\n","annotator":"a","label":"A"}"#,
            r#"{"item":17,"annotator":"a","label":"A"}"#,
            r#"{"item":"q","annotator":"a","label":2.5}"#,
            r#"{"item":"q","annotator":"a","label":1e3}"#,
            r#"{"item":"q","annotator":"a","label":-0}"#,
            r#"{"item":"q","annotator":"a","label":012}"#,
            r#"{"item":"q","annotator":"a","label":1234567890123456}"#,
            r#"{"item":"q","annotator":"a","label":"A","item":"r"}"#,
            r#"{"item":"q","annotator":"a","label":"A","x":{"y":1}}"#,
            r#"{"item":"q","annotator":"a","label":"A","x":[1]}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x"}"#,
            r#"{"item":"q","annotator":"a","label":"A","time":"yesterday"}"#,
            r#"{"item":"q","annotator":"a","label":"A","round":3}"#,
            r#"{"item":"q","annotator":"a"}"#,
            r#"{"item":"q","annotator":"a","label":"A"} x"#,
            r#"{"item":"q","annotator":"a","label":"A",}"#,
            r#"{"item":"q","annotator":"a","label":"A""#,
            "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\"}\x0c",
            r#"{"item":"abcdefghijk\"x","annotator":"a","label":"A"}"#,
            "{\"item\":\"abcdefghij\tk\",\"annotator\":\"a\",\"label\":\"A\"}",
            "{\"item\":\"abcdefghijklmnop\x01\",\"annotator\":\"a\",\"label\":\"A\"}",
        ] {
            assert!(!scan::scans(l), "{l}");
        }
    }

    #[test]
    fn common_shape_scanner() {
        for l in [
            r#"{"item":"q1","annotator":"a","label":"A"}"#,
            r#"{"item":"q1","annotator":"a","label":-12}"#,
            r#"{"item":"","annotator":"","label":null}"#,
            r#"{"item":"q1","annotator":"abcdefghijklmn","label":false}"#,
            "{\"item\":\"q1\",\"annotator\":\"a\",\"label\":4}\r",
            "{\"item\":\"q1\",\"annotator\":\"a\",\"label\":4} \n",
        ] {
            assert!(scan::common(l), "{l}");
        }
        for l in [
            r#"{"item":"q1","annotator":"a","label":"A","x":1}"#,
            r#"{"item":"q1", "annotator":"a","label":"A"}"#,
            r#"{"annotator":"a","item":"q1","label":"A"}"#,
            r#"{"item":"q1","annotator":"a","label":2.5}"#,
            r#"{"item":"q1","annotator":"a","label":"A"} x"#,
            r#"{"item":"q1","annotator":"a","label":"A""#,
            r#"{"item":"q
","annotator":"a","label":"A"}"#,
            r#"{"item":"q1","annotator":"a","labels":"A"}"#,
            r#"{"item":"q1","annotator":"a","label":nul}"#,
        ] {
            assert!(!scan::common(l), "{l}");
        }
    }

    #[test]
    fn columns_equal_the_typed_reader() {
        let lines: &[&str] = &[
            r#"{"item":"q1","annotator":"a","label":"A"}"#,
            r#"{"item":"q1","annotator":"b","label":4}"#,
            r#"{"item":"q2","annotator":"a","label":4.0}"#,
            r#"{"item":"q2","annotator":"b","label":"4"}"#,
            r#"{"item":"q3","annotator":"a","label":-2}"#,
            r#"{"item":"q3","annotator":"c","label":2.5e0}"#,
            r#"{"item":"q1","annotator":"c","label":true}"#,
            r#"{"item":"q4","annotator":"a","label":null}"#,
            r#"{"item":17,"annotator":-3,"label":"B"}"#,
            r#"{"item":"q\u00e9\n","annotator":"a\"b","label":"\u0041"}"#,
            r#"{"it\u0065m":"q","annotator":"a","label":"A"}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x","model_b":"y","model":null,"time":"2024-05-01T12:30:00Z","round":3,"guideline_version":"v2"}"#,
            r#"{"item":"q","annotator":"b","label":"B","model_a":"y","model_b":"x","time":"2024-05-02T00:00:00+02:00","round":"3"}"#,
            r#"{"item":"q","annotator":"a","label":"A","zeta":{"b":[1,2,{"c":null}]},"alpha":1,"zeta":2}"#,
            r#"{"item":"q","annotator":"a","label":"A","item":"r","label":null}"#,
            r#"  {"item":"qé","annotator":"a","label":"é"}  "#,
            "{\"item\":\"q\",\"annotator\":\"a\",\"label\":\"A\"}\r",
            "",
            "   \t",
            r#"{"item":"q","annotator":"a","label":"A","model":"m"}"#,
        ];
        let mut text = b"\xEF\xBB\xBF".to_vec();
        for l in lines {
            text.extend_from_slice(l.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(br#"{"item":"last","annotator":"a","label":"A"}"#);
        assert_eq!(assert_same(&text), lines.len() - 2 + 1);

        // Errors stop the reading at the same label, with the same text.
        for bad in [
            r#"{"item":"q","annotator":"a"}"#,
            r#"{"item":"q","annotator":"a","label":[1]}"#,
            r#"{"item":"q","annotator":"a","label":"A","model_a":"x"}"#,
            r#"{"item":"q","annotator":"a","label":"A","time":"yesterday"}"#,
            r#"{"item":"q","annotator":"a","label":1e400}"#,
            r#"{"item":"q","annotator":"a","label":"A"} x"#,
            r#"[1,2]"#,
        ] {
            let mut t = text.clone();
            t.extend_from_slice(b"\n\n");
            t.extend_from_slice(bad.as_bytes());
            t.extend_from_slice(b"\n{\"item\":\"after\",\"annotator\":\"a\",\"label\":\"A\"}\n");
            let (_, e) = scanned(&t);
            assert!(e.is_some(), "{bad}");
            assert_same(&t);
        }
        for bad in [&b"\xff"[..], b"abcdefghij\xff", b"abcdefghij\xc3"] {
            let mut t = text.clone();
            t.extend_from_slice(b"\n{\"item\":\"");
            t.extend_from_slice(bad);
            t.extend_from_slice(b"\",\"annotator\":\"a\",\"label\":\"A\"}\n");
            assert!(scanned(&t).1.unwrap().contains("UTF-8"));
            assert_same(&t);
        }
    }

    #[test]
    fn columns_in_parallel_batches_keep_order_and_lines() {
        let mut text = String::new();
        for i in 0..120_000 {
            match i % 9973 {
                5 => text.push('\n'),
                7 => text.push_str("{\"item\":\"q\\u0031\",\"annotator\":\"x\",\"label\":\"A\"}\n"),
                11 => text.push_str(
                    "{\"item\":\"q\",\"annotator\":\"y\",\"label\":1.5,\"model\":\"m\"}\n",
                ),
                _ => text.push_str(&format!(
                    "{{\"item\":\"i{}\",\"annotator\":\"ann{}\",\"label\":{}}}\n",
                    (i * 7919) % 50_000,
                    i % 3,
                    i % 5
                )),
            }
        }
        assert!(text.len() > 4 << 20);
        assert!(assert_same(text.as_bytes()) > 119_000);
        let mut bad = text.clone();
        bad.push_str("{\"item\":\"q\"}\n");
        bad.push_str(&text);
        assert_same(bad.as_bytes());
    }

    #[test]
    fn many_annotators_and_values_in_turns() {
        // Item by item, 40 annotators in turns, 30 category values and 25 numbers, optional
        // fields only late: more than the few that each part looks up once.
        let mut text = String::new();
        for i in 0..20_000 {
            let value = match i % 7 {
                0 => format!("\"c{}\"", i % 30),
                1 => "null".to_string(),
                2 => "true".to_string(),
                _ => format!("{}", i % 25),
            };
            let extra = if i > 15_000 && i % 11 == 0 {
                format!(
                    ",\"round\":\"r{}\",\"time\":\"2024-05-0{}T00:00:00Z\"",
                    i % 3,
                    1 + i % 5
                )
            } else {
                String::new()
            };
            text.push_str(&format!(
                "{{\"item\":\"i{}\",\"annotator\":\"a{}\",\"label\":{value}{extra}}}\n",
                i / 40,
                i % 40
            ));
        }
        assert_eq!(assert_same(text.as_bytes()), 20_000);
    }

    #[test]
    fn lines_longer_than_a_batch() {
        let long = "x".repeat(9 << 20);
        let text = format!(
            "{{\"item\":\"a\",\"annotator\":\"x\",\"label\":1}}\n{{\"item\":\"b\",\"annotator\":\"x\",\"label\":2,\"note\":\"{long}\"}}\n{{\"item\":\"{long}\",\"annotator\":\"y\",\"label\":3}}"
        );
        assert_eq!(assert_same(text.as_bytes()), 3);
        let (c, _) = scanned(text.as_bytes());
        assert_eq!(c.items.get(c.item[2]).len(), 9 << 20);
    }

    #[test]
    fn locations_follow_anchors() {
        let (c, _) = scanned(b"\n{\"item\":\"a\",\"annotator\":\"x\",\"label\":1}\n\n{\"item\":\"b\",\"annotator\":\"x\",\"label\":1}\n");
        assert_eq!(c.location(0).unwrap().to_string(), "l:2");
        assert_eq!(c.location(1).unwrap().to_string(), "l:4");
        assert_eq!(c.location(1).unwrap().record, 2);
        assert!(LabelColumns::default().location(0).is_none());
    }

    #[test]
    fn interner_survives_hash_collisions() {
        let mut i = Interner::default();
        assert_eq!(i.intern_hashed(7, "a"), 0);
        assert_eq!(i.intern_hashed(7, "b"), 1);
        assert_eq!(i.intern_hashed(7, "a"), 0);
        assert_eq!(i.intern_hashed(7, "b"), 1);
        assert_eq!(i.intern("c"), 2);
        // Near ids are checked, never trusted.
        assert_eq!(i.intern_near(0, b"b"), 1);
        assert_eq!(i.intern_near(2, b""), 3);
        assert_eq!(i.intern_near(NONE, b"a"), 0);
        assert_eq!(i.intern_near(0, b"c"), 2);
        assert_eq!(
            (i.get(0), i.get(1), i.get(2), i.get(9)),
            ("a", "b", "c", "")
        );
    }
}
