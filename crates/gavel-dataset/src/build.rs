//! `gavel dataset build`: teacher judgments in, a filtered, de-biased, leak-free training set
//! out.
//!
//! # The pipeline
//!
//! 1. The items file is indexed ([`ItemStore`]); human labels (if any) are read whole (they are
//!    small), their pairs decided by majority, and their items claimed for the test split
//!    first, so that no teacher example can reuse their instructions.
//! 2. First pass over the judgments (skipped on stdin): the votes of every pair, so that
//!    several records of one pair (several teachers or runs) can be compared before any is
//!    written.
//! 3. Second pass, in batches of lines: parse and screen every record in parallel (record
//!    filters), fetch and fingerprint its item in parallel, then decide in file order (item
//!    checks, pair agreement, test reservation, duplicates, split), then render and serialise
//!    the examples in parallel (template, swap, rationale rewriting, reference drop, length
//!    limits), then write them in file order.
//! 4. Label balancing of train and validation by selection sampling over the written files
//!    (exact counts, one pass, constant memory), then Parquet, the manifest and the card.
//!
//! Every random choice is a hash of the seed and the example's keys ([`crate::hash`]): the
//! dataset depends on the inputs, the settings and the seed, never on thread timing. Memory is
//! bounded by the indexes (items: ~40 bytes each; instructions: ~0.5 KB each; pairs: ~20 bytes
//! each), not by the number of judgments.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gavel_core::{
    AtomicFile, Content, Format, Item, Judgment, Label, LabelValue, ReadError, RecordReader,
    RecordWriter,
};
use rayon::prelude::*;
use serde_json::json;

use crate::config::{BuildConfig, DuplicatePolicy, InconsistentPolicy, Split, SwapPolicy};
use crate::convention::Choice;
use crate::dedup::{Claim, Fingerprint, InstructionIndex, fingerprint};
use crate::error::DatasetError;
use crate::example::Example;
use crate::hash::{SplitMix64, StableHasher, keyed, unit};
use crate::items::ItemStore;
use crate::jsonl::{Batch, Batches};
use crate::remap::remap;
use crate::report::{
    BuildReport, DropReason, FilterCount, HumanReport, InputInfo, LabelCounts, SplitReport,
    TemplateUse,
};
use crate::teacher::{Order, RawLabel, TeacherRecord, parse_line};
use crate::template::{PromptInput, ReferenceUse as TemplateReference, TemplateMix};
use crate::text::{normalize, task_text};
use crate::tokens::{PER_MESSAGE, TokenCounter, count_messages};

/// Progress of a build, for the caller's progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A phase starts; `total` is its length in bytes of input, when known.
    Phase {
        /// What it does.
        name: &'a str,
        /// Its length in bytes, when known.
        total: Option<u64>,
    },
    /// Bytes of input done in the current phase.
    Advance(u64),
}

/// The manifest's file name.
pub const MANIFEST: &str = "dataset.json";
/// The card's file name.
pub const CARD: &str = "README.md";

const BATCH_BYTES: usize = 4 << 20;
const TAG_HUMAN: u8 = 3;

/// Builds a dataset (see the module documentation).
pub fn build(
    config: &BuildConfig,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<BuildReport, DatasetError> {
    config.validate()?;
    let mix = resolve_templates(&config.templates)?;
    let counter = crate::tokens::counter(config.tokenizer.as_deref())?;
    std::fs::create_dir_all(&config.out).map_err(|e| DatasetError::io(&config.out, e))?;

    progress(Progress::Phase {
        name: "indexing items",
        total: None,
    });
    let items = ItemStore::open(&config.items)?;
    let mut report = BuildReport {
        balance: config.balance.describe(),
        ..BuildReport::default()
    };
    report.inputs.push(InputInfo {
        role: "items".into(),
        path: config.items.display().to_string(),
        records: items.len() as u64,
    });

    let near = (config.filters.near_duplicates != DuplicatePolicy::Off)
        .then_some(config.filters.near_threshold);
    let mut state = State {
        config,
        mix,
        counter,
        items,
        index: InstructionIndex::new(near),
        human_items: HashSet::new(),
        units: HashMap::new(),
        sinks: Split::ALL
            .iter()
            .map(|&s| {
                Sink::new(
                    &config.out,
                    s,
                    config.balance.shares().is_some() && s != Split::Test,
                )
            })
            .collect::<Result<_, _>>()?,
        drops: [0; DropReason::ALL.len()],
        drop_examples: [0; DropReason::ALL.len()],
        dropped: match &config.dropped {
            Some(p) => Some(RecordWriter::create(p)?),
            None => None,
        },
        template_counts: vec![0; config.templates.len()],
        report,
        prompt_tokens: 0,
        target_tokens: 0,
    };

    if !config.human.is_empty() {
        progress(Progress::Phase {
            name: "human test set",
            total: None,
        });
        state.human_test_set()?;
    }

    let agreement = config.filters.teacher_agreement
        && !config.judgments.is_empty()
        && config.judgments.iter().all(|p| p.as_os_str() != "-");
    state.report.teacher_agreement_checked = agreement;
    if agreement {
        for path in &config.judgments {
            progress(Progress::Phase {
                name: "pass 1/2: pair votes",
                total: file_len(path),
            });
            state.count_votes(path, progress)?;
        }
    }
    for path in &config.judgments {
        progress(Progress::Phase {
            name: if agreement {
                "pass 2/2: examples"
            } else {
                "examples"
            },
            total: file_len(path),
        });
        let records = state.teacher_file(path, progress)?;
        state.report.inputs.push(InputInfo {
            role: "judgments".into(),
            path: path.display().to_string(),
            records,
        });
    }

    progress(Progress::Phase {
        name: "writing",
        total: None,
    });
    let mix = state.mix.clone();
    let report = state.finish()?;
    if config.parquet {
        write_parquet(config)?;
    }
    crate::manifest::Manifest::new(config, &mix, &report).write(&config.out)?;
    crate::card::write(&config.out, &crate::card::render(config, &report))?;
    Ok(report)
}

#[cfg(feature = "parquet")]
fn write_parquet(config: &BuildConfig) -> Result<(), DatasetError> {
    for split in Split::ALL {
        let name = split.as_str();
        crate::parquet::convert(
            &config.out.join(format!("{name}.jsonl")),
            &config.out.join(format!("{name}.parquet")),
            config.format,
        )?;
    }
    Ok(())
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(_: &BuildConfig) -> Result<(), DatasetError> {
    Err(DatasetError::Config(
        "Parquet output needs gavel built with the `parquet` feature".into(),
    ))
}

fn file_len(path: &Path) -> Option<u64> {
    (path.as_os_str() != "-")
        .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
        .flatten()
}

/// Resolves `--templates` into the built-in formats.
pub fn resolve_templates(names: &[(String, f64)]) -> Result<TemplateMix, DatasetError> {
    let mut entries = Vec::new();
    for (name, w) in names {
        let t = crate::template::resolve(name).map_err(DatasetError::Config)?;
        entries.push((t, *w));
    }
    Ok(TemplateMix::new(entries))
}

/// An item ready for the decisions: fingerprinted, with its split draw.
struct Prepared {
    item: Arc<Item>,
    hash: u64,
    fp: Fingerprint,
    split: Split,
}

/// A record that passed the record filters.
struct Screened {
    choice: Choice,
    use_rationale: bool,
}

/// A record decided to be written.
struct Decided {
    index: usize,
    prepared: Arc<Prepared>,
    model_a: String,
    model_b: String,
    choice: Choice,
    use_rationale: bool,
    split: Split,
}

/// One rendered example, or why it was dropped.
struct Rendered {
    order: Order,
    result: Result<RenderedOk, DropReason>,
}

struct RenderedOk {
    line: Vec<u8>,
    label: Choice,
    template: usize,
    reference: ReferenceUse,
    mentions: usize,
    prompt_tokens: usize,
    target_tokens: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReferenceUse {
    /// The item has none.
    None,
    Shown,
    Dropped,
    /// Kept, but the template does not show references.
    Unused,
}

#[derive(Debug, Clone, Copy, Default)]
struct UnitVotes {
    votes: [u16; 3],
    emitted: bool,
}

struct State<'a> {
    config: &'a BuildConfig,
    mix: TemplateMix,
    counter: Box<dyn TokenCounter>,
    items: ItemStore,
    index: InstructionIndex,
    human_items: HashSet<u64>,
    units: HashMap<u64, UnitVotes>,
    sinks: Vec<Sink>,
    drops: [u64; DropReason::ALL.len()],
    drop_examples: [u64; DropReason::ALL.len()],
    dropped: Option<RecordWriter>,
    template_counts: Vec<u64>,
    report: BuildReport,
    prompt_tokens: u64,
    target_tokens: u64,
}

fn reason_index(r: DropReason) -> usize {
    DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

/// The record filters: everything that can be decided from the record alone.
fn screen(r: &TeacherRecord, config: &BuildConfig) -> Result<Screened, DropReason> {
    let f = &config.filters;
    if r.mode.as_deref().is_some_and(|m| m != "pairwise") {
        return Err(DropReason::NotPairwise);
    }
    if let RawLabel::Other(s) = &r.label
        && r.model_a.is_none()
        && s.parse::<f64>().is_ok()
    {
        return Err(DropReason::NotPairwise);
    }
    if f.drop_truncated && r.is_truncated() {
        return Err(DropReason::Truncated);
    }
    let mut choice = r.choice().ok_or(DropReason::Unparseable)?;
    let mut use_rationale = true;
    if r.is_position_inconsistent() {
        match f.inconsistent {
            InconsistentPolicy::Drop => return Err(DropReason::PositionInconsistent),
            InconsistentPolicy::Tie => {
                choice = Choice::Tie;
                use_rationale = false;
            }
            InconsistentPolicy::Keep => {}
        }
    }
    if r.sample_agreement()
        .is_some_and(|a| a + 1e-12 < f.min_sample_agreement)
    {
        return Err(DropReason::SampleDisagreement);
    }
    if f.require_rationale && r.rationale.is_none() {
        return Err(DropReason::NoRationale);
    }
    Ok(Screened {
        choice,
        use_rationale,
    })
}

/// The key of a pair regardless of order, and whether the given order is the reverse of the
/// key's.
fn unit_key(item: &str, a: Option<&str>, b: Option<&str>) -> (u64, bool) {
    let (a, b) = (a.unwrap_or(""), b.unwrap_or(""));
    let flipped = a > b;
    let (x, y) = if flipped { (b, a) } else { (a, b) };
    let mut h = StableHasher::new(0x756e_6974); // "unit"
    h.field(item).field(x).field(y);
    (h.finish(), flipped)
}

fn item_hash(id: &str) -> u64 {
    let mut h = StableHasher::new(0x6964); // "id"
    h.field(id);
    h.finish()
}

fn text_of(c: &Content) -> Option<&str> {
    match c {
        Content::Text(t) => Some(t),
        Content::Turns(t) if t.len() == 1 => Some(&t[0]),
        Content::Turns(_) => None,
    }
}

/// A batch of parsed records with their line numbers.
type Parsed = Vec<(u64, Result<TeacherRecord, ReadError>)>;

enum RawBatch {
    Jsonl(Batch),
    Parsed(Parsed),
}

impl RawBatch {
    fn bytes(&self) -> u64 {
        match self {
            RawBatch::Jsonl(b) => b.lines().iter().map(|l| b.bytes(l).len() as u64 + 1).sum(),
            RawBatch::Parsed(p) => p.len() as u64,
        }
    }

    fn parse(self, source: &str) -> Parsed {
        match self {
            RawBatch::Parsed(p) => p,
            RawBatch::Jsonl(b) => b
                .lines()
                .par_iter()
                .map(|l| (l.number, parse_line(b.bytes(l), source, l.number)))
                .collect(),
        }
    }
}

/// Reads a judgments file in batches on a thread of its own and hands each to `each`.
fn for_each_batch(
    path: &Path,
    mut each: impl FnMut(RawBatch) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let format = Format::from_path(path).ok_or_else(|| ReadError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RawBatch, DatasetError>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let send = |b| tx.send(b).is_ok();
            if format == Format::Jsonl {
                let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                    Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
                } else {
                    match File::open(path) {
                        Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
                        Err(e) => {
                            send(Err(DatasetError::Read(ReadError::Io {
                                path: path.to_path_buf(),
                                source: e,
                            })));
                            return;
                        }
                    }
                };
                let mut batches = Batches::new(reader, BATCH_BYTES);
                loop {
                    match batches.next_batch() {
                        Ok(Some(b)) => {
                            if !send(Ok(RawBatch::Jsonl(b))) {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            send(Err(DatasetError::Read(ReadError::Io {
                                path: path.to_path_buf(),
                                source: e,
                            })));
                            return;
                        }
                    }
                }
            }
            let reader = match RecordReader::open_as(path, format) {
                Ok(r) => r,
                Err(e) => {
                    send(Err(e.into()));
                    return;
                }
            };
            let mut chunk: Parsed = Vec::new();
            for j in reader.typed::<Judgment>() {
                let entry = match j {
                    Ok(j) => (0, Ok(TeacherRecord::from_judgment(j))),
                    Err(e) => {
                        let line = e
                            .location()
                            .map(|l| l.line.unwrap_or(l.record))
                            .unwrap_or(0);
                        (line, Err(e))
                    }
                };
                chunk.push(entry);
                if chunk.len() >= 4096 && !send(Ok(RawBatch::Parsed(std::mem::take(&mut chunk)))) {
                    return;
                }
            }
            if !chunk.is_empty() {
                send(Ok(RawBatch::Parsed(chunk)));
            }
        });
        for batch in rx {
            each(batch?)?;
        }
        Ok(())
    })
}

impl State<'_> {
    fn drop_record(&mut self, reason: DropReason, r: &TeacherRecord, source: &str, line: u64) {
        self.drops[reason_index(reason)] += 1;
        self.write_dropped(reason, r, source, line, None);
    }

    fn write_dropped(
        &mut self,
        reason: DropReason,
        r: &TeacherRecord,
        source: &str,
        line: u64,
        order: Option<Order>,
    ) {
        if let Some(w) = self.dropped.as_mut() {
            let mut row = json!({
                "source": source,
                "line": line,
                "item": r.item,
                "annotator": r.annotator,
                "model_a": r.model_a,
                "model_b": r.model_b,
                "reason": reason.id(),
            });
            if let Some(o) = order {
                row["order"] = json!(o.as_str());
            }
            // A failed write shows up when the writer is finished.
            let _ = w.write(&row);
        }
    }

    /// The first pass: each pair's votes from the records that pass the record filters.
    fn count_votes(
        &mut self,
        path: &Path,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<(), DatasetError> {
        let source = path.display().to_string();
        let config = self.config;
        let units = &mut self.units;
        for_each_batch(path, |batch| {
            let bytes = batch.bytes();
            let parsed = batch.parse(&source);
            let keyed: Vec<Result<Option<(u64, Choice)>, ReadError>> = parsed
                .into_par_iter()
                .map(|(_, r)| {
                    let r = r?;
                    Ok(screen(&r, config).ok().map(|s| {
                        let (k, flipped) =
                            unit_key(&r.item, r.model_a.as_deref(), r.model_b.as_deref());
                        (
                            k,
                            if flipped {
                                s.choice.swapped()
                            } else {
                                s.choice
                            },
                        )
                    }))
                })
                .collect();
            for k in keyed {
                if let Some((key, choice)) = k? {
                    let v = units.entry(key).or_default();
                    let slot = &mut v.votes[choice.code() as usize];
                    *slot = slot.saturating_add(1);
                }
            }
            progress(Progress::Advance(bytes));
            Ok(())
        })
    }

    /// The second pass over one file; returns the number of records.
    fn teacher_file(
        &mut self,
        path: &Path,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<u64, DatasetError> {
        let source = path.display().to_string();
        let mut records = 0u64;
        let mut previous: HashMap<String, Option<Arc<Prepared>>> = HashMap::new();
        for_each_batch(path, |batch| {
            let bytes = batch.bytes();
            let parsed = batch.parse(&source);
            records += parsed.len() as u64;
            previous = self.teacher_batch(parsed, &source, std::mem::take(&mut previous))?;
            progress(Progress::Advance(bytes));
            Ok(())
        })?;
        self.report.teacher_records += records;
        Ok(records)
    }

    fn teacher_batch(
        &mut self,
        parsed: Parsed,
        source: &str,
        previous: HashMap<String, Option<Arc<Prepared>>>,
    ) -> Result<HashMap<String, Option<Arc<Prepared>>>, DatasetError> {
        let mut batch: Vec<(u64, TeacherRecord)> = Vec::with_capacity(parsed.len());
        for (line, r) in parsed {
            batch.push((line, r?));
        }
        let config = self.config;
        let screened: Vec<Result<Screened, DropReason>> =
            batch.par_iter().map(|(_, r)| screen(r, config)).collect();

        // Fetch the items of this batch (the previous batch's are reused).
        let mut wanted: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for ((_, r), s) in batch.iter().zip(&screened) {
            if s.is_ok() && !previous.contains_key(&r.item) && seen.insert(&r.item) {
                wanted.push(&r.item);
            }
        }
        let fetched: Vec<Result<Option<Arc<Prepared>>, ReadError>> =
            wanted.par_iter().map(|id| self.prepare(id)).collect();
        let mut cache = previous;
        for (id, p) in wanted.iter().zip(fetched) {
            cache.insert((*id).to_string(), p?);
        }

        // Decide in file order.
        let mut decided: Vec<Decided> = Vec::new();
        for (index, ((line, r), s)) in batch.iter().zip(screened).enumerate() {
            match s.and_then(|s| self.decide(index, r, s, &cache)) {
                Ok(d) => decided.push(d),
                Err(reason) => self.drop_record(reason, r, source, *line),
            }
        }

        // Render in parallel, write in order.
        let rendered: Vec<Vec<Rendered>> = decided
            .par_iter()
            .map(|d| self.render_teacher(d, &batch[d.index].1))
            .collect();
        for (d, examples) in decided.iter().zip(rendered) {
            let mut kept = false;
            for e in examples {
                match e.result {
                    Ok(ok) => {
                        self.count_rendered(&ok, Some(e.order));
                        self.sinks[d.split.index()].write(
                            &ok.line,
                            ok.label,
                            d.prepared.hash,
                            d.prepared.fp.exact,
                            false,
                        )?;
                        kept = true;
                    }
                    Err(reason) => {
                        self.drop_examples[reason_index(reason)] += 1;
                        let (line, r) = &batch[d.index];
                        self.write_dropped(reason, r, source, *line, Some(e.order));
                    }
                }
            }
            if kept {
                self.report.teacher_records_kept += 1;
            }
        }
        Ok(cache)
    }

    fn count_rendered(&mut self, ok: &RenderedOk, order: Option<Order>) {
        self.template_counts[ok.template] += 1;
        match order {
            Some(Order::AB) => self.report.swap.original_order += 1,
            Some(Order::BA) => self.report.swap.swapped += 1,
            None => {}
        }
        if ok.mentions > 0 {
            self.report.swap.rationales_rewritten += 1;
            self.report.swap.mentions_rewritten += ok.mentions as u64;
        }
        match ok.reference {
            ReferenceUse::None => {}
            ReferenceUse::Shown => {
                self.report.reference.with_reference += 1;
                self.report.reference.shown += 1;
            }
            ReferenceUse::Dropped => {
                self.report.reference.with_reference += 1;
                self.report.reference.dropped += 1;
            }
            ReferenceUse::Unused => self.report.reference.with_reference += 1,
        }
        self.prompt_tokens += ok.prompt_tokens as u64;
        self.target_tokens += ok.target_tokens as u64;
        let t = &mut self.report.tokens;
        t.prompt_max = t.prompt_max.max(ok.prompt_tokens as u64);
        t.target_max = t.target_max.max(ok.target_tokens as u64);
    }

    /// Reads an item and fingerprints its task.
    fn prepare(&self, id: &str) -> Result<Option<Arc<Prepared>>, ReadError> {
        let Some(item) = self.items.get(id)? else {
            return Ok(None);
        };
        let normalized = normalize(&task_text(&item.instruction, item.input.as_deref()));
        let fp = fingerprint(&normalized, self.index_near());
        let split = self
            .config
            .splits
            .pick(unit(keyed(self.config.seed, "split", &[&normalized])));
        Ok(Some(Arc::new(Prepared {
            hash: item_hash(&item.id),
            item,
            fp,
            split,
        })))
    }

    fn index_near(&self) -> bool {
        self.config.filters.near_duplicates != DuplicatePolicy::Off
    }

    /// The decisions that need the item, the other records and the index, in file order.
    fn decide(
        &mut self,
        index: usize,
        r: &TeacherRecord,
        s: Screened,
        cache: &HashMap<String, Option<Arc<Prepared>>>,
    ) -> Result<Decided, DropReason> {
        let prepared = cache
            .get(&r.item)
            .cloned()
            .flatten()
            .ok_or(DropReason::MissingItem)?;
        let item = &prepared.item;
        if item.is_multi_turn() {
            return Err(DropReason::MultiTurn);
        }
        let (model_a, model_b) = pair_models(r.model_a.as_deref(), r.model_b.as_deref(), item)?;
        for m in [&model_a, &model_b] {
            let c = item.response(m).ok_or(DropReason::MissingResponse)?;
            text_of(c).ok_or(DropReason::MultiTurn)?;
        }

        // Several records of one pair.
        let (key, flipped) = unit_key(&r.item, Some(&model_a), Some(&model_b));
        let canonical = if flipped {
            s.choice.swapped()
        } else {
            s.choice
        };
        let votes = self.units.entry(key).or_default();
        let total: u32 = votes.votes.iter().map(|&v| u32::from(v)).sum();
        if total > 1 {
            let (top, winner) = votes
                .votes
                .iter()
                .enumerate()
                .map(|(i, &v)| (v, i))
                .max()
                .unwrap_or((0, 0));
            let unique = votes.votes.iter().filter(|&&v| v == top).count() == 1;
            let share = f64::from(top) / f64::from(total);
            if !unique || share + 1e-12 < self.config.filters.min_sample_agreement {
                return Err(DropReason::TeacherDisagreement);
            }
            if usize::from(canonical.code()) != winner {
                return Err(DropReason::RepeatedPair);
            }
        }
        if votes.emitted {
            return Err(DropReason::RepeatedPair);
        }

        // The test set and duplicates.
        if self.human_items.contains(&prepared.hash) {
            return Err(DropReason::HumanTestItem);
        }
        let tag = prepared.split as u8;
        let split = match self.index.claim(prepared.hash, &prepared.fp, tag) {
            Claim::New(g) | Claim::Own(g) => self.index.group(g).tag,
            Claim::Exact(g) => {
                let t = self.index.group(g).tag;
                if t == TAG_HUMAN {
                    return Err(DropReason::TestLeak);
                }
                if self.config.filters.duplicates == DuplicatePolicy::Drop {
                    return Err(DropReason::DuplicateInstruction);
                }
                t
            }
            Claim::Near(g, _) => {
                let t = self.index.group(g).tag;
                if t == TAG_HUMAN {
                    return Err(DropReason::TestLeak);
                }
                if self.config.filters.near_duplicates == DuplicatePolicy::Drop {
                    return Err(DropReason::NearDuplicateInstruction);
                }
                t
            }
        };
        let split = Split::ALL
            .get(usize::from(split))
            .copied()
            .ok_or(DropReason::TestLeak)?;
        if let Some(v) = self.units.get_mut(&key) {
            v.emitted = true;
        }
        Ok(Decided {
            index,
            prepared,
            model_a,
            model_b,
            choice: s.choice,
            use_rationale: s.use_rationale,
            split,
        })
    }

    fn render_teacher(&self, d: &Decided, r: &TeacherRecord) -> Vec<Rendered> {
        let seed = self.config.seed;
        let orders: Vec<Order> = match self.config.swap {
            SwapPolicy::Both => vec![Order::AB, Order::BA],
            SwapPolicy::None => vec![Order::AB],
            SwapPolicy::Random => {
                let (k, _) = unit_key(&r.item, Some(&d.model_a), Some(&d.model_b));
                let u = unit(keyed(seed, "swap", &[&k.to_string()]));
                vec![if u < 0.5 { Order::AB } else { Order::BA }]
            }
        };
        let scores = r
            .scores
            .filter(|_| d.choice == r.choice().unwrap_or(d.choice));
        orders
            .into_iter()
            .map(|order| {
                let swap = order == Order::BA;
                let (first, second) = if swap {
                    (&d.model_b, &d.model_a)
                } else {
                    (&d.model_a, &d.model_b)
                };
                let label = if swap { d.choice.swapped() } else { d.choice };
                let scores = scores.map(|(a, b)| if swap { (b, a) } else { (a, b) });
                let rationale = r
                    .rationale
                    .as_deref()
                    .filter(|_| d.use_rationale)
                    .map(|t| (t, order != r.rationale_order));
                Rendered {
                    order,
                    result: self.render(
                        &d.prepared,
                        first,
                        second,
                        label,
                        scores,
                        rationale,
                        order,
                        &r.annotator,
                    ),
                }
            })
            .collect()
    }

    /// Renders and serialises one example.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        p: &Prepared,
        first: &str,
        second: &str,
        label: Choice,
        scores: Option<(f64, f64)>,
        rationale: Option<(&str, bool)>,
        order: Order,
        source: &str,
    ) -> Result<RenderedOk, DropReason> {
        let item = &p.item;
        let seed = self.config.seed;
        let keys = [item.id.as_str(), first, second];
        let item_reference = item.reference.as_ref().and_then(text_of);
        let dropped = item_reference.is_some()
            && unit(keyed(seed, "reference", &keys)) < self.config.reference_drop;
        let u = unit(keyed(seed, "template", &keys));
        let has_reference = item_reference.is_some() && !dropped;
        let (template_index, template) = self
            .mix
            .choose(u, |t| {
                t.accepts(label, scores.is_some(), has_reference, item)
            })
            .ok_or(DropReason::NoTemplate)?;
        let (reference, reference_use) = match item_reference {
            Some(_) if dropped => (None, ReferenceUse::Dropped),
            Some(_) if template.reference() == TemplateReference::None => {
                (None, ReferenceUse::Unused)
            }
            Some(text) => (Some(text), ReferenceUse::Shown),
            None => (None, ReferenceUse::None),
        };
        let content = |m: &str| item.response(m).ok_or(DropReason::MissingResponse);
        let (first_content, second_content) = (content(first)?, content(second)?);
        let response_a = text_of(first_content).ok_or(DropReason::MultiTurn)?;
        let response_b = text_of(second_content).ok_or(DropReason::MultiTurn)?;
        let prompt = template
            .render(&PromptInput {
                item,
                show_reference: reference.is_some(),
                first: (first, first_content),
                second: (second, second_content),
            })
            .map_err(|_| DropReason::NoTemplate)?;
        let rationale = rationale.filter(|_| template.convention().has_rationale());
        let (rationale, mentions) = match rationale {
            Some((text, swap)) => {
                let m = remap(text, template.naming(), swap);
                (Some(m.text), m.changed)
            }
            None => (None, 0),
        };
        let target = template
            .convention()
            .target(label, scores, rationale.as_deref())
            .ok_or(DropReason::NoTemplate)?;
        let prompt_tokens = count_messages(self.counter.as_ref(), &prompt);
        let target_tokens = self.counter.count(&target) + PER_MESSAGE;
        let f = &self.config.filters;
        if f.max_prompt_tokens.is_some_and(|m| prompt_tokens > m)
            || f.max_target_tokens.is_some_and(|m| target_tokens > m)
            || f.max_tokens
                .is_some_and(|m| prompt_tokens + target_tokens > m)
        {
            return Err(DropReason::TooLong);
        }
        let example = Example {
            id: format!("{}:{first}:{second}", item.id),
            item: &item.id,
            instruction: &item.instruction,
            input: item.input.as_deref(),
            reference,
            response_a,
            response_b,
            model_a: first,
            model_b: second,
            label,
            scores,
            order,
            template: template.name(),
            source,
            prompt,
            target,
        };
        let mut line = Vec::with_capacity(4096);
        example.to_line(self.config.format, &mut line);
        Ok(RenderedOk {
            line,
            label,
            template: template_index,
            reference: reference_use,
            mentions,
            prompt_tokens,
            target_tokens,
        })
    }

    /// Reads the human labels, decides each pair by majority, and writes the test split's
    /// human examples; their items are claimed first so that teacher examples cannot reuse
    /// their instructions.
    fn human_test_set(&mut self) -> Result<(), DatasetError> {
        struct Pair {
            item: String,
            model_a: Option<String>,
            model_b: Option<String>,
            votes: [u32; 3],
        }
        let mut human = HumanReport::default();
        let mut pairs: Vec<Pair> = Vec::new();
        let mut by_key: HashMap<u64, usize> = HashMap::new();
        for path in &self.config.human {
            let mut n = 0u64;
            for label in RecordReader::open(path)?.typed::<Label>() {
                let label = label?;
                n += 1;
                let choice = match &label.label {
                    LabelValue::Category(s) => Choice::parse(s),
                    _ => None,
                };
                let Some(choice) = choice else {
                    if !label.label.is_missing() {
                        human.not_pairwise += 1;
                    }
                    continue;
                };
                let (key, flipped) = unit_key(
                    &label.item,
                    label.model_a.as_deref(),
                    label.model_b.as_deref(),
                );
                let at = *by_key.entry(key).or_insert_with(|| {
                    pairs.push(Pair {
                        item: label.item.clone(),
                        model_a: label.model_a.clone(),
                        model_b: label.model_b.clone(),
                        votes: [0; 3],
                    });
                    pairs.len() - 1
                });
                let (_, first_flipped) = unit_key(
                    &pairs[at].item,
                    pairs[at].model_a.as_deref(),
                    pairs[at].model_b.as_deref(),
                );
                let c = if flipped == first_flipped {
                    choice
                } else {
                    choice.swapped()
                };
                pairs[at].votes[c.code() as usize] += 1;
            }
            human.labels += n;
            self.report.inputs.push(InputInfo {
                role: "human".into(),
                path: path.display().to_string(),
                records: n,
            });
        }
        human.pairs = pairs.len() as u64;
        let mut dropped: HashMap<DropReason, u64> = HashMap::new();
        for pair in &pairs {
            let top = pair.votes.iter().copied().max().unwrap_or(0);
            if pair.votes.iter().filter(|&&v| v == top).count() != 1 {
                human.no_majority += 1;
                continue;
            }
            let winner = pair.votes.iter().position(|&v| v == top).unwrap_or(0);
            let Some(choice) = Choice::from_code(winner as u8) else {
                continue;
            };
            match self.human_example(
                &pair.item,
                pair.model_a.as_deref(),
                pair.model_b.as_deref(),
                choice,
            )? {
                Ok(()) => human.examples += 1,
                Err(reason) => *dropped.entry(reason).or_default() += 1,
            }
        }
        let mut dropped: Vec<(DropReason, u64)> = dropped.into_iter().collect();
        dropped.sort();
        human.dropped = dropped
            .into_iter()
            .map(|(r, n)| (r.id().to_string(), n))
            .collect();
        self.report.human = Some(human);
        Ok(())
    }

    fn human_example(
        &mut self,
        id: &str,
        model_a: Option<&str>,
        model_b: Option<&str>,
        choice: Choice,
    ) -> Result<Result<(), DropReason>, DatasetError> {
        let Some(p) = self.prepare(id)? else {
            return Ok(Err(DropReason::MissingItem));
        };
        if p.item.is_multi_turn() {
            return Ok(Err(DropReason::MultiTurn));
        }
        let (a, b) = match pair_models(model_a, model_b, &p.item) {
            Ok(m) => m,
            Err(r) => return Ok(Err(r)),
        };
        if [&a, &b]
            .iter()
            .any(|m| p.item.response(m).and_then(text_of).is_none())
        {
            return Ok(Err(DropReason::MissingResponse));
        }
        self.index.claim(p.hash, &p.fp, TAG_HUMAN);
        self.human_items.insert(p.hash);
        match self.render(&p, &a, &b, choice, None, None, Order::AB, "human") {
            Ok(ok) => {
                self.count_rendered(&ok, None);
                self.sinks[Split::Test.index()]
                    .write(&ok.line, ok.label, p.hash, p.fp.exact, true)?;
                Ok(Ok(()))
            }
            Err(r) => Ok(Err(r)),
        }
    }

    fn finish(mut self) -> Result<BuildReport, DatasetError> {
        let config = self.config;
        let shares = config.balance.shares();
        for sink in std::mem::take(&mut self.sinks) {
            let split = sink.split;
            let seed = keyed(config.seed, "balance", &[split.as_str()]);
            let r = sink.finish(shares, seed)?;
            self.report.splits.insert(split.as_str().to_string(), r);
        }
        if let Some(w) = self.dropped.take() {
            w.finish()?;
        }
        self.report.filters = DropReason::ALL
            .iter()
            .map(|&r| FilterCount {
                reason: r,
                description: r.describe().to_string(),
                setting: setting(config, r),
                records: self.drops[reason_index(r)],
                examples: self.drop_examples[reason_index(r)],
            })
            .collect();
        self.report.swap.policy = config.swap.as_str().to_string();
        self.report.reference.drop_share = config.reference_drop;
        self.report.templates = self
            .mix
            .shares()
            .iter()
            .zip(&self.template_counts)
            .map(|((t, share), &n)| TemplateUse {
                name: t.name().to_string(),
                convention: t.convention().id().to_string(),
                share: *share,
                examples: n,
            })
            .collect();
        let written: u64 = self.template_counts.iter().sum();
        self.report.tokens.counter = self.counter.describe();
        if written > 0 {
            self.report.tokens.prompt_mean = self.prompt_tokens as f64 / written as f64;
            self.report.tokens.target_mean = self.target_tokens as f64 / written as f64;
        }
        self.report.distinct_instructions = self.index.len() as u64;
        Ok(self.report)
    }
}

/// The two models of a pair: the record's, or the item's two responses when the record names
/// none.
fn pair_models(
    a: Option<&str>,
    b: Option<&str>,
    item: &Item,
) -> Result<(String, String), DropReason> {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a.to_string(), b.to_string()),
        (None, None) if item.responses.len() == 2 => {
            (item.responses[0].0.clone(), item.responses[1].0.clone())
        }
        (None, None) => return Err(DropReason::MissingResponse),
        _ => return Err(DropReason::NotPairwise),
    };
    if a == b {
        return Err(DropReason::NotPairwise);
    }
    Ok((a, b))
}

/// The setting behind a filter, for the report.
fn setting(c: &BuildConfig, r: DropReason) -> String {
    let f = &c.filters;
    let tokens = |x: Option<usize>| x.map_or("none".to_string(), |v| v.to_string());
    let policy = |p: DuplicatePolicy| match p {
        DuplicatePolicy::Drop => "drop",
        DuplicatePolicy::Keep => "keep (same split)",
        DuplicatePolicy::Off => "off",
    };
    match r {
        DropReason::Truncated => format!("drop truncated: {}", f.drop_truncated),
        DropReason::PositionInconsistent => format!(
            "inconsistent: {}",
            match f.inconsistent {
                InconsistentPolicy::Drop => "drop",
                InconsistentPolicy::Tie => "tie",
                InconsistentPolicy::Keep => "keep",
            }
        ),
        DropReason::SampleDisagreement => {
            format!("min sample agreement {}", f.min_sample_agreement)
        }
        DropReason::TeacherDisagreement | DropReason::RepeatedPair => format!(
            "teacher agreement: {}, min {}",
            if f.teacher_agreement { "on" } else { "off" },
            f.min_sample_agreement
        ),
        DropReason::NoRationale => format!("require rationale: {}", f.require_rationale),
        DropReason::DuplicateInstruction => policy(f.duplicates).to_string(),
        DropReason::NearDuplicateInstruction => format!(
            "{}, Jaccard >= {}",
            policy(f.near_duplicates),
            f.near_threshold
        ),
        DropReason::TooLong => format!(
            "max tokens {}, prompt {}, target {}",
            tokens(f.max_tokens),
            tokens(f.max_prompt_tokens),
            tokens(f.max_target_tokens)
        ),
        DropReason::HumanTestItem | DropReason::TestLeak => {
            if c.human.is_empty() {
                "no human labels".into()
            } else {
                "human labels given".into()
            }
        }
        _ => "always".into(),
    }
}

/// One split's output: written straight to its file, or staged for balancing.
struct Sink {
    split: Split,
    path: PathBuf,
    out: SinkOut,
    labels: Vec<u8>,
    /// Item and instruction of each staged example, to count what balancing keeps.
    keys: Vec<(u64, u64)>,
    items: HashSet<u64>,
    instructions: HashSet<u64>,
    report: SplitReport,
}

enum SinkOut {
    Direct(AtomicFile),
    Staged(BufWriter<tempfile::NamedTempFile>),
}

impl Sink {
    fn new(dir: &Path, split: Split, staged: bool) -> Result<Sink, DatasetError> {
        let path = dir.join(format!("{}.jsonl", split.as_str()));
        let out = if staged {
            let temp = tempfile::Builder::new()
                .prefix(&format!(".{}.staged.", split.as_str()))
                .tempfile_in(dir)
                .map_err(|e| DatasetError::io(dir, e))?;
            SinkOut::Staged(BufWriter::with_capacity(1 << 20, temp))
        } else {
            SinkOut::Direct(AtomicFile::create(&path)?)
        };
        Ok(Sink {
            split,
            path,
            out,
            labels: Vec::new(),
            keys: Vec::new(),
            items: HashSet::new(),
            instructions: HashSet::new(),
            report: SplitReport::default(),
        })
    }

    fn write(
        &mut self,
        line: &[u8],
        label: Choice,
        item: u64,
        instruction: u64,
        human: bool,
    ) -> Result<(), DatasetError> {
        let r = match &mut self.out {
            SinkOut::Direct(f) => f.write_all(line),
            SinkOut::Staged(w) => {
                self.labels.push(label.code());
                self.keys.push((item, instruction));
                w.write_all(line)
            }
        };
        r.map_err(|e| DatasetError::io(&self.path, e))?;
        self.report.labels_before.add(label);
        if human {
            self.report.human_examples += 1;
        } else {
            self.report.teacher_examples += 1;
        }
        self.items.insert(item);
        self.instructions.insert(instruction);
        Ok(())
    }

    fn finish(mut self, shares: Option<[f64; 3]>, seed: u64) -> Result<SplitReport, DatasetError> {
        self.report.items = self.items.len() as u64;
        self.report.instructions = self.instructions.len() as u64;
        match self.out {
            SinkOut::Direct(f) => {
                f.commit()?;
                self.report.labels = self.report.labels_before;
                self.report.examples = self.report.labels.total();
            }
            SinkOut::Staged(w) => {
                let temp = w
                    .into_inner()
                    .map_err(|e| DatasetError::io(&self.path, e.into_error()))?;
                let keep = balanced_counts(&self.report.labels_before, shares.unwrap_or([1.0; 3]));
                let mut out = AtomicFile::create(&self.path)?;
                let mut reader = BufReader::with_capacity(
                    1 << 20,
                    temp.reopen().map_err(|e| DatasetError::io(&self.path, e))?,
                );
                let mut rng = SplitMix64::new(seed);
                let mut seen = [0u64; 3];
                let mut kept = [0u64; 3];
                let total = [
                    self.report.labels_before.a,
                    self.report.labels_before.b,
                    self.report.labels_before.tie,
                ];
                let mut line = Vec::new();
                let mut labels = LabelCounts::default();
                let (mut items, mut instructions) = (HashSet::new(), HashSet::new());
                for (&code, &(item, instruction)) in self.labels.iter().zip(&self.keys) {
                    line.clear();
                    reader
                        .read_until(b'\n', &mut line)
                        .map_err(|e| DatasetError::io(&self.path, e))?;
                    let c = usize::from(code);
                    // Selection sampling (Knuth, TAOCP vol. 2, Algorithm S): keeps exactly
                    // `keep[c]` of the `total[c]` examples of each label, each subset equally
                    // likely, in one pass.
                    let remaining = total[c] - seen[c];
                    let needed = keep[c] - kept[c];
                    seen[c] += 1;
                    if needed > 0 && (remaining as f64) * rng.next_unit() < needed as f64 {
                        kept[c] += 1;
                        out.write_all(&line)
                            .map_err(|e| DatasetError::io(&self.path, e))?;
                        if let Some(choice) = Choice::from_code(code) {
                            labels.add(choice);
                        }
                        items.insert(item);
                        instructions.insert(instruction);
                    }
                }
                out.commit()?;
                self.report.labels = labels;
                self.report.examples = labels.total();
                self.report.items = items.len() as u64;
                self.report.instructions = instructions.len() as u64;
            }
        }
        Ok(self.report)
    }
}

/// How many examples of each label to keep for target shares: as many in all as the scarcest
/// label allows. A label with a positive share but no examples is left out (the others are
/// balanced among themselves).
pub fn balanced_counts(before: &LabelCounts, shares: [f64; 3]) -> [u64; 3] {
    let n = [before.a, before.b, before.tie];
    let present: Vec<usize> = (0..3).filter(|&i| shares[i] > 0.0 && n[i] > 0).collect();
    let total_share: f64 = present.iter().map(|&i| shares[i]).sum();
    if present.is_empty() || total_share <= 0.0 {
        return [0; 3];
    }
    let capacity = present
        .iter()
        .map(|&i| n[i] as f64 / (shares[i] / total_share))
        .fold(f64::INFINITY, f64::min);
    let mut keep = [0u64; 3];
    for &i in &present {
        keep[i] = ((capacity * shares[i] / total_share) + 1e-9)
            .floor()
            .min(n[i] as f64) as u64;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_counts_follow_the_scarcest_label() {
        let before = LabelCounts {
            a: 100,
            b: 80,
            tie: 20,
        };
        assert_eq!(balanced_counts(&before, [1.0, 1.0, 1.0]), [20, 20, 20]);
        assert_eq!(balanced_counts(&before, [0.4, 0.4, 0.2]), [40, 40, 20]);
        assert_eq!(balanced_counts(&before, [0.5, 0.5, 0.0]), [80, 80, 0]);
        let no_ties = LabelCounts {
            a: 10,
            b: 7,
            tie: 0,
        };
        assert_eq!(balanced_counts(&no_ties, [1.0, 1.0, 1.0]), [7, 7, 0]);
        assert_eq!(
            balanced_counts(&LabelCounts::default(), [1.0; 3]),
            [0, 0, 0]
        );
    }

    #[test]
    fn unit_keys_ignore_order() {
        let (k1, f1) = unit_key("q", Some("x"), Some("y"));
        let (k2, f2) = unit_key("q", Some("y"), Some("x"));
        assert_eq!(k1, k2);
        assert_ne!(f1, f2);
        assert_ne!(unit_key("q2", Some("x"), Some("y")).0, k1);
    }
}
