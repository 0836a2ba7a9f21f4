//! `gavel dataset check`: verifies a built dataset directory.
//!
//! - Every target is read back with its template's parser ([`VerdictReader`]) and must give
//!   the example's `label` (and `scores`, for score conventions).
//! - Every prompt must show `response_a` before `response_b`, so that the label's frame is the
//!   prompt's.
//! - No item and no instruction (normalised, with its input) may be in two splits; human
//!   examples must be in `test`; example ids must be unique.
//! - Near-duplicate instructions across splits (MinHash at the build's threshold) are listed
//!   for review; they fail the check only with `strict`, since MinHash is probabilistic and a
//!   pair just over the threshold can be missed by the builder and seen by the checker.
//! - The label balance of every split is reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use gavel_core::RecordReader;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ExampleFormat, Split};
use crate::convention::{Choice, Convention, VerdictReader};
use crate::dedup::{Claim, InstructionIndex, fingerprint};
use crate::error::DatasetError;
use crate::example::Written;
use crate::hash::StableHasher;
use crate::jsonl::Batches;
use crate::manifest::Manifest;
use crate::report::LabelCounts;
use crate::text::{normalize, task_text};

/// How many problems of each kind are listed in full.
const LISTED: usize = 20;

/// One split's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitCheck {
    /// The file read.
    pub file: String,
    /// Examples.
    pub examples: u64,
    /// Distinct items.
    pub items: u64,
    /// Distinct instructions.
    pub instructions: u64,
    /// Examples from human labels.
    pub human_examples: u64,
    /// Labels.
    pub labels: LabelCounts,
    /// Examples per template.
    pub templates: BTreeMap<String, u64>,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The kind (`unparseable_target`, `label_mismatch`, `item_leak`...).
    pub kind: String,
    /// Where: `train.jsonl:12`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// Counts of each kind of problem.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProblemCounts {
    /// Targets the parser cannot read.
    pub unparseable_target: u64,
    /// Targets whose verdict differs from the example's label or scores.
    pub label_mismatch: u64,
    /// Examples whose template is unknown.
    pub unknown_template: u64,
    /// Examples lacking a field the check needs.
    pub missing_field: u64,
    /// Prompts that do not show `response_a` before `response_b`.
    pub response_order: u64,
    /// Items in more than one split.
    pub item_leak: u64,
    /// Instructions in more than one split.
    pub instruction_leak: u64,
    /// Human examples outside `test`.
    pub human_outside_test: u64,
    /// Example ids used twice.
    pub duplicate_id: u64,
    /// Near-duplicate instructions in different splits (a problem only with `strict`).
    pub near_duplicate_leak: u64,
}

impl ProblemCounts {
    fn failing(&self, strict: bool) -> u64 {
        self.unparseable_target
            + self.label_mismatch
            + self.unknown_template
            + self.missing_field
            + self.response_order
            + self.item_leak
            + self.instruction_leak
            + self.human_outside_test
            + self.duplicate_id
            + if strict { self.near_duplicate_leak } else { 0 }
    }
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The directory.
    pub dir: String,
    /// The example layout.
    pub format: ExampleFormat,
    /// Whether near-duplicate leaks fail the check.
    pub strict: bool,
    /// The near-duplicate threshold used.
    pub near_threshold: Option<f64>,
    /// Targets read back.
    pub targets_checked: u64,
    /// Per split.
    pub splits: BTreeMap<String, SplitCheck>,
    /// Counts of problems.
    pub problems: ProblemCounts,
    /// The first problems of each kind.
    pub listed: Vec<Problem>,
    /// Whether the dataset passes.
    pub ok: bool,
}

impl CheckReport {
    /// Whether the dataset passes.
    pub fn ok(&self) -> bool {
        self.ok
    }
}

/// Checks a dataset directory (near-duplicate leaks reported, not failing).
pub fn check(dir: &Path, reader: &dyn VerdictReader) -> Result<CheckReport, DatasetError> {
    check_with(dir, reader, false)
}

/// Checks a dataset directory; with `strict`, near-duplicate leaks fail too.
pub fn check_with(
    dir: &Path,
    reader: &dyn VerdictReader,
    strict: bool,
) -> Result<CheckReport, DatasetError> {
    let manifest = Manifest::read(dir)?;
    let near = manifest.near_threshold;
    let mut st = CheckState {
        manifest: &manifest,
        reader,
        problems: ProblemCounts::default(),
        listed: HashMap::new(),
        listed_order: Vec::new(),
        ids: HashSet::new(),
        item_splits: HashMap::new(),
        instruction_splits: HashMap::new(),
        index: InstructionIndex::new(near),
        near_pairs: HashSet::new(),
        checked: 0,
    };
    let mut splits = BTreeMap::new();
    for split in Split::ALL {
        let files = manifest.splits.get(split.as_str());
        let jsonl = files.map_or(format!("{}.jsonl", split.as_str()), |f| f.jsonl.clone());
        let path = dir.join(&jsonl);
        let sc = if path.exists() {
            st.split_file(split, &path, &jsonl)?
        } else {
            match files.and_then(|f| f.parquet.clone()) {
                Some(pq) if dir.join(&pq).exists() => {
                    st.split_parquet(split, &dir.join(&pq), &pq)?
                }
                _ => {
                    return Err(DatasetError::NotADataset {
                        path,
                        message: "the split file is missing".into(),
                    });
                }
            }
        };
        splits.insert(split.as_str().to_string(), sc);
    }
    let mut listed = Vec::new();
    for kind in &st.listed_order {
        listed.extend(st.listed.remove(kind).unwrap_or_default());
    }
    let ok = st.problems.failing(strict) == 0;
    Ok(CheckReport {
        dir: dir.display().to_string(),
        format: manifest.format,
        strict,
        near_threshold: near,
        targets_checked: st.checked,
        splits,
        problems: st.problems,
        listed,
        ok,
    })
}

struct CheckState<'a> {
    manifest: &'a Manifest,
    reader: &'a dyn VerdictReader,
    problems: ProblemCounts,
    listed: HashMap<String, Vec<Problem>>,
    listed_order: Vec<String>,
    ids: HashSet<u64>,
    item_splits: HashMap<u64, u8>,
    instruction_splits: HashMap<u64, u8>,
    index: InstructionIndex,
    near_pairs: HashSet<(u32, u64)>,
    checked: u64,
}

/// What one example needs checked, computed in parallel.
struct Row {
    location: String,
    written: Written,
    /// Problems found in the row alone: (kind, message).
    own: Vec<(&'static str, String)>,
    normalized: Option<String>,
}

fn h(s: &str) -> u64 {
    let mut x = StableHasher::new(0x0063_686b); // "chk"
    x.field(s);
    x.finish()
}

impl CheckState<'_> {
    fn problem(&mut self, kind: &'static str, location: &str, message: String) {
        let list = self.listed.entry(kind.to_string()).or_insert_with(|| {
            self.listed_order.push(kind.to_string());
            Vec::new()
        });
        if list.len() < LISTED {
            list.push(Problem {
                kind: kind.to_string(),
                location: location.to_string(),
                message,
            });
        }
        let p = &mut self.problems;
        *match kind {
            "unparseable_target" => &mut p.unparseable_target,
            "label_mismatch" => &mut p.label_mismatch,
            "unknown_template" => &mut p.unknown_template,
            "missing_field" => &mut p.missing_field,
            "response_order" => &mut p.response_order,
            "item_leak" => &mut p.item_leak,
            "instruction_leak" => &mut p.instruction_leak,
            "human_outside_test" => &mut p.human_outside_test,
            "duplicate_id" => &mut p.duplicate_id,
            _ => &mut p.near_duplicate_leak,
        } += 1;
    }

    fn split_file(
        &mut self,
        split: Split,
        path: &Path,
        name: &str,
    ) -> Result<SplitCheck, DatasetError> {
        let file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let mut batches = Batches::new(BufReader::with_capacity(1 << 20, file), 4 << 20);
        let mut sc = SplitCheck {
            file: name.to_string(),
            ..SplitCheck::default()
        };
        let mut items = HashSet::new();
        let mut instructions = HashSet::new();
        while let Some(batch) = batches
            .next_batch()
            .map_err(|e| DatasetError::io(path, e))?
        {
            let this: &CheckState<'_> = self;
            let rows: Vec<Row> = batch
                .lines()
                .par_iter()
                .map(|l| {
                    let location = format!("{name}:{}", l.number);
                    match serde_json::from_slice::<Map<String, Value>>(batch.bytes(l)) {
                        Ok(fields) => this.row(location, &fields),
                        Err(e) => Row {
                            location,
                            written: Written::from_fields(this.manifest.format, &Map::new()),
                            own: vec![("missing_field", format!("not a JSON object: {e}"))],
                            normalized: None,
                        },
                    }
                })
                .collect();
            for row in rows {
                self.account(split, row, &mut sc, &mut items, &mut instructions);
            }
        }
        sc.items = items.len() as u64;
        sc.instructions = instructions.len() as u64;
        Ok(sc)
    }

    fn split_parquet(
        &mut self,
        split: Split,
        path: &Path,
        name: &str,
    ) -> Result<SplitCheck, DatasetError> {
        let mut sc = SplitCheck {
            file: name.to_string(),
            ..SplitCheck::default()
        };
        let mut items = HashSet::new();
        let mut instructions = HashSet::new();
        for raw in RecordReader::open(path)? {
            let raw = raw?;
            let location = raw.location.to_string();
            let row = self.row(location, &raw.fields);
            self.account(split, row, &mut sc, &mut items, &mut instructions);
        }
        sc.items = items.len() as u64;
        sc.instructions = instructions.len() as u64;
        Ok(sc)
    }

    /// The checks of one example on its own.
    fn row(&self, location: String, fields: &Map<String, Value>) -> Row {
        let w = Written::from_fields(self.manifest.format, fields);
        let mut own: Vec<(&'static str, String)> = Vec::new();
        let convention: Option<Convention> = w.template.as_deref().and_then(|t| {
            self.manifest
                .convention(t)
                .or_else(|| crate::template::resolve(t).ok().map(|f| f.convention()))
        });
        match (&w.target, &w.label, convention) {
            (None, _, _) => own.push(("missing_field", "no target (answer turn)".into())),
            (_, None, _) => own.push(("missing_field", "no `label`".into())),
            (_, _, None) => own.push((
                "unknown_template",
                format!("template {:?} is not in the manifest", w.template),
            )),
            (Some(target), Some(label), Some(c)) => match self.reader.read(c, target) {
                Err(e) => own.push(("unparseable_target", format!("{c}: {e}"))),
                Ok(reading) => {
                    let want = Choice::parse(label);
                    if want != Some(reading.choice) {
                        own.push((
                            "label_mismatch",
                            format!(
                                "the target says {} but the label is {label}",
                                reading.choice
                            ),
                        ));
                    } else if c == Convention::TwoScores && reading.scores != w.scores {
                        own.push((
                            "label_mismatch",
                            format!(
                                "the target's scores {:?} differ from `scores` {:?}",
                                reading.scores, w.scores
                            ),
                        ));
                    }
                }
            },
        }
        if let (Some(prompt), Some((a, b))) = (&w.prompt, &w.responses)
            && !a.is_empty()
            && !b.is_empty()
            && !a.contains(b.as_str())
            && !b.contains(a.as_str())
        {
            match (prompt.find(a.as_str()), prompt.rfind(b.as_str())) {
                (Some(x), Some(y)) if x < y => {}
                _ => own.push((
                    "response_order",
                    "the prompt does not show response_a before response_b".into(),
                )),
            }
        }
        if w.item.is_none() || w.id.is_none() || w.instruction.is_none() {
            own.push((
                "missing_field",
                "`id`, `item` or the instruction is missing".into(),
            ));
        }
        let normalized = w
            .instruction
            .as_deref()
            .map(|i| normalize(&task_text(i, w.input.as_deref())));
        Row {
            location,
            written: w,
            own,
            normalized,
        }
    }

    /// The checks across examples, in file order.
    fn account(
        &mut self,
        split: Split,
        row: Row,
        sc: &mut SplitCheck,
        items: &mut HashSet<u64>,
        instructions: &mut HashSet<u64>,
    ) {
        self.checked += 1;
        sc.examples += 1;
        let bit = 1u8 << split.index();
        for (kind, message) in row.own {
            self.problem(kind, &row.location, message);
        }
        let w = row.written;
        if let Some(c) = w.label.as_deref().and_then(Choice::parse) {
            sc.labels.add(c);
        }
        if let Some(t) = &w.template {
            *sc.templates.entry(t.clone()).or_default() += 1;
        }
        if w.source.as_deref() == Some("human") {
            sc.human_examples += 1;
            if split != Split::Test {
                self.problem(
                    "human_outside_test",
                    &row.location,
                    format!("a human example in {}", split.as_str()),
                );
            }
        }
        if let Some(id) = &w.id
            && !self.ids.insert(h(id))
        {
            self.problem(
                "duplicate_id",
                &row.location,
                format!("id {id:?} is used twice"),
            );
        }
        if let Some(item) = &w.item {
            let k = h(item);
            items.insert(k);
            let mask = *self.item_splits.get(&k).unwrap_or(&0);
            self.item_splits.insert(k, mask | bit);
            if mask & !bit != 0 && mask & bit == 0 {
                let other = splits_of(mask);
                self.problem(
                    "item_leak",
                    &row.location,
                    format!("item {item:?} is also in {other}"),
                );
            }
        }
        if let Some(norm) = row.normalized {
            let fp_exact = fingerprint(&norm, false).exact;
            instructions.insert(fp_exact);
            let mask = *self.instruction_splits.get(&fp_exact).unwrap_or(&0);
            self.instruction_splits.insert(fp_exact, mask | bit);
            let first_here = mask & bit == 0;
            if mask & !bit != 0 && first_here {
                let other = splits_of(mask);
                self.problem(
                    "instruction_leak",
                    &row.location,
                    format!(
                        "instruction {:?} is also in {other}",
                        w.instruction
                            .as_deref()
                            .unwrap_or("")
                            .chars()
                            .take(80)
                            .collect::<String>()
                    ),
                );
            }
            if first_here {
                let fp = fingerprint(&norm, true);
                // One claim per instruction and split: exact repeats are reported above.
                let key = fp_exact
                    .wrapping_add((split.index() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                if let Claim::Near(g, sim) = self.index.claim(key, &fp, split as u8) {
                    let other = self.index.group(g).tag;
                    if other != split as u8 && self.near_pairs.insert((g, fp_exact)) {
                        self.problem(
                            "near_duplicate_leak",
                            &row.location,
                            format!(
                                "instruction is a near duplicate (Jaccard ~{sim:.2}) of one in {}",
                                Split::ALL
                                    .get(usize::from(other))
                                    .map_or("?", |s| s.as_str())
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn splits_of(mask: u8) -> String {
    Split::ALL
        .iter()
        .filter(|s| mask & (1 << s.index()) != 0)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
