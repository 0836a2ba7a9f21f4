//! Training examples: from a `gavel dataset build` directory, or from items and labels.
//!
//! A dataset directory holds `train.*` and optionally `validation.*` (JSONL, JSON, CSV or
//! Parquet; `test.*` is never read for training). Each example is read from its flat fields:
//! `item`, `instruction`, `input`, `response_a`, `response_b` (or `response` for one response),
//! `label`, and optionally `model_a`, `model_b`, `mode`, `source`. The `label` speaks of the
//! responses as the example writes them: `A` means `response_a` is better.
//!
//! From items and labels: each label names an item and either a pair (`model_a`, `model_b`)
//! or one `model`; the responses come from the item. Several labels of one unit (the item and
//! the pair, in either order, or the item and the model) are combined by majority vote (the
//! mean for numbers); a unit without a majority is left out and counted.
//!
//! Either way, an example whose label is `null` is left out and counted, and a unit that
//! appears twice (the same item and the same responses, in either order, as swap augmentation
//! writes them) is used once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use gavel_core::{FieldError, Fields, FromRecord, Item, Label, LabelValue, RawRecord};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::objective::Pref;
use crate::rng::Rng;

/// The response(s) of an example.
#[derive(Debug, Clone, PartialEq)]
pub enum Responses {
    /// Two responses to compare.
    Pair(String, String),
    /// One response to grade.
    Single(String),
}

/// What the judge should say.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A pairwise preference, in the frame of the example's responses.
    Pref(Pref),
    /// A number (Likert or other score).
    Number(f64),
    /// A category (pass/fail, yes/no...).
    Category(String),
}

/// One training example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The item (unit of leakage: splits never share an item).
    pub item: String,
    /// The instruction, followed by the input when there is one.
    pub context: String,
    /// The response(s).
    pub responses: Responses,
    /// The label.
    pub target: Target,
}

/// The instruction and its input as one text: the instruction first, so that truncation of a
/// long input keeps it.
pub fn context(instruction: &str, input: Option<&str>) -> String {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => format!("{instruction}\n\n{i}"),
        None => instruction.to_string(),
    }
}

/// Counts of what reading kept and left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataReport {
    /// Records read.
    pub records: u64,
    /// Examples kept.
    pub examples: u64,
    /// Left out: the label was null.
    pub null_label: u64,
    /// Left out: the same unit seen before.
    pub duplicates: u64,
    /// Left out (items and labels): labels without a majority.
    pub no_majority: u64,
    /// Left out (items and labels): the item or the model's response is missing.
    pub missing_response: u64,
    /// Kept examples by label.
    pub labels: BTreeMap<String, u64>,
}

impl DataReport {
    fn count(&mut self, t: &Target) {
        let key = match t {
            Target::Pref(p) => p.as_str().to_string(),
            Target::Number(x) => gavel_core::format_number(*x),
            Target::Category(c) => c.clone(),
        };
        *self.labels.entry(key).or_default() += 1;
        self.examples += 1;
    }
}

/// A flat example as read from a record (before duplicates are dropped).
struct Flat(Option<Example>);

impl FromRecord for Flat {
    fn from_record(record: RawRecord) -> std::result::Result<Flat, FieldError> {
        let mut f = Fields::new(record);
        let item = match f.opt_string("item")? {
            Some(i) => i,
            None => f
                .opt_string("id")?
                .ok_or_else(|| FieldError::missing("item"))?,
        };
        let instruction = f.text("instruction")?;
        let input = f.opt_text("input")?;
        let a = match f.opt_text("response_a")? {
            Some(a) => Some(a),
            None => f.opt_text("response")?,
        };
        let b = f.opt_text("response_b")?;
        let Some(a) = a else {
            return Err(FieldError::new(
                "response_a",
                "is required but missing (a pairwise example has response_a and response_b, \
                 a pointwise one response_a or response)",
            ));
        };
        let text_table = f.is_text_table();
        let label = match f.take_value("label") {
            None => return Err(FieldError::missing("label")),
            Some(v) => LabelValue::from_json(v, text_table)?,
        };
        let responses = match b {
            Some(b) => Responses::Pair(a, b),
            None => Responses::Single(a),
        };
        let target = match (&responses, label) {
            (_, LabelValue::Missing) => return Ok(Flat(None)),
            (Responses::Pair(..), LabelValue::Category(c)) => {
                Target::Pref(Pref::parse(&c).ok_or_else(|| {
                    FieldError::new(
                        "label",
                        format!("`{c}` is not a pairwise label (A, B or tie)"),
                    )
                })?)
            }
            (Responses::Pair(..), LabelValue::Number(x)) => {
                return Err(FieldError::new(
                    "label",
                    format!("{x} is not a pairwise label (A, B or tie)"),
                ));
            }
            (Responses::Single(_), LabelValue::Number(x)) => Target::Number(x),
            (Responses::Single(_), LabelValue::Category(c)) => Target::Category(c),
        };
        Ok(Flat(Some(Example {
            item,
            context: context(&instruction, input.as_deref()),
            responses,
            target,
        })))
    }
}

/// The key under which two examples are the same unit: the item and its responses, in either
/// order.
fn unit_key(e: &Example) -> (String, String, String) {
    match &e.responses {
        Responses::Pair(a, b) if a <= b => (e.item.clone(), a.clone(), b.clone()),
        Responses::Pair(a, b) => (e.item.clone(), b.clone(), a.clone()),
        Responses::Single(r) => (e.item.clone(), r.clone(), String::new()),
    }
}

/// Reads the flat examples of one file.
pub fn read_examples(path: &Path) -> Result<(Vec<Example>, DataReport)> {
    let mut report = DataReport::default();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for flat in gavel_core::RecordReader::open(path)?.typed::<Flat>() {
        report.records += 1;
        let Some(e) = flat?.0 else {
            report.null_label += 1;
            continue;
        };
        if !seen.insert(unit_key(&e)) {
            report.duplicates += 1;
            continue;
        }
        report.count(&e.target);
        out.push(e);
    }
    Ok((out, report))
}

/// The training and (when present) validation files of a dataset directory.
pub fn dataset_files(dir: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let find = |stem: &str| -> Option<PathBuf> {
        ["jsonl", "json", "csv", "parquet"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.is_file())
    };
    if !dir.is_dir() {
        return Err(Error::MissingFile {
            dir: dir.to_path_buf(),
            what: "such directory".into(),
            hint: "give the output directory of `gavel dataset build`, or --items and --labels"
                .into(),
        });
    }
    let train = find("train").ok_or_else(|| Error::MissingFile {
        dir: dir.to_path_buf(),
        what: "train.jsonl (or train.json, .csv, .parquet)".into(),
        hint: "`gavel dataset build` writes one".into(),
    })?;
    Ok((train, find("validation")))
}

/// Builds examples from items and labels (see the module doc).
pub fn from_items_and_labels(items: &Path, labels: &Path) -> Result<(Vec<Example>, DataReport)> {
    let mut report = DataReport::default();
    let mut by_id: HashMap<String, Item> = HashMap::new();
    for item in gavel_core::RecordReader::open(items)?.typed::<Item>() {
        let item = item?;
        by_id.insert(item.id.clone(), item);
    }
    // Unit -> votes, in first-seen order.
    #[derive(Default)]
    struct Votes {
        prefs: Vec<Pref>,
        numbers: Vec<f64>,
        categories: Vec<String>,
    }
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut votes: HashMap<(String, String, String), Votes> = HashMap::new();
    for label in gavel_core::RecordReader::open(labels)?.typed::<Label>() {
        let label = label?;
        report.records += 1;
        if label.label.is_missing() {
            report.null_label += 1;
            continue;
        }
        let (key, swapped) = match (&label.model_a, &label.model_b, &label.model) {
            (Some(a), Some(b), _) if a <= b => ((label.item.clone(), a.clone(), b.clone()), false),
            (Some(a), Some(b), _) => ((label.item.clone(), b.clone(), a.clone()), true),
            (_, _, Some(m)) => ((label.item.clone(), m.clone(), String::new()), false),
            _ => {
                return Err(Error::Data(format!(
                    "{}: the label of item `{}` names no model (a pairwise label needs \
                     model_a and model_b, a pointwise one model)",
                    labels.display(),
                    label.item
                )));
            }
        };
        let v = votes.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Votes::default()
        });
        let pairwise = !key.2.is_empty();
        match (&label.label, pairwise) {
            (LabelValue::Category(c), true) => {
                let p = Pref::parse(c).ok_or_else(|| {
                    Error::Data(format!(
                        "{}: item `{}`: `{c}` is not a pairwise label (A, B or tie)",
                        labels.display(),
                        label.item
                    ))
                })?;
                v.prefs.push(if swapped { p.swapped() } else { p });
            }
            (LabelValue::Number(x), false) => v.numbers.push(*x),
            (LabelValue::Category(c), false) => v.categories.push(c.clone()),
            (other, true) => {
                return Err(Error::Data(format!(
                    "{}: item `{}`: {other} is not a pairwise label (A, B or tie)",
                    labels.display(),
                    label.item
                )));
            }
            (LabelValue::Missing, false) => {}
        }
    }
    let mut out = Vec::new();
    for key in order {
        let v = &votes[&key];
        let Some(item) = by_id.get(&key.0) else {
            report.missing_response += 1;
            continue;
        };
        let text = |m: &str| item.response(m).map(|c| c.last().to_string());
        let ctx = context(&item.instruction, item.input.as_deref());
        let example = if key.2.is_empty() {
            let Some(r) = text(&key.1) else {
                report.missing_response += 1;
                continue;
            };
            let target = if !v.numbers.is_empty() {
                Target::Number(v.numbers.iter().sum::<f64>() / v.numbers.len() as f64)
            } else {
                match majority(&v.categories) {
                    Some(c) => Target::Category(c),
                    None => {
                        report.no_majority += 1;
                        continue;
                    }
                }
            };
            Example {
                item: key.0.clone(),
                context: ctx,
                responses: Responses::Single(r),
                target,
            }
        } else {
            let (Some(a), Some(b)) = (text(&key.1), text(&key.2)) else {
                report.missing_response += 1;
                continue;
            };
            let Some(p) = majority(&v.prefs) else {
                report.no_majority += 1;
                continue;
            };
            Example {
                item: key.0.clone(),
                context: ctx,
                responses: Responses::Pair(a, b),
                target: Target::Pref(p),
            }
        };
        report.count(&example.target);
        out.push(example);
    }
    Ok((out, report))
}

/// The strict plurality, or `None` when the top count is shared.
fn majority<T: Clone + Eq + std::hash::Hash>(votes: &[T]) -> Option<T> {
    let mut counts: Vec<(T, usize)> = Vec::new();
    for v in votes {
        match counts.iter_mut().find(|(x, _)| x == v) {
            Some((_, c)) => *c += 1,
            None => counts.push((v.clone(), 1)),
        }
    }
    let top = counts.iter().map(|c| c.1).max()?;
    let mut winners = counts.into_iter().filter(|c| c.1 == top);
    let first = winners.next()?;
    winners.next().is_none().then_some(first.0)
}

/// Splits off a validation share by item (seeded), so that no item is in both parts.
pub fn split_validation(
    examples: Vec<Example>,
    fraction: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>) {
    let mut items: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    for e in &examples {
        if seen.insert(e.item.as_str()) {
            items.push(e.item.as_str());
        }
    }
    let mut rng = Rng::derive(seed, &[0x5e1]);
    let mut shuffled: Vec<usize> = (0..items.len()).collect();
    rng.shuffle(&mut shuffled);
    let n_val = ((items.len() as f64) * fraction).round() as usize;
    let val_items: HashSet<String> = shuffled[..n_val.min(items.len())]
        .iter()
        .map(|&i| items[i].to_string())
        .collect();
    examples
        .into_iter()
        .partition(|e| !val_items.contains(&e.item))
}

/// A digest of examples, so that a checkpoint is resumed only on the data it was trained on.
pub fn digest(examples: &[Example]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for e in examples {
        for s in [e.item.as_str(), e.context.as_str()] {
            h.update(s.len().to_le_bytes());
            h.update(s.as_bytes());
        }
        match &e.responses {
            Responses::Pair(a, b) => {
                h.update(b"P");
                for s in [a, b] {
                    h.update(s.len().to_le_bytes());
                    h.update(s.as_bytes());
                }
            }
            Responses::Single(r) => {
                h.update(b"S");
                h.update(r.len().to_le_bytes());
                h.update(r.as_bytes());
            }
        }
        let t = match &e.target {
            Target::Pref(p) => Value::from(p.as_str()),
            Target::Number(x) => Value::from(*x),
            Target::Category(c) => Value::from(format!("c:{c}")),
        };
        h.update(t.to_string().as_bytes());
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn flat_examples_are_read_and_duplicates_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "train.jsonl",
            concat!(
                r#"{"item": "q1", "instruction": "Say hi", "input": "politely", "response_a": "hi", "response_b": "yo", "label": "A"}"#,
                "\n",
                r#"{"item": "q1", "instruction": "Say hi", "input": "politely", "response_a": "yo", "response_b": "hi", "label": "B", "order": "BA"}"#,
                "\n",
                r#"{"item": "q2", "instruction": "Rate", "response_a": "ok", "label": 4}"#,
                "\n",
                r#"{"item": "q3", "instruction": "Rate", "response": "ok", "label": null}"#,
                "\n"
            ),
        );
        let (ex, report) = read_examples(&p).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].context, "Say hi\n\npolitely");
        assert_eq!(ex[0].target, Target::Pref(Pref::A));
        assert_eq!(ex[1].target, Target::Number(4.0));
        assert_eq!((report.duplicates, report.null_label), (1, 1));
    }

    #[test]
    fn bad_labels_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "train.jsonl",
            "{\"item\": \"q\", \"instruction\": \"x\", \"response_a\": \"a\", \"response_b\": \"b\", \"label\": \"C\"}\n",
        );
        let e = read_examples(&p).unwrap_err().to_string();
        assert!(
            e.contains("train.jsonl:1") && e.contains("`C` is not a pairwise label"),
            "{e}"
        );
        let p = write(
            dir.path(),
            "t2.jsonl",
            "{\"item\": \"q\", \"instruction\": \"x\", \"label\": \"A\"}\n",
        );
        let e = read_examples(&p).unwrap_err().to_string();
        assert!(e.contains("response_a"), "{e}");
    }

    #[test]
    fn labels_are_combined_by_majority_in_the_item_frame() {
        let dir = tempfile::tempdir().unwrap();
        let items = write(
            dir.path(),
            "items.jsonl",
            "{\"id\": \"q1\", \"instruction\": \"Q\", \"responses\": {\"x\": \"rx\", \"y\": \"ry\"}}\n",
        );
        let labels = write(
            dir.path(),
            "labels.jsonl",
            concat!(
                "{\"item\": \"q1\", \"annotator\": \"a\", \"model_a\": \"x\", \"model_b\": \"y\", \"label\": \"A\"}\n",
                // The same preference stated in the other order.
                "{\"item\": \"q1\", \"annotator\": \"b\", \"model_a\": \"y\", \"model_b\": \"x\", \"label\": \"B\"}\n",
                "{\"item\": \"q1\", \"annotator\": \"c\", \"model_a\": \"x\", \"model_b\": \"y\", \"label\": \"tie\"}\n",
                "{\"item\": \"q1\", \"annotator\": \"a\", \"model\": \"x\", \"label\": \"pass\"}\n",
                "{\"item\": \"q1\", \"annotator\": \"b\", \"model\": \"x\", \"label\": \"fail\"}\n",
                "{\"item\": \"q9\", \"annotator\": \"b\", \"model\": \"x\", \"label\": 3}\n",
            ),
        );
        let (ex, report) = from_items_and_labels(&items, &labels).unwrap();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].responses, Responses::Pair("rx".into(), "ry".into()));
        assert_eq!(ex[0].target, Target::Pref(Pref::A));
        assert_eq!((report.no_majority, report.missing_response), (1, 1));
    }

    #[test]
    fn validation_split_keeps_items_apart_and_is_seeded() {
        let ex: Vec<Example> = (0..100)
            .flat_map(|i| {
                (0..2).map(move |j| Example {
                    item: format!("q{i}"),
                    context: "c".into(),
                    responses: Responses::Single(format!("{j}")),
                    target: Target::Number(1.0),
                })
            })
            .collect();
        let (t, v) = split_validation(ex.clone(), 0.1, 7);
        assert_eq!(v.len(), 20);
        let ti: HashSet<_> = t.iter().map(|e| &e.item).collect();
        assert!(v.iter().all(|e| !ti.contains(&e.item)));
        let (_, v2) = split_validation(ex, 0.1, 7);
        assert_eq!(v, v2);
    }
}
